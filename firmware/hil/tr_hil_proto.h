/*
 * TinyRL hardware-in-the-loop wire protocol (docs/hil-protocol.md): COBS-stuffed frames ended by 0x00.
 *
 * A decoded frame is  type (u8) | seq (u8) | payload (0..30 bytes) | CRC-16/CCITT-FALSE (u16, little endian)
 * over type, seq and payload. Multi-byte payload fields are little endian. Static memory only: the caller owns
 * the decoder state and every buffer. Must match tinyrl/hil/protocol.py byte for byte.
 */
#ifndef TR_HIL_PROTO_H
#define TR_HIL_PROTO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TR_HIL_VERSION 1U
#define TR_HIL_MAX_PAYLOAD 30U
/** type + seq + payload + crc */
#define TR_HIL_MAX_RAW (TR_HIL_MAX_PAYLOAD + 4U)
/** COBS adds one byte per 254 (one here), plus the 0x00 delimiter. */
#define TR_HIL_MAX_ENCODED (TR_HIL_MAX_RAW + 2U)

/** Message types (docs/hil-protocol.md). */
typedef enum {
    TR_HIL_HELLO = 0x01,    /**< MCU->host: version, sizes, model hash, clock; host->MCU (empty): ask again */
    TR_HIL_OBS = 0x02,      /**< host->MCU: u16 stamp, int8 observation */
    TR_HIL_ACT = 0x03,      /**< MCU->host: u16 stamp, u32 inference ticks, int8 action */
    TR_HIL_PING = 0x04,     /**< host->MCU: any payload */
    TR_HIL_PONG = 0x05,     /**< MCU->host: the PING payload echoed */
    TR_HIL_RESET = 0x06,    /**< host->MCU: system reset (the MCU answers with HELLO after boot) */
    TR_HIL_STATS = 0x07,    /**< host->MCU (empty): request; MCU->host: six u32 counters */
    TR_HIL_FAILSAFE = 0x08, /**< MCU->host, unsolicited: u8 mode, u16 last stamp, u32 ticks since OBS, action */
} tr_hil_type;

/** Decoder results. */
typedef enum {
    TR_HIL_NONE = 0,           /**< byte consumed, no frame ended */
    TR_HIL_FRAME = 1,          /**< a valid frame is in *out */
    TR_HIL_ERR_CRC = -1,       /**< well-formed COBS, CRC mismatch */
    TR_HIL_ERR_FRAMING = -2,   /**< bad COBS, too short, or too long */
} tr_hil_result;

/** One decoded frame. */
typedef struct {
    uint8_t type;
    uint8_t seq;
    uint8_t len; /**< payload bytes, 0..TR_HIL_MAX_PAYLOAD */
    uint8_t payload[TR_HIL_MAX_PAYLOAD];
} tr_hil_frame;

/** Streaming decoder state: zero it (or call tr_hil_decoder_init) before use. */
typedef struct {
    uint8_t buf[TR_HIL_MAX_ENCODED];
    uint32_t len;
    uint32_t overflow; /**< nonzero while discarding an over-long frame until the next delimiter */
} tr_hil_decoder;

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor); check value 0x29B1 for "123456789". */
uint16_t tr_hil_crc16(const uint8_t *data, uint32_t len);

/** COBS-encode ``len`` bytes (len <= 254) into ``out`` (len + 1 bytes, no delimiter); returns the encoded length. */
uint32_t tr_hil_cobs_encode(const uint8_t *in, uint32_t len, uint8_t *out);

/**
 * COBS-decode ``len`` bytes (no delimiter) into ``out`` (capacity ``cap``).
 * @return decoded length, or -1 on malformed input (a zero byte, a code past the end, or overflow).
 */
int32_t tr_hil_cobs_decode(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap);

/**
 * Build a complete wire frame: COBS(type, seq, payload, crc) followed by 0x00.
 * @param[out] out  at least TR_HIL_MAX_ENCODED bytes
 * @return bytes written, or 0 if ``len`` > TR_HIL_MAX_PAYLOAD
 */
uint32_t tr_hil_encode(uint8_t type, uint8_t seq, const uint8_t *payload, uint32_t len, uint8_t *out);

/** Reset a decoder (drop any partial frame). */
void tr_hil_decoder_init(tr_hil_decoder *dec);

/**
 * Feed one received byte. On 0x00 the buffered bytes are decoded; an empty frame (two delimiters) is ignored.
 * @return TR_HIL_FRAME with *out filled, TR_HIL_NONE, or a negative tr_hil_result for a rejected frame
 */
tr_hil_result tr_hil_decoder_push(tr_hil_decoder *dec, uint8_t byte, tr_hil_frame *out);

/** Little-endian field helpers. */
static inline void tr_hil_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFU);
    p[1] = (uint8_t)(v >> 8);
}

static inline void tr_hil_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFU);
    p[1] = (uint8_t)((v >> 8) & 0xFFU);
    p[2] = (uint8_t)((v >> 16) & 0xFFU);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint16_t tr_hil_get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

static inline uint32_t tr_hil_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#ifdef __cplusplus
}
#endif

#endif /* TR_HIL_PROTO_H */
