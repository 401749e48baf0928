/*
 * TinyRL policy app: the exported policy behind a minimal serial protocol, for hardware-in-the-loop.
 *
 * After start-up it prints one banner line ("tinyrl ready in=N out=M instructions_per_inference=K") and
 * then, forever: read TINYRL_POLICY_INPUT_SIZE raw int8 bytes, run the policy, write
 * TINYRL_POLICY_OUTPUT_SIZE raw int8 bytes. The host must wait for the banner before sending (bytes that
 * arrive before the USART is enabled are dropped). Framing is deliberately minimal; tinyrl/hil owns the
 * real protocol.
 */
#include <stdint.h>

#include "tinyrl_policy.h"
#include "tr_board.h"
#include "tr_print.h"

#define TR_TIMING_REPEATS 64U

int main(void)
{
    static int8_t input[TINYRL_POLICY_INPUT_SIZE];
    static int8_t output[TINYRL_POLICY_OUTPUT_SIZE];

    tr_board_init();
    if (tinyrl_policy_init() != 0) {
        tr_board_puts("tinyrl error: policy rejected by tinyrl_policy_init\r\n");
        return 1;
    }

    /* Instruction count on a zero observation (the MLP's cost does not depend on the values). */
    const uint64_t t0 = tr_board_ticks();
    for (uint32_t r = 0; r < TR_TIMING_REPEATS; ++r) {
        (void)tinyrl_policy_run_int8(input, output);
    }
    const uint64_t ticks = tr_board_ticks() - t0;
    const uint32_t per_minstr = tr_board_ticks_per_minstr();

    tr_board_puts("tinyrl ready ");
    tr_print_kv("in", TINYRL_POLICY_INPUT_SIZE);
    tr_print_kv("out", TINYRL_POLICY_OUTPUT_SIZE);
    tr_board_puts("instructions_per_inference=");
    if (per_minstr != 0U) {
        tr_print_u64(ticks * 1000000ULL / ((uint64_t)per_minstr * TR_TIMING_REPEATS));
    } else {
        tr_board_puts("n/a");
    }
    tr_board_puts("\r\n");

    for (;;) {
        for (int32_t i = 0; i < TINYRL_POLICY_INPUT_SIZE;) {
            const int32_t c = tr_board_getc();
            if (c >= 0) { /* else: poll again; the UART IRQ fills the ring buffer */
                input[i++] = (int8_t)(uint8_t)c;
            }
        }
        (void)tinyrl_policy_run_int8(input, output);
        tr_board_write((const uint8_t *)output, TINYRL_POLICY_OUTPUT_SIZE);
    }
}
