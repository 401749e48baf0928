/*
 * TinyRL hardware-in-the-loop wire protocol, version 2 (docs/hil-protocol.md): COBS-stuffed frames between 0x00s.
 *
 * A decoded frame is  len (u8) | type (u8) | seq (u8) | payload (len bytes, 0..30) | CRC-32C (u32, little endian)
 * with the CRC over len, type, seq and payload; on the wire it is  0x00 | COBS(frame) | 0x00. The decoder accepts a
 * frame only if its COBS is well formed, its decoded size is exactly len + 7, its type is known and allows a
 * payload of len bytes, and its CRC-32C matches. Multi-byte payload fields are little endian. Static memory only:
 * the caller owns the decoder state and every buffer. Must match tinyrl/hil/protocol.py byte for byte.
 */
#ifndef TR_HIL_PROTO_H
#define TR_HIL_PROTO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TR_HIL_VERSION 2U
#define TR_HIL_MAX_PAYLOAD 30U
/** len + type + seq + CRC-32C around the payload */
#define TR_HIL_OVERHEAD 7U
#define TR_HIL_MAX_RAW (TR_HIL_MAX_PAYLOAD + TR_HIL_OVERHEAD)
/** COBS adds one byte per 254 (one here). */
#define TR_HIL_MAX_COBS (TR_HIL_MAX_RAW + 1U)
/** A whole wire frame: the leading and the trailing 0x00 around the COBS bytes. */
#define TR_HIL_MAX_ENCODED (TR_HIL_MAX_COBS + 2U)

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
    TR_HIL_OBS_PART = 0x09, /**< host->MCU: u16 stamp, u8 offset, int8 slice of an observation an OBS completes */
} tr_hil_type;

/** Message types are 1..TR_HIL_TYPES. */
#define TR_HIL_TYPES 9U
/** The longest observation: HELLO reports its size in a u8. */
#define TR_HIL_MAX_OBS 255U

/** Decoder results. */
typedef enum {
    TR_HIL_NONE = 0,         /**< byte consumed, no frame ended */
    TR_HIL_FRAME = 1,        /**< a valid frame is in *out */
    TR_HIL_ERR_CRC = -1,     /**< well-formed frame (COBS, size, length field, type), CRC-32C mismatch */
    TR_HIL_ERR_FRAMING = -2, /**< bad COBS, too short or too long, length field or payload size wrong, unknown type */
    TR_HIL_LEGACY_HELLO = -3 /**< rejected, but a version-1 host's HELLO request: *out has its type and seq */
} tr_hil_result;

/** One decoded frame. */
typedef struct {
    uint8_t type;
    uint8_t seq;
    uint8_t len; /**< payload bytes, 0..TR_HIL_MAX_PAYLOAD */
    uint8_t payload[TR_HIL_MAX_PAYLOAD];
} tr_hil_frame;

/** Streaming decoder state: call tr_hil_decoder_init before use. */
typedef struct {
    uint8_t buf[TR_HIL_MAX_COBS];
    uint32_t len;
    uint32_t overflow; /**< nonzero while discarding an over-long frame until the next delimiter */
} tr_hil_decoder;

/** CRC-32C (Castagnoli: reflected poly 0x82F63B78, init and final xor 0xFFFFFFFF); 0xE3069283 for "123456789". */
uint32_t tr_hil_crc32c(const uint8_t *data, uint32_t len);

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); 0x29B1 for "123456789". Only for version-1 frames. */
uint16_t tr_hil_crc16(const uint8_t *data, uint32_t len);

/** 1 if a frame of ``type`` may carry ``len`` payload bytes (docs/hil-protocol.md, "Messages"), else 0. */
uint32_t tr_hil_payload_size_ok(uint8_t type, uint32_t len);

/** COBS-encode ``len`` bytes (len <= 254) into ``out`` (len + 1 bytes, no delimiter); returns the encoded length. */
uint32_t tr_hil_cobs_encode(const uint8_t *in, uint32_t len, uint8_t *out);

/**
 * COBS-decode ``len`` bytes (no delimiter) into ``out`` (capacity ``cap``).
 * @return decoded length, or -1 on malformed input (a zero byte, a code past the end, or overflow).
 */
int32_t tr_hil_cobs_decode(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap);

/**
 * Build a complete wire frame: 0x00 | COBS(len, type, seq, payload, CRC-32C) | 0x00.
 * @param[out] out  at least TR_HIL_MAX_ENCODED bytes
 * @return bytes written, or 0 if ``type`` may not carry ``len`` payload bytes (tr_hil_payload_size_ok)
 */
uint32_t tr_hil_encode(uint8_t type, uint8_t seq, const uint8_t *payload, uint32_t len, uint8_t *out);

/**
 * Build a version-1 wire frame: COBS(type, seq, payload, CRC-16) | 0x00. The device sends only one: its HELLO
 * answering a version-1 host's HELLO request, so that host reads this device's version and stops with a clear error.
 * @param[out] out  at least TR_HIL_MAX_ENCODED bytes
 * @return bytes written, or 0 if ``len`` > TR_HIL_MAX_PAYLOAD
 */
uint32_t tr_hil_encode_v1(uint8_t type, uint8_t seq, const uint8_t *payload, uint32_t len, uint8_t *out);

/**
 * An observation longer than an OBS carries (28 bytes after its stamp) arrives as OBS_PART frames (27 bytes each
 * after stamp and offset, offsets 0, 27, 54, ... in order, all with the OBS's stamp) and a closing OBS with the rest;
 * a shorter one as one OBS. The caller owns ``obs``.
 */
typedef struct {
    int8_t *obs;   /**< ``size`` bytes */
    uint32_t size; /**< the policy's observation size, 1..TR_HIL_MAX_OBS */
    uint32_t have; /**< bytes of the pending observation received so far, contiguous from offset 0 */
    uint32_t open; /**< 1 while an observation stamped ``stamp`` is pending */
    uint16_t stamp;
} tr_hil_obs_buf;

/** Start with nothing pending. */
void tr_hil_obs_init(tr_hil_obs_buf *b, int8_t *obs, uint32_t size);

/**
 * Take an OBS_PART payload (u16 stamp, u8 offset, int8 bytes). Offset 0 starts a new observation; any other must
 * continue the pending one (same stamp, offset = bytes so far), and a part must leave at least one byte for the OBS.
 * @return 1 if taken, 0 if not (the pending observation is dropped)
 */
uint32_t tr_hil_obs_part(tr_hil_obs_buf *b, const uint8_t *payload, uint32_t len);

/**
 * Take an OBS payload (u16 stamp, int8 bytes): the whole observation, or the rest of the pending one of its stamp
 * (whose parts stay, so that a duplicated OBS completes it again).
 * @param[out] stamp  the observation's stamp, when complete
 * @return 1 if ``obs`` now holds a complete observation, 0 if the payload was rejected
 */
uint32_t tr_hil_obs_last(tr_hil_obs_buf *b, const uint8_t *payload, uint32_t len, uint16_t *stamp);

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
