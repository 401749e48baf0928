/*
 * TinyRL HIL wire protocol: CRC-32C, COBS, frame encoder, streaming decoder and observation reassembly
 * (see tr_hil_proto.h).
 */
#include "tr_hil_proto.h"

/** CRC-32C of one nibble through the reflected register: (crc >> 4) ^ table[(crc ^ nibble) & 0xF]. */
static const uint32_t tr_hil_crc32c_nibble[16] = {
    0x00000000U, 0x105EC76FU, 0x20BD8EDEU, 0x30E349B1U,
    0x417B1DBCU, 0x5125DAD3U, 0x61C69362U, 0x7198540DU,
    0x82F63B78U, 0x92A8FC17U, 0xA24BB5A6U, 0xB21572C9U,
    0xC38D26C4U, 0xD3D3E1ABU, 0xE330A81AU, 0xF36E6F75U,
};

/* Payload sizes each type allows, bit k set = k bytes allowed (k <= TR_HIL_MAX_PAYLOAD = 30). */
#define TR_HIL_SIZE(k) (1UL << (k))
#define TR_HIL_SIZES_FROM(k) (0x7FFFFFFFUL & ~(TR_HIL_SIZE(k) - 1UL))

static const uint32_t tr_hil_sizes[TR_HIL_TYPES + 1U] = {
    0UL,                                      /* 0x00: no such type */
    TR_HIL_SIZE(0) | TR_HIL_SIZE(18),         /* HELLO: request (empty) or banner */
    TR_HIL_SIZES_FROM(3),                     /* OBS: stamp + at least one int8 */
    TR_HIL_SIZES_FROM(7),                     /* ACT: stamp + ticks + at least one int8 */
    TR_HIL_SIZES_FROM(0),                     /* PING: anything */
    TR_HIL_SIZES_FROM(0),                     /* PONG: the PING payload */
    TR_HIL_SIZE(0),                           /* RESET */
    TR_HIL_SIZE(0) | TR_HIL_SIZE(24),         /* STATS: request (empty) or six u32 counters */
    TR_HIL_SIZES_FROM(8),                     /* FAILSAFE: mode + stamp + ticks + at least one int8 */
    TR_HIL_SIZES_FROM(4),                     /* OBS_PART: stamp + offset + at least one int8 */
};

uint32_t tr_hil_crc32c(const uint8_t *data, uint32_t len)
{
    uint32_t crc = 0xFFFFFFFFU;
    for (uint32_t i = 0; i < len; ++i) {
        crc = (crc >> 4) ^ tr_hil_crc32c_nibble[(crc ^ data[i]) & 0xFU];
        crc = (crc >> 4) ^ tr_hil_crc32c_nibble[(crc ^ ((uint32_t)data[i] >> 4)) & 0xFU];
    }
    return crc ^ 0xFFFFFFFFU;
}

uint16_t tr_hil_crc16(const uint8_t *data, uint32_t len)
{
    uint16_t crc = 0xFFFFU;
    for (uint32_t i = 0; i < len; ++i) {
        crc = (uint16_t)(crc ^ (uint16_t)((uint16_t)data[i] << 8));
        for (uint32_t b = 0; b < 8U; ++b) {
            crc = (crc & 0x8000U) != 0U ? (uint16_t)((uint16_t)(crc << 1) ^ 0x1021U) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

uint32_t tr_hil_payload_size_ok(uint8_t type, uint32_t len)
{
    if (type >= sizeof(tr_hil_sizes) / sizeof(tr_hil_sizes[0]) || len > TR_HIL_MAX_PAYLOAD) {
        return 0U;
    }
    return (uint32_t)((tr_hil_sizes[type] >> len) & 1UL);
}

uint32_t tr_hil_cobs_encode(const uint8_t *in, uint32_t len, uint8_t *out)
{
    uint32_t code_at = 0;
    uint32_t o = 1;
    uint8_t code = 1;
    for (uint32_t i = 0; i < len; ++i) {
        if (in[i] == 0U) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            ++code;
            if (code == 0xFFU) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return o;
}

int32_t tr_hil_cobs_decode(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap)
{
    uint32_t i = 0;
    uint32_t o = 0;
    while (i < len) {
        const uint8_t code = in[i++];
        if (code == 0U) {
            return -1;
        }
        for (uint32_t k = 1; k < code; ++k) {
            if (i >= len || in[i] == 0U || o >= cap) {
                return -1;
            }
            out[o++] = in[i++];
        }
        if (code != 0xFFU && i < len) {
            if (o >= cap) {
                return -1;
            }
            out[o++] = 0U;
        }
    }
    return (int32_t)o;
}

uint32_t tr_hil_encode(uint8_t type, uint8_t seq, const uint8_t *payload, uint32_t len, uint8_t *out)
{
    uint8_t raw[TR_HIL_MAX_RAW];
    if (tr_hil_payload_size_ok(type, len) == 0U) {
        return 0;
    }
    raw[0] = (uint8_t)len;
    raw[1] = type;
    raw[2] = seq;
    for (uint32_t i = 0; i < len; ++i) {
        raw[3U + i] = payload[i];
    }
    tr_hil_put_u32(&raw[3U + len], tr_hil_crc32c(raw, 3U + len));
    out[0] = 0U;
    const uint32_t n = tr_hil_cobs_encode(raw, len + TR_HIL_OVERHEAD, &out[1]);
    out[1U + n] = 0U;
    return n + 2U;
}

uint32_t tr_hil_encode_v1(uint8_t type, uint8_t seq, const uint8_t *payload, uint32_t len, uint8_t *out)
{
    uint8_t raw[TR_HIL_MAX_PAYLOAD + 4U];
    if (len > TR_HIL_MAX_PAYLOAD) {
        return 0;
    }
    raw[0] = type;
    raw[1] = seq;
    for (uint32_t i = 0; i < len; ++i) {
        raw[2U + i] = payload[i];
    }
    tr_hil_put_u16(&raw[2U + len], tr_hil_crc16(raw, 2U + len));
    const uint32_t n = tr_hil_cobs_encode(raw, len + 4U, out);
    out[n] = 0U;
    return n + 1U;
}

void tr_hil_decoder_init(tr_hil_decoder *dec)
{
    dec->len = 0;
    dec->overflow = 0;
}

/** A version-1 HELLO request: type 0x01, seq, no payload, CRC-16 (4 decoded bytes). */
static uint32_t tr_hil_is_legacy_hello(const uint8_t *raw, int32_t m)
{
    return (uint32_t)(m == 4 && raw[0] == (uint8_t)TR_HIL_HELLO && tr_hil_crc16(raw, 2U) == tr_hil_get_u16(&raw[2]));
}

static tr_hil_result tr_hil_decode_body(const uint8_t *body, uint32_t n, tr_hil_frame *out)
{
    uint8_t raw[TR_HIL_MAX_RAW];
    const int32_t m = tr_hil_cobs_decode(body, n, raw, TR_HIL_MAX_RAW);
    if (m < (int32_t)TR_HIL_OVERHEAD) {
        if (tr_hil_is_legacy_hello(raw, m) != 0U) {
            out->type = raw[0];
            out->seq = raw[1];
            out->len = 0;
            return TR_HIL_LEGACY_HELLO;
        }
        return TR_HIL_ERR_FRAMING;
    }
    /* The length field must account for every decoded byte: a cut, merged or reshaped frame fails here. */
    const uint32_t plen = raw[0];
    if (plen + TR_HIL_OVERHEAD != (uint32_t)m || tr_hil_payload_size_ok(raw[1], plen) == 0U) {
        return TR_HIL_ERR_FRAMING;
    }
    if (tr_hil_crc32c(raw, 3U + plen) != tr_hil_get_u32(&raw[3U + plen])) {
        return TR_HIL_ERR_CRC;
    }
    out->type = raw[1];
    out->seq = raw[2];
    out->len = (uint8_t)plen;
    for (uint32_t i = 0; i < plen; ++i) {
        out->payload[i] = raw[3U + i];
    }
    return TR_HIL_FRAME;
}

tr_hil_result tr_hil_decoder_push(tr_hil_decoder *dec, uint8_t byte, tr_hil_frame *out)
{
    if (byte != 0U) {
        if (dec->len < TR_HIL_MAX_COBS) {
            dec->buf[dec->len++] = byte;
        } else {
            dec->overflow = 1U;
        }
        return TR_HIL_NONE;
    }
    const uint32_t n = dec->len;
    const uint32_t overflow = dec->overflow;
    tr_hil_decoder_init(dec);
    if (overflow != 0U) {
        return TR_HIL_ERR_FRAMING;
    }
    if (n == 0U) {
        return TR_HIL_NONE; /* back-to-back delimiters: a frame's leading 0x00 after the previous one's trailing */
    }
    return tr_hil_decode_body(dec->buf, n, out);
}

/** Copy ``n`` received observation bytes to ``offset`` (the callers have checked offset + n <= size). */
static void tr_hil_obs_put(tr_hil_obs_buf *b, uint32_t offset, const uint8_t *bytes, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        b->obs[offset + i] = (int8_t)bytes[i];
    }
}

void tr_hil_obs_init(tr_hil_obs_buf *b, int8_t *obs, uint32_t size)
{
    b->obs = obs;
    b->size = size;
    b->have = 0U;
    b->open = 0U;
    b->stamp = 0U;
}

uint32_t tr_hil_obs_part(tr_hil_obs_buf *b, const uint8_t *payload, uint32_t len)
{
    if (len < 4U) {
        b->open = 0U;
        return 0U;
    }
    const uint16_t stamp = tr_hil_get_u16(payload);
    const uint32_t offset = payload[2];
    const uint32_t n = len - 3U;
    const uint32_t continues = b->open != 0U && stamp == b->stamp && offset == b->have;
    /* A part ends before the observation does: the closing OBS always carries its last bytes. */
    if ((offset != 0U && continues == 0U) || offset + n >= b->size) {
        b->open = 0U;
        return 0U;
    }
    tr_hil_obs_put(b, offset, &payload[3], n);
    b->stamp = stamp;
    b->have = offset + n;
    b->open = 1U;
    return 1U;
}

uint32_t tr_hil_obs_last(tr_hil_obs_buf *b, const uint8_t *payload, uint32_t len, uint16_t *stamp)
{
    if (len < 3U) {
        b->open = 0U;
        return 0U;
    }
    const uint16_t s = tr_hil_get_u16(payload);
    const uint32_t n = len - 2U;
    uint32_t offset;
    if (n == b->size) {
        offset = 0U;
        b->open = 0U;
    } else if (b->open != 0U && s == b->stamp && b->have + n == b->size) {
        /* The parts stay: a duplicated OBS is answered again, as a duplicated whole OBS is. */
        offset = b->have;
    } else {
        b->open = 0U;
        return 0U;
    }
    tr_hil_obs_put(b, offset, &payload[2], n);
    *stamp = s;
    return 1U;
}
