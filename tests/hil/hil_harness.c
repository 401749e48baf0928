/*
 * Host harness for firmware/hil/tr_hil_proto.c, driven by tests/hil/test_protocol.py and scripts/fuzz_hil.py.
 *
 *   hil_harness decode          stdin bytes -> one line per decoder result: "F type seq hex", "C" (crc), "X" (framing)
 *   hil_harness encode          stdin lines "type seq hex" -> stdout: the wire frames, concatenated
 *   hil_harness fuzz N SEED     N random frames, corrupted at random, through the decoder; checks every clean frame
 *                               round-trips; prints "frames=N ok=.. crc=.. framing=.. clean_bad=0"; exit 1 on a bad one
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_hil_proto.h"

static uint64_t rng_state;

static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static int run_decode(void)
{
    tr_hil_decoder dec;
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
        }
    }
    return 0;
}

static int run_encode(void)
{
    char line[256];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        unsigned type = 0;
        unsigned seq = 0;
        char hex[128] = "";
        if (sscanf(line, "%u %u %127s", &type, &seq, hex) < 2) {
            continue;
        }
        uint8_t payload[64];
        uint32_t len = 0;
        for (size_t i = 0; hex[i] != '\0' && hex[i + 1] != '\0' && len < sizeof(payload); i += 2) {
            unsigned v = 0;
            sscanf(&hex[i], "%2x", &v);
            payload[len++] = (uint8_t)v;
        }
        if (strcmp(hex, "-") == 0) {
            len = 0;
        }
        uint8_t out[TR_HIL_MAX_ENCODED];
        const uint32_t n = tr_hil_encode((uint8_t)type, (uint8_t)seq, payload, len, out);
        fwrite(out, 1, n, stdout);
    }
    return 0;
}

static int run_fuzz(uint32_t frames, uint64_t seed)
{
    tr_hil_decoder dec;
    tr_hil_frame frame;
    uint32_t ok = 0;
    uint32_t crc = 0;
    uint32_t framing = 0;
    uint32_t clean_bad = 0;
    rng_state = seed * 2654435761ULL + 88172645463325252ULL;
    tr_hil_decoder_init(&dec);
    for (uint32_t f = 0; f < frames; ++f) {
        uint8_t payload[TR_HIL_MAX_PAYLOAD];
        const uint32_t len = rng_next() % (TR_HIL_MAX_PAYLOAD + 1U);
        for (uint32_t i = 0; i < len; ++i) {
            payload[i] = (uint8_t)((rng_next() % 4U) == 0U ? 0U : rng_next());
        }
        const uint8_t type = (uint8_t)rng_next();
        const uint8_t seq = (uint8_t)rng_next();
        uint8_t wire[3 * TR_HIL_MAX_ENCODED];
        uint32_t n = tr_hil_encode(type, seq, payload, len, wire);
        const uint32_t how = rng_next() % 8U;
        if (how == 1U) { /* flip 1..3 bits */
            for (uint32_t k = 1U + rng_next() % 3U; k > 0U; --k) {
                wire[rng_next() % n] ^= (uint8_t)(1U << (rng_next() % 8U));
            }
        } else if (how == 2U) { /* truncate */
            n = rng_next() % n;
        } else if (how == 3U) { /* random garbage, maybe long */
            n = rng_next() % sizeof(wire);
            for (uint32_t i = 0; i < n; ++i) {
                wire[i] = (uint8_t)rng_next();
            }
        } else if (how == 4U) { /* drop a byte */
            const uint32_t at = rng_next() % n;
            memmove(&wire[at], &wire[at + 1U], n - at - 1U);
            n -= 1U;
        } else if (how == 5U && n < 2U * TR_HIL_MAX_ENCODED) { /* duplicate a byte */
            const uint32_t at = rng_next() % n;
            memmove(&wire[at + 1U], &wire[at], n - at);
            n += 1U;
        }
        uint32_t got = 0;
        for (uint32_t i = 0; i < n; ++i) {
            const tr_hil_result r = tr_hil_decoder_push(&dec, wire[i], &frame);
            if (r == TR_HIL_FRAME) {
                ok++;
                got++;
                if ((how == 0U || how >= 6U) && (frame.type != type || frame.seq != seq || frame.len != len ||
                                  memcmp(frame.payload, payload, len) != 0)) {
                    clean_bad++;
                }
            } else if (r == TR_HIL_ERR_CRC) {
                crc++;
            } else if (r == TR_HIL_ERR_FRAMING) {
                framing++;
            }
        }
        if ((how == 0U || how >= 6U) && got != 1U) {
            clean_bad++;
        }
        if (how != 0U && how < 6U) { /* resync, as the link does after a corrupted frame */
            (void)tr_hil_decoder_push(&dec, 0U, &frame);
        }
    }
    printf("frames=%u ok=%u crc=%u framing=%u clean_bad=%u\n", frames, ok, crc, framing, clean_bad);
    return clean_bad == 0U ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) {
        return run_decode();
    }
    if (argc >= 2 && strcmp(argv[1], "encode") == 0) {
        return run_encode();
    }
    if (argc >= 4 && strcmp(argv[1], "fuzz") == 0) {
        return run_fuzz((uint32_t)strtoul(argv[2], NULL, 10), (uint64_t)strtoull(argv[3], NULL, 10));
    }
    fprintf(stderr, "usage: hil_harness decode | encode | fuzz N SEED\n");
    return 2;
}
