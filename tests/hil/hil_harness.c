/*
 * Host harness for firmware/hil/tr_hil_proto.c, driven by tests/hil/test_protocol.py and scripts/fuzz_hil.py.
 *
 *   hil_harness decode            stdin bytes -> one line per decoder result: "F type seq hex", "C" (crc),
 *                                 "X" (framing), "L seq" (a version-1 HELLO request)
 *   hil_harness encode            stdin lines "type seq hex" -> stdout: the wire frames, concatenated; a frame the
 *                                 encoder refuses is named on stderr and makes the exit status 1
 *   hil_harness crc32c            stdin bytes -> the CRC-32C as 8 hex digits
 *   hil_harness sizes             for each type 0..255 one line: the payload sizes 0..255 the protocol allows, as
 *                                 "type:size,size,..."
 *   hil_harness obs SIZE          stdin lines "type hex" (OBS or OBS_PART payloads) -> one line per line through an
 *                                 observation of SIZE bytes: "P" (part taken), "A stamp hex" (observation complete),
 *                                 "R" (rejected)
 *   hil_harness fuzz CLASS N SEED N frames corrupted by one fault class (below), each followed by a good frame,
 *                                 through one decoder; prints "class=.. frames=N same=.. wrong=.. crc=.. framing=..
 *                                 resync=.. shaped=.."; exit 1 if a wrong frame was accepted or a good one lost
 *
 * Fault classes (tinyrl/hil/fuzz.py implements the same ones for the Python decoder):
 *   flip1..3   1, 2 or 3 distinct bits flipped anywhere in the wire frame, delimiters included
 *   truncate   the leading 0x00 and the first j of n COBS bytes (1 <= j < n): the tail and its 0x00 lost
 *   drop_head  the last n - j COBS bytes and the trailing 0x00 (1 <= j < n): the head and its 0x00 lost
 *   merged     two frames with the delimiters between them lost
 *   garbage    0x00 | COBS(random bytes) | 0x00: half random lengths 1..40, half well-formed frames (type, size,
 *              length field) with a random checksum ("shaped")
 *   oversize   half well-formed frames of 31..64 payload bytes (right length field and checksum), half runs of
 *              39..64 nonzero bytes
 *   length     a frame whose length field differs from its payload size, checksum computed over it
 *
 * "same": accepted and equal to the frame sent; "wrong": accepted and not equal to it (any accepted frame for
 * garbage, oversize and length, which send no valid frame); "resync": the good frame after the fault decoded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_hil_proto.h"

#define MAX_BIG_PAYLOAD 64U
#define MAX_BIG_WIRE (MAX_BIG_PAYLOAD + TR_HIL_OVERHEAD + 3U)
#define MAX_PIECE (2U * MAX_BIG_WIRE)

static uint64_t rng_state;

static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/** Uniform in [0, n) (n > 0; the modulo bias is below 2^-20 for the small n used here). */
static uint32_t rng_below(uint32_t n)
{
    return rng_next() % n;
}

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint32_t len;
    uint8_t payload[MAX_BIG_PAYLOAD];
} sent_frame;

static void random_payload(uint8_t *p, uint32_t len)
{
    for (uint32_t i = 0; i < len; ++i) {
        p[i] = (uint8_t)(rng_below(4U) == 0U ? 0U : rng_next());
    }
}

/** A random valid frame: a known type and a payload size it allows, a quarter of the bytes zero. */
static void random_frame(sent_frame *f)
{
    f->type = (uint8_t)(1U + rng_below(TR_HIL_TYPES));
    do {
        f->len = rng_below(TR_HIL_MAX_PAYLOAD + 1U);
    } while (tr_hil_payload_size_ok(f->type, f->len) == 0U);
    f->seq = (uint8_t)rng_next();
    random_payload(f->payload, f->len);
}

/** 0x00 | COBS(raw) | 0x00 (raw_len <= 253); returns the wire length. */
static uint32_t wrap(const uint8_t *raw, uint32_t raw_len, uint8_t *out)
{
    out[0] = 0U;
    const uint32_t n = tr_hil_cobs_encode(raw, raw_len, &out[1]);
    out[1U + n] = 0U;
    return n + 2U;
}

/** The wire bytes of ``f`` with ``len_field`` as its length field (the CRC-32C computed over it); any size. */
static uint32_t wire_frame(const sent_frame *f, uint8_t len_field, uint8_t *out)
{
    uint8_t raw[MAX_BIG_PAYLOAD + TR_HIL_OVERHEAD];
    raw[0] = len_field;
    raw[1] = f->type;
    raw[2] = f->seq;
    memcpy(&raw[3], f->payload, f->len);
    tr_hil_put_u32(&raw[3U + f->len], tr_hil_crc32c(raw, 3U + f->len));
    return wrap(raw, f->len + TR_HIL_OVERHEAD, out);
}

static uint32_t same_frame(const tr_hil_frame *got, const sent_frame *f)
{
    return (uint32_t)(got->type == f->type && got->seq == f->seq && got->len == f->len &&
                      memcmp(got->payload, f->payload, f->len) == 0);
}

/** Flip ``k`` distinct bits of ``w`` (n bytes). */
static void flip_bits(uint8_t *w, uint32_t n, uint32_t k)
{
    uint32_t at[3];
    for (uint32_t i = 0; i < k; ++i) {
        uint32_t fresh;
        do {
            at[i] = rng_below(8U * n);
            fresh = 1U;
            for (uint32_t j = 0; j < i; ++j) {
                fresh &= (uint32_t)(at[j] != at[i]);
            }
        } while (fresh == 0U);
        w[at[i] / 8U] ^= (uint8_t)(1U << (at[i] % 8U));
    }
}

typedef enum {
    F_FLIP1,
    F_FLIP2,
    F_FLIP3,
    F_TRUNCATE,
    F_DROP_HEAD,
    F_MERGED,
    F_GARBAGE,
    F_OVERSIZE,
    F_LENGTH,
    F_COUNT
} fault;

static const char *const fault_names[F_COUNT] = {"flip1",  "flip2",   "flip3",    "truncate", "drop_head",
                                                 "merged", "garbage", "oversize", "length"};

typedef struct {
    uint32_t same;
    uint32_t wrong;
    uint32_t crc;
    uint32_t framing;
    uint32_t resync;
    uint32_t shaped;
} fuzz_counts;

/**
 * Build the faulted bytes of one case into ``piece``; ``sent``/``also`` get the frames a correct sender meant
 * (``*valid`` 0 when none was: garbage, oversize, length). Returns the piece's length.
 */
static uint32_t make_piece(fault kind, uint8_t *piece, sent_frame *sent, sent_frame *also, uint32_t *valid,
                           uint32_t *shaped)
{
    uint8_t w[MAX_BIG_WIRE];
    *valid = 1U;
    *shaped = 0U;
    random_frame(sent);
    *also = *sent;
    const uint32_t wl = wire_frame(sent, (uint8_t)sent->len, w);
    const uint32_t n = wl - 2U; /* COBS bytes */
    switch (kind) {
    case F_FLIP1:
    case F_FLIP2:
    case F_FLIP3:
        memcpy(piece, w, wl);
        flip_bits(piece, wl, (uint32_t)(kind - F_FLIP1) + 1U);
        return wl;
    case F_TRUNCATE: {
        const uint32_t j = 1U + rng_below(n - 1U);
        memcpy(piece, w, 1U + j);
        return 1U + j;
    }
    case F_DROP_HEAD: {
        const uint32_t j = 1U + rng_below(n - 1U);
        memcpy(piece, &w[1U + j], wl - 1U - j);
        return wl - 1U - j;
    }
    case F_MERGED: {
        uint8_t w2[MAX_BIG_WIRE];
        random_frame(also);
        const uint32_t wl2 = wire_frame(also, (uint8_t)also->len, w2);
        memcpy(piece, w, wl - 1U);
        memcpy(&piece[wl - 1U], &w2[1], wl2 - 1U);
        return wl - 1U + wl2 - 1U;
    }
    case F_GARBAGE: {
        *valid = 0U;
        uint8_t raw[MAX_BIG_PAYLOAD + TR_HIL_OVERHEAD];
        if (rng_below(2U) == 0U) {
            const uint32_t len = 1U + rng_below(40U);
            random_payload(raw, len);
            return wrap(raw, len, piece);
        }
        *shaped = 1U;
        raw[0] = (uint8_t)sent->len;
        raw[1] = sent->type;
        raw[2] = sent->seq;
        memcpy(&raw[3], sent->payload, sent->len);
        tr_hil_put_u32(&raw[3U + sent->len], rng_next());
        return wrap(raw, sent->len + TR_HIL_OVERHEAD, piece);
    }
    case F_OVERSIZE:
        *valid = 0U;
        if (rng_below(2U) == 0U) {
            sent->len = TR_HIL_MAX_PAYLOAD + 1U + rng_below(MAX_BIG_PAYLOAD - TR_HIL_MAX_PAYLOAD);
            random_payload(sent->payload, sent->len);
            return wire_frame(sent, (uint8_t)sent->len, piece);
        } else {
            const uint32_t run = TR_HIL_MAX_ENCODED - 1U + rng_below(MAX_BIG_PAYLOAD - TR_HIL_MAX_ENCODED + 2U);
            piece[0] = 0U;
            for (uint32_t i = 1; i <= run; ++i) {
                piece[i] = (uint8_t)(1U + rng_below(255U));
            }
            piece[run + 1U] = 0U;
            return run + 2U;
        }
    case F_LENGTH: {
        *valid = 0U;
        uint8_t field;
        do {
            field = (uint8_t)rng_next();
        } while (field == sent->len);
        return wire_frame(sent, field, piece);
    }
    default:
        return 0U;
    }
}

static int run_fuzz(fault kind, uint32_t frames, uint64_t seed)
{
    static tr_hil_decoder dec;
    tr_hil_frame got;
    fuzz_counts c = {0U, 0U, 0U, 0U, 0U, 0U};
    rng_state = (seed + 1U) * 2654435761ULL + 88172645463325252ULL * ((uint64_t)kind + 1U);
    tr_hil_decoder_init(&dec);
    for (uint32_t f = 0; f < frames; ++f) {
        uint8_t piece[MAX_PIECE];
        uint8_t good_wire[TR_HIL_MAX_ENCODED];
        sent_frame sent;
        sent_frame also;
        sent_frame good;
        uint32_t valid;
        uint32_t shaped;
        const uint32_t n = make_piece(kind, piece, &sent, &also, &valid, &shaped);
        c.shaped += shaped;
        random_frame(&good);
        const uint32_t gl = tr_hil_encode(good.type, good.seq, good.payload, good.len, good_wire);
        if (n == 0U || gl == 0U) {
            fprintf(stderr, "fuzz: the generator made no frame\n");
            return 2;
        }
        for (uint32_t i = 0; i < n + gl; ++i) {
            const uint32_t last = (uint32_t)(i == n + gl - 1U);
            const tr_hil_result r = tr_hil_decoder_push(&dec, i < n ? piece[i] : good_wire[i - n], &got);
            if (r == TR_HIL_NONE) {
                continue;
            }
            if (last != 0U) { /* the good frame's own delimiter */
                c.resync += (uint32_t)(r == TR_HIL_FRAME && same_frame(&got, &good) != 0U);
            } else if (r == TR_HIL_FRAME) {
                const uint32_t ok = valid != 0U && (same_frame(&got, &sent) != 0U || same_frame(&got, &also) != 0U);
                c.same += ok;
                c.wrong += 1U - ok;
            } else if (r == TR_HIL_ERR_CRC) {
                c.crc++;
            } else {
                c.framing++;
            }
        }
    }
    printf("class=%s frames=%u same=%u wrong=%u crc=%u framing=%u resync=%u shaped=%u\n", fault_names[kind], frames,
           c.same, c.wrong, c.crc, c.framing, c.resync, c.shaped);
    return c.wrong == 0U && c.resync == frames ? 0 : 1;
}

static int run_decode(void)
{
    static tr_hil_decoder dec;
    tr_hil_frame frame;
    tr_hil_decoder_init(&dec);
    int c;
    while ((c = getchar()) != EOF) {
        const tr_hil_result r = tr_hil_decoder_push(&dec, (uint8_t)c, &frame);
        if (r == TR_HIL_FRAME) {
            printf("F %u %u ", frame.type, frame.seq);
            for (uint32_t i = 0; i < frame.len; ++i) {
                printf("%02x", frame.payload[i]);
            }
            printf("\n");
        } else if (r == TR_HIL_ERR_CRC) {
            printf("C\n");
        } else if (r == TR_HIL_ERR_FRAMING) {
            printf("X\n");
        } else if (r == TR_HIL_LEGACY_HELLO) {
            printf("L %u\n", frame.seq);
        }
    }
    return 0;
}

/** Bytes of a hex string (pairs of digits, up to ``cap`` bytes, stopping at the first non-hex pair). */
static uint32_t parse_hex(const char *hex, uint8_t *out, uint32_t cap)
{
    uint32_t len = 0;
    for (size_t i = 0; hex[i] != '\0' && hex[i + 1] != '\0' && len < cap; i += 2) {
        unsigned v = 0;
        if (sscanf(&hex[i], "%2x", &v) != 1) {
            break;
        }
        out[len++] = (uint8_t)v;
    }
    return len;
}

static int run_encode(void)
{
    char line[256];
    int status = 0;
    while (fgets(line, sizeof(line), stdin) != NULL) {
        unsigned type = 0;
        unsigned seq = 0;
        char hex[128] = "";
        if (sscanf(line, "%u %u %127s", &type, &seq, hex) < 2) {
            continue;
        }
        uint8_t payload[64];
        const uint32_t len = strcmp(hex, "-") == 0 ? 0U : parse_hex(hex, payload, sizeof(payload));
        uint8_t out[TR_HIL_MAX_ENCODED];
        const uint32_t n = tr_hil_encode((uint8_t)type, (uint8_t)seq, payload, len, out);
        if (n == 0U) {
            fprintf(stderr, "refused: type %u with %u payload bytes\n", type, len);
            status = 1;
        }
        fwrite(out, 1, n, stdout);
    }
    return status;
}

static int run_crc32c(void)
{
    static uint8_t data[1U << 16];
    const size_t n = fread(data, 1, sizeof(data), stdin);
    printf("%08x\n", tr_hil_crc32c(data, (uint32_t)n));
    return 0;
}

static int run_sizes(void)
{
    for (uint32_t t = 0; t < 256U; ++t) {
        printf("%u:", t);
        const char *sep = "";
        for (uint32_t len = 0; len < 256U; ++len) {
            if (tr_hil_payload_size_ok((uint8_t)t, len) != 0U) {
                printf("%s%u", sep, len);
                sep = ",";
            }
        }
        printf("\n");
    }
    return 0;
}

static int run_obs(uint32_t size)
{
    static int8_t obs[TR_HIL_MAX_OBS];
    if (size < 1U || size > TR_HIL_MAX_OBS) {
        fprintf(stderr, "an observation of 1..%u bytes\n", TR_HIL_MAX_OBS);
        return 2;
    }
    tr_hil_obs_buf b;
    tr_hil_obs_init(&b, obs, size);
    char line[256];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        unsigned type = 0;
        char hex[128] = "";
        if (sscanf(line, "%u %127s", &type, hex) < 2) {
            continue;
        }
        uint8_t payload[TR_HIL_MAX_PAYLOAD];
        const uint32_t len = parse_hex(hex, payload, sizeof(payload));
        uint16_t stamp = 0;
        if (type == TR_HIL_OBS_PART) {
            printf(tr_hil_obs_part(&b, payload, len) != 0U ? "P\n" : "R\n");
        } else if (tr_hil_obs_last(&b, payload, len, &stamp) != 0U) {
            printf("A %u ", stamp);
            for (uint32_t i = 0; i < size; ++i) {
                printf("%02x", (uint8_t)obs[i]);
            }
            printf("\n");
        } else {
            printf("R\n");
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) {
        return run_decode();
    }
    if (argc >= 2 && strcmp(argv[1], "encode") == 0) {
        return run_encode();
    }
    if (argc >= 2 && strcmp(argv[1], "crc32c") == 0) {
        return run_crc32c();
    }
    if (argc >= 2 && strcmp(argv[1], "sizes") == 0) {
        return run_sizes();
    }
    if (argc >= 3 && strcmp(argv[1], "obs") == 0) {
        return run_obs((uint32_t)strtoul(argv[2], NULL, 10));
    }
    if (argc >= 5 && strcmp(argv[1], "fuzz") == 0) {
        for (uint32_t k = 0; k < F_COUNT; ++k) {
            if (strcmp(argv[2], fault_names[k]) == 0) {
                return run_fuzz((fault)k, (uint32_t)strtoul(argv[3], NULL, 10),
                                (uint64_t)strtoull(argv[4], NULL, 10));
            }
        }
        fprintf(stderr, "unknown fault class '%s'\n", argv[2]);
        return 2;
    }
    fprintf(stderr, "usage: hil_harness decode | encode | crc32c | sizes | obs SIZE | fuzz CLASS N SEED\n");
    return 2;
}
