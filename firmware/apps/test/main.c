/*
 * TinyRL on-target test: run every vector of a generated test-vector header through the int8 runtime,
 * compare with the expected outputs (computed on the host), report mismatches and instructions per
 * inference on the console, and exit (QEMU: through semihosting) with 0 on pass, 1 on fail.
 *
 * The header (TR_TESTVEC_HEADER, default example_testvec.h) defines tv_layers, tv_inputs, tv_expected
 * and the TV_* sizes; tests/firmware/fw_model.py writes it.
 */
#include <stdint.h>

#include "tr_board.h"
#include "tr_nn.h"
#include "tr_nn_support.h"
#include "tr_print.h"

#ifndef TR_TESTVEC_HEADER
#define TR_TESTVEC_HEADER "example_testvec.h"
#endif
#include TR_TESTVEC_HEADER

#define TV_MAX_REPORTED 20     /* mismatch lines printed; the count covers all of them */
#define TV_TIMING_REPEATS 64U  /* timed together: a SysTick tick is <= 1 instruction per inference (0.1 at 168 MHz) */

/* uint32_t: the kernels need 4-byte aligned scratch. */
static uint32_t scratch[TV_SCRATCH_SIZE > 0 ? (TV_SCRATCH_SIZE + 3) / 4 : 1];

/* Instructions per inference x100 from a tick difference, or -1 if the board cannot tell. */
static int64_t tv_instructions_x100(uint64_t ticks, uint32_t repeats)
{
    const uint32_t per_minstr = tr_board_ticks_per_minstr();
    if (per_minstr == 0U) {
        return -1;
    }
    return (int64_t)((ticks * 100000000ULL + (uint64_t)per_minstr * repeats / 2U) / ((uint64_t)per_minstr * repeats));
}

static int32_t tv_time_inferences(const tr_nn_context *ctx)
{
    int8_t out[TV_OUTPUT_SIZE];
    const uint64_t t0 = tr_board_ticks();
    for (uint32_t r = 0; r < TV_TIMING_REPEATS; ++r) {
        const int8_t *in = &tv_inputs[(r % TV_NUM_VECTORS) * TV_INPUT_SIZE];
        (void)tr_mlp_s8(ctx, tv_layers, TV_NUM_LAYERS, in, out);
    }
    const uint64_t t1 = tr_board_ticks();
    const int64_t x100 = tv_instructions_x100(t1 - t0, TV_TIMING_REPEATS);
    tr_board_puts("instructions_per_inference=");
    if (x100 < 0) {
        tr_board_puts("n/a\r\n");
        return 0;
    }
    tr_print_u64((uint64_t)x100 / 100U);
    tr_board_puts(".");
    tr_print_u64((uint64_t)x100 / 10U % 10U);
    tr_print_u64((uint64_t)x100 % 10U);
    tr_board_puts(" ticks_per_minstr=");
    tr_print_u64(tr_board_ticks_per_minstr());
    tr_board_puts("\r\n");
    return 0;
}

int main(void)
{
    tr_board_init();
    tr_board_puts("tinyrl test: " TV_DESCRIPTION "\r\n");
    tr_print_kv("vectors", TV_NUM_VECTORS);
    tr_print_kv("layers", TV_NUM_LAYERS);
    tr_print_kv("in", TV_INPUT_SIZE);
    tr_print_kv("out", TV_OUTPUT_SIZE);
    tr_board_puts(TR_NN_USE_DSP ? "kernels=dsp\r\n" : "kernels=portable\r\n");

    if (tr_mlp_s8_prepare(tv_layers, TV_NUM_LAYERS) != TR_NN_SUCCESS) {
        tr_board_puts("RESULT FAIL: tr_mlp_s8_prepare rejected the model\r\n");
        return 1;
    }
    const tr_nn_context ctx = {scratch, (int32_t)sizeof(scratch)};
    if (tr_mlp_s8_get_buffer_size(tv_layers, TV_NUM_LAYERS) > ctx.size) {
        tr_board_puts("RESULT FAIL: TV_SCRATCH_SIZE too small\r\n");
        return 1;
    }

    int32_t mismatches = 0;
    for (int32_t v = 0; v < TV_NUM_VECTORS; ++v) {
        int8_t out[TV_OUTPUT_SIZE];
        const tr_nn_status status = tr_mlp_s8(&ctx, tv_layers, TV_NUM_LAYERS, &tv_inputs[v * TV_INPUT_SIZE], out);
        if (status != TR_NN_SUCCESS) {
            tr_print_kv("ERROR status", status);
            tr_board_puts("\r\n");
            return 1;
        }
        for (int32_t j = 0; j < TV_OUTPUT_SIZE; ++j) {
            const int32_t want = tv_expected[v * TV_OUTPUT_SIZE + j];
            if (out[j] != want) {
                if (mismatches < TV_MAX_REPORTED) {
                    tr_board_puts("MISMATCH ");
                    tr_print_kv("vector", v);
                    tr_print_kv("index", j);
                    tr_print_kv("got", out[j]);
                    tr_print_kv("want", want);
                    tr_board_puts("\r\n");
                }
                ++mismatches;
            }
        }
    }

    (void)tv_time_inferences(&ctx);
    tr_print_kv(mismatches == 0 ? "RESULT PASS mismatches" : "RESULT FAIL mismatches", mismatches);
    tr_board_puts("\r\n");
    return mismatches == 0 ? 0 : 1;
}
