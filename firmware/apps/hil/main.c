/*
 * TinyRL HIL app: the exported policy behind the framed HIL protocol (docs/hil-protocol.md).
 *
 * Boot: init the board (USART1 with interrupt-driven receive), send HELLO (the "ready banner": the host must not
 * send before it, bytes that arrive before the USART is enabled are dropped). Then poll forever, never blocking:
 * feed received bytes to the frame decoder; OBS (after the OBS_PART frames of an observation over 28 bytes) -> run
 * tinyrl_policy_run_int8 -> ACT with the SysTick ticks the inference took; PING -> PONG; STATS -> counters;
 * HELLO -> HELLO; RESET -> system reset. A version-1 host's HELLO request is answered in version-1 framing with this
 * firmware's version, so that host stops with a clear mismatch; no other rejected frame is answered.
 *
 * Watchdog (armed by the first OBS): no OBS for TR_HIL_WATCHDOG_MS of SysTick time -> failsafe "hover" (velocity
 * and yaw-rate outputs at the int8 value that dequantizes to 0, height output held at its last value), reported by
 * an unsolicited FAILSAFE frame and counted; TR_HIL_LAND_MS later -> "land" (height output at its minimum, -1).
 * The next OBS ends the failsafe. Under QEMU with -icount, SysTick time advances per executed instruction (1 ns
 * per instruction with shift=0), so the watchdog counts this polling loop's instructions, not wall-clock time.
 */
#include <stdint.h>

#include "tinyrl_policy.h"
#include "tr_board.h"
#include "tr_hil_proto.h"
#if defined(__arm__)
#include "stm32f405/uart.h"
#define TR_HIL_OVERRUNS() tr_uart_rx_overruns()
#else
#define TR_HIL_OVERRUNS() 0U
#endif

#ifndef TR_HIL_TICK_HZ
#define TR_HIL_TICK_HZ 168000000U /* SysTick on the core clock: 168 MHz on the Crazyflie and QEMU netduinoplus2 */
#endif
#ifndef TR_HIL_WATCHDOG_MS
#define TR_HIL_WATCHDOG_MS 100U
#endif
#ifndef TR_HIL_LAND_MS
#define TR_HIL_LAND_MS 2000U
#endif

#define TR_HIL_IN TINYRL_POLICY_INPUT_SIZE
#define TR_HIL_OUT TINYRL_POLICY_OUTPUT_SIZE

/* ACT carries 6 + OUT bytes, FAILSAFE 7 + OUT: each within TR_HIL_MAX_PAYLOAD (30). An observation over 28 bytes
 * arrives in OBS_PART frames; HELLO reports its size in a u8. */
#if TR_HIL_IN < 1 || TR_HIL_OUT < 1 || TR_HIL_IN > TR_HIL_MAX_OBS || TR_HIL_OUT + 7 > TR_HIL_MAX_PAYLOAD
#error "the policy's action does not fit a 30-byte HIL payload, or its observation is over 255 bytes"
#endif

enum { TR_HIL_MODE_IDLE = 0, TR_HIL_MODE_FLYING = 1, TR_HIL_MODE_HOVER = 2, TR_HIL_MODE_LAND = 3 };

typedef struct {
    uint32_t frames_ok;
    uint32_t crc_errors;
    uint32_t framing_errors;
    uint32_t watchdog_trips;
} tr_hil_counters;

static tr_hil_counters counters;
static uint8_t tx[TR_HIL_MAX_ENCODED];

static void tr_hil_send(uint8_t type, uint8_t seq, const uint8_t *payload, uint32_t len)
{
    const uint32_t n = tr_hil_encode(type, seq, payload, len, tx);
    if (n == 0U) {
        tr_board_exit(1); /* a payload size the protocol forbids for this type: a firmware bug, never sent */
    }
    tr_board_write(tx, n);
}

#ifdef TINYRL_POLICY_SHA256
static uint8_t tr_hil_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return (uint8_t)(c - '0');
    }
    if (c >= 'a' && c <= 'f') {
        return (uint8_t)(c - 'a' + 10);
    }
    return 0U;
}
#endif

static uint8_t hello_flags; /* bit 0: the policy failed tinyrl_policy_init */

/** The 18-byte HELLO payload. */
static void tr_hil_hello_payload(uint8_t p[18])
{
    p[0] = (uint8_t)TR_HIL_VERSION;
    p[1] = (uint8_t)TR_HIL_IN;
    p[2] = (uint8_t)TR_HIL_OUT;
    p[3] = hello_flags;
#ifdef TINYRL_POLICY_SHA256
    {
        static const char sha[] = TINYRL_POLICY_SHA256;
        for (uint32_t i = 0; i < 4U; ++i) {
            p[4U + i] = (uint8_t)((uint8_t)(tr_hil_hex(sha[2U * i]) << 4) | tr_hil_hex(sha[2U * i + 1U]));
        }
    }
#else
    p[4] = p[5] = p[6] = p[7] = 0U;
#endif
    tr_hil_put_u32(&p[8], TR_HIL_TICK_HZ);
    tr_hil_put_u32(&p[12], tr_board_ticks_per_minstr());
    tr_hil_put_u16(&p[16], (uint16_t)TR_HIL_WATCHDOG_MS);
}

static void tr_hil_send_hello(uint8_t seq)
{
    uint8_t p[18];
    tr_hil_hello_payload(p);
    tr_hil_send(TR_HIL_HELLO, seq, p, sizeof(p));
}

/** Answer a version-1 host in its own framing: it reads this device's version and stops with a clear error. */
static void tr_hil_send_legacy_hello(uint8_t seq)
{
    uint8_t p[18];
    tr_hil_hello_payload(p);
    const uint32_t n = tr_hil_encode_v1(TR_HIL_HELLO, seq, p, sizeof(p), tx);
    if (n == 0U) {
        tr_board_exit(1); /* 18 bytes always fit: a firmware bug */
    }
    tr_board_write(tx, n);
}

static void tr_hil_send_stats(uint8_t seq)
{
    uint8_t p[24];
    tr_hil_put_u32(&p[0], counters.frames_ok);
    tr_hil_put_u32(&p[4], counters.crc_errors);
    tr_hil_put_u32(&p[8], counters.framing_errors);
    tr_hil_put_u32(&p[12], TR_HIL_OVERRUNS());
    tr_hil_put_u32(&p[16], counters.watchdog_trips);
    tr_hil_put_u32(&p[20], (uint32_t)(tr_board_ticks() / (TR_HIL_TICK_HZ / 1000U)));
    tr_hil_send(TR_HIL_STATS, seq, p, sizeof(p));
}

/** Quantized real value on the policy's output grid (round half away from zero, clamped to int8). */
static int8_t tr_hil_quantize_output(float value)
{
    const float scaled = value / TINYRL_POLICY_OUTPUT_SCALE;
    const int32_t rounded = (int32_t)(scaled >= 0.0f ? scaled + 0.5f : scaled - 0.5f);
    int32_t q = rounded + TINYRL_POLICY_OUTPUT_ZERO_POINT;
    q = q < -128 ? -128 : (q > 127 ? 127 : q);
    return (int8_t)q;
}

static void tr_hil_system_reset(void)
{
#if defined(__arm__)
    *(volatile uint32_t *)0xE000ED0CU = (0x5FAUL << 16) | (1UL << 2); /* SCB->AIRCR: VECTKEY | SYSRESETREQ */
    for (;;) {
    }
#else
    tr_board_exit(0);
#endif
}

int main(void)
{
    static int8_t obs[TR_HIL_IN];
    static int8_t act[TR_HIL_OUT];
    static int8_t failsafe[TR_HIL_OUT];
    static tr_hil_decoder dec;
    static tr_hil_frame frame;
    static tr_hil_obs_buf obs_buf;

    tr_board_init();
    tr_hil_decoder_init(&dec);
    tr_hil_obs_init(&obs_buf, obs, TR_HIL_IN);
    if (tinyrl_policy_init() != 0) {
        hello_flags = 1U; /* report it and stop: the host refuses to fly */
        tr_hil_send_hello(0);
        tr_board_exit(1);
    }
    const uint64_t watchdog_ticks = (uint64_t)TR_HIL_WATCHDOG_MS * (TR_HIL_TICK_HZ / 1000U);
    const uint64_t land_ticks = watchdog_ticks + (uint64_t)TR_HIL_LAND_MS * (TR_HIL_TICK_HZ / 1000U);
    const int8_t zero = tr_hil_quantize_output(0.0f);
    for (uint32_t i = 0; i < TR_HIL_OUT; ++i) {
        act[i] = zero;
    }
    uint32_t mode = TR_HIL_MODE_IDLE;
    uint16_t last_stamp = 0;
    uint64_t last_obs = tr_board_ticks();

    tr_hil_send_hello(0); /* its leading 0x00 ends whatever the host's decoder held */

    for (;;) {
        const int32_t c = tr_board_getc();
        if (c < 0) {
            if (mode == TR_HIL_MODE_IDLE) {
                continue;
            }
            const uint64_t silent = tr_board_ticks() - last_obs;
            const uint32_t next = mode == TR_HIL_MODE_FLYING && silent >= watchdog_ticks ? TR_HIL_MODE_HOVER
                                  : mode == TR_HIL_MODE_HOVER && silent >= land_ticks    ? TR_HIL_MODE_LAND
                                                                                         : mode;
            if (next != mode) {
                mode = next;
                for (uint32_t i = 0; i < TR_HIL_OUT; ++i) {
                    failsafe[i] = zero;
                }
                if (TR_HIL_OUT == 4) { /* continuous (vx, vy, yaw rate, height): hold or lower the height */
                    failsafe[3] = mode == TR_HIL_MODE_HOVER ? act[3] : tr_hil_quantize_output(-1.0f);
                }
                if (mode == TR_HIL_MODE_HOVER) {
                    counters.watchdog_trips++;
                }
                uint8_t p[7 + TR_HIL_OUT];
                p[0] = (uint8_t)(mode == TR_HIL_MODE_HOVER ? 1U : 2U);
                tr_hil_put_u16(&p[1], last_stamp);
                tr_hil_put_u32(&p[3], (uint32_t)silent);
                for (uint32_t i = 0; i < TR_HIL_OUT; ++i) {
                    p[7U + i] = (uint8_t)failsafe[i];
                }
                tr_hil_send(TR_HIL_FAILSAFE, 0, p, sizeof(p));
            }
            continue;
        }
        const tr_hil_result r = tr_hil_decoder_push(&dec, (uint8_t)c, &frame);
        if (r == TR_HIL_ERR_CRC) {
            counters.crc_errors++;
            continue;
        }
        if (r == TR_HIL_ERR_FRAMING) {
            counters.framing_errors++;
            continue;
        }
        if (r == TR_HIL_LEGACY_HELLO) {
            counters.framing_errors++; /* not a version-2 frame: never acted on, only answered with the version */
            tr_hil_send_legacy_hello(frame.seq);
            continue;
        }
        if (r != TR_HIL_FRAME) {
            continue;
        }
        counters.frames_ok++;
        switch (frame.type) {
        case TR_HIL_OBS_PART:
            if (tr_hil_obs_part(&obs_buf, frame.payload, frame.len) == 0U) {
                counters.framing_errors++;
            }
            break;
        case TR_HIL_OBS: {
            uint16_t stamp;
            if (tr_hil_obs_last(&obs_buf, frame.payload, frame.len, &stamp) == 0U) {
                counters.framing_errors++;
                break;
            }
            last_stamp = stamp;
            const uint64_t t0 = tr_board_ticks();
            (void)tinyrl_policy_run_int8(obs, act);
            const uint64_t t1 = tr_board_ticks();
            uint8_t p[6 + TR_HIL_OUT];
            tr_hil_put_u16(&p[0], last_stamp);
            tr_hil_put_u32(&p[2], (uint32_t)(t1 - t0));
            for (uint32_t i = 0; i < TR_HIL_OUT; ++i) {
                p[6U + i] = (uint8_t)act[i];
            }
            tr_hil_send(TR_HIL_ACT, frame.seq, p, sizeof(p));
            last_obs = tr_board_ticks();
            mode = TR_HIL_MODE_FLYING;
            break;
        }
        case TR_HIL_PING:
            tr_hil_send(TR_HIL_PONG, frame.seq, frame.payload, frame.len);
            break;
        case TR_HIL_STATS:
            tr_hil_send_stats(frame.seq);
            break;
        case TR_HIL_HELLO:
            mode = TR_HIL_MODE_IDLE; /* a new session: disarm the watchdog until its first OBS */
            tr_hil_send_hello(frame.seq);
            break;
        case TR_HIL_RESET:
            tr_hil_system_reset();
            break;
        default:
            counters.framing_errors++; /* unknown type */
            break;
        }
    }
}
