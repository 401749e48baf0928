/*
 * TinyRL HIL wire protocol: CRC-16/CCITT-FALSE, COBS, frame encoder and streaming decoder (see tr_hil_proto.h).
 */
#include "tr_hil_proto.h"

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
    if (len > TR_HIL_MAX_PAYLOAD) {
        return 0;
    }
    raw[0] = type;
    raw[1] = seq;
    for (uint32_t i = 0; i < len; ++i) {
        raw[2U + i] = payload[i];
    }
    const uint16_t crc = tr_hil_crc16(raw, len + 2U);
    tr_hil_put_u16(&raw[len + 2U], crc);
    const uint32_t n = tr_hil_cobs_encode(raw, len + 4U, out);
    out[n] = 0U;
    return n + 1U;
}

void tr_hil_decoder_init(tr_hil_decoder *dec)
{
    dec->len = 0;
    dec->overflow = 0;
}

tr_hil_result tr_hil_decoder_push(tr_hil_decoder *dec, uint8_t byte, tr_hil_frame *out)
{
    if (byte != 0U) {
        if (dec->len < TR_HIL_MAX_ENCODED) {
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
        return TR_HIL_NONE; /* back-to-back delimiters: idle fill / resync */
    }
    uint8_t raw[TR_HIL_MAX_RAW];
    const int32_t m = tr_hil_cobs_decode(dec->buf, n, raw, TR_HIL_MAX_RAW);
    if (m < 4) {
        return TR_HIL_ERR_FRAMING;
    }
    const uint32_t plen = (uint32_t)m - 4U;
    if (tr_hil_crc16(raw, plen + 2U) != tr_hil_get_u16(&raw[plen + 2U])) {
        return TR_HIL_ERR_CRC;
    }
    out->type = raw[0];
    out->seq = raw[1];
    out->len = (uint8_t)plen;
    for (uint32_t i = 0; i < plen; ++i) {
        out->payload[i] = raw[2U + i];
    }
    return TR_HIL_FRAME;
}
