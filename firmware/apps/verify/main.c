/*
 * TinyRL policy verification: run a generated policy (tinyrl_policy.c, the exact code `tinyrl export` ships)
 * on host-computed vectors through both entry points, report mismatches and instructions per inference,
 * and exit (QEMU: through semihosting) with 0 on pass, 1 on fail.
 *
 * The vectors header (TR_VECTORS_HEADER) defines TPV_DESCRIPTION, TPV_NUM_VECTORS, tpv_inputs and tpv_expected
 * (int8 path), and TPV_NUM_FLOAT_VECTORS with tpv_obs and tpv_act (float path; may be 0). tinyrl.export and
 * tests/firmware/fw_model.py write it.
 */
#include <stdint.h>
#include <string.h>

#include "tinyrl_policy.h"
#include "tr_board.h"
#include "tr_print.h"

#ifndef TR_VECTORS_HEADER
#define TR_VECTORS_HEADER "example_policy_vectors.h"
#endif
#include TR_VECTORS_HEADER

#define TPV_MAX_REPORTED 20    /* mismatch lines printed; the count covers all of them */
#define TPV_TIMING_REPEATS 64U /* timed together: a SysTick tick is <= 1 instruction per inference (0.1 at 168 MHz) */

#if defined(__ARM_FEATURE_DSP) && !defined(TR_NN_PORTABLE)
#define TPV_KERNELS "dsp"
#else
#define TPV_KERNELS "portable"
#endif

static void tpv_mismatch(const char *what, int32_t vector, int32_t index)
{
    tr_board_puts("MISMATCH ");
    tr_board_puts(what);
    tr_board_puts(" ");
    tr_print_kv("vector", vector);
    tr_print_kv("index", index);
    tr_board_puts("\r\n");
}

/* Instructions per inference from a tick difference over TPV_TIMING_REPEATS calls (integer, rounded). */
static void tpv_print_instructions(const char *key, uint64_t ticks)
{
    const uint32_t per_minstr = tr_board_ticks_per_minstr();
    tr_board_puts(key);
    tr_board_puts("=");
    if (per_minstr == 0U) {
        tr_board_puts("n/a ");
        return;
    }
    const uint64_t den = (uint64_t)per_minstr * TPV_TIMING_REPEATS;
    tr_print_u64((ticks * 1000000ULL + den / 2U) / den);
    tr_board_puts(" ");
}

static int32_t tpv_check_int8(void)
{
    int32_t mismatches = 0;
    for (int32_t v = 0; v < TPV_NUM_VECTORS; ++v) {
        int8_t out[TINYRL_POLICY_OUTPUT_SIZE];
        if (tinyrl_policy_run_int8(&tpv_inputs[v * TINYRL_POLICY_INPUT_SIZE], out) != 0) {
            tr_board_puts("RESULT FAIL: tinyrl_policy_run_int8 returned an error\r\n");
            tr_board_exit(1);
        }
        for (int32_t j = 0; j < TINYRL_POLICY_OUTPUT_SIZE; ++j) {
            if (out[j] != tpv_expected[v * TINYRL_POLICY_OUTPUT_SIZE + j]) {
                if (mismatches < TPV_MAX_REPORTED) {
                    tpv_mismatch("int8", v, j);
                }
                ++mismatches;
            }
        }
    }
    return mismatches;
}

static int32_t tpv_check_float(void)
{
    int32_t mismatches = 0;
#if TPV_NUM_FLOAT_VECTORS > 0
    for (int32_t v = 0; v < TPV_NUM_FLOAT_VECTORS; ++v) {
        float act[TINYRL_POLICY_OUTPUT_SIZE];
        if (tinyrl_policy_run(&tpv_obs[v * TINYRL_POLICY_INPUT_SIZE], act) != 0) {
            tr_board_puts("RESULT FAIL: tinyrl_policy_run returned an error\r\n");
            tr_board_exit(1);
        }
        for (int32_t j = 0; j < TINYRL_POLICY_OUTPUT_SIZE; ++j) {
            /* Bit patterns, not ==: the host reference is exact, so even the sign of a zero must agree. */
            if (memcmp(&act[j], &tpv_act[v * TINYRL_POLICY_OUTPUT_SIZE + j], sizeof(float)) != 0) {
                if (mismatches < TPV_MAX_REPORTED) {
                    tpv_mismatch("float", v, j);
                }
                ++mismatches;
            }
        }
    }
#endif
    return mismatches;
}

int main(void)
{
    tr_board_init();
    tr_board_puts("tinyrl verify: " TPV_DESCRIPTION "\r\n");
    tr_print_kv("vectors", TPV_NUM_VECTORS);
    tr_print_kv("float_vectors", TPV_NUM_FLOAT_VECTORS);
    tr_print_kv("in", TINYRL_POLICY_INPUT_SIZE);
    tr_print_kv("out", TINYRL_POLICY_OUTPUT_SIZE);
    tr_board_puts("kernels=" TPV_KERNELS "\r\n");

    if (tinyrl_policy_init() != 0) {
        tr_board_puts("RESULT FAIL: tinyrl_policy_init rejected the model\r\n");
        return 1;
    }
    const int32_t mismatches = tpv_check_int8() + tpv_check_float();

    /* Timing: the MLP's cost does not depend on the values, so a few vectors in rotation are enough. */
    int8_t out[TINYRL_POLICY_OUTPUT_SIZE];
    uint64_t t0 = tr_board_ticks();
    for (uint32_t r = 0; r < TPV_TIMING_REPEATS; ++r) {
        (void)tinyrl_policy_run_int8(&tpv_inputs[(r % TPV_NUM_VECTORS) * TINYRL_POLICY_INPUT_SIZE], out);
    }
    tpv_print_instructions("instructions_per_inference", tr_board_ticks() - t0);
#if TPV_NUM_FLOAT_VECTORS > 0
    float act[TINYRL_POLICY_OUTPUT_SIZE];
    t0 = tr_board_ticks();
    for (uint32_t r = 0; r < TPV_TIMING_REPEATS; ++r) {
        (void)tinyrl_policy_run(&tpv_obs[(r % TPV_NUM_FLOAT_VECTORS) * TINYRL_POLICY_INPUT_SIZE], act);
    }
    tpv_print_instructions("instructions_per_float_inference", tr_board_ticks() - t0);
#endif
    tr_board_puts("\r\n");
    tr_print_kv(mismatches == 0 ? "RESULT PASS mismatches" : "RESULT FAIL mismatches", mismatches);
    tr_board_puts("\r\n");
    return mismatches == 0 ? 0 : 1;
}
