/*
 * TinyRL runtime unit tests: requantization edge cases worked by hand, argument validation, scratch handling,
 * table lookup and batching. Runs on the host and under QEMU (both kernel paths); exits 0 when all pass.
 */
#include <stdint.h>

#include "tr_board.h"
#include "tr_nn.h"
#include "tr_nn_support.h"
#include "tr_print.h"

static int32_t failures;

static void check(int32_t ok, const char *what, int32_t line)
{
    if (!ok) {
        tr_board_puts("FAIL ");
        tr_board_puts(what);
        tr_print_kv(" line", line);
        tr_board_puts("\r\n");
        ++failures;
    }
}

#define CHECK(cond) check((cond) ? 1 : 0, #cond, __LINE__)

static void test_requantize(void)
{
    const int32_t half = INT32_C(1) << 30; /* 0.5 in Q31 */
    /* SaturatingRoundingDoublingHighMul rounds ties up: 2.5 -> 3, -2.5 -> -2. */
    CHECK(tr_nn_requantize(5, half, 0) == 3);
    CHECK(tr_nn_requantize(-5, half, 0) == -2);
    CHECK(tr_nn_requantize(-7, half, 0) == -3);
    /* Then RoundingDivideByPOT: -6 -> -3 -> -1.5, a tie: away from zero (TFLM) or up (TFLite interpreter). */
    CHECK(tr_nn_requantize(-6, half, -1) == (TR_NN_TIES_AWAY ? -2 : -1));
    CHECK(tr_nn_requantize(5, half, -1) == 2);
    CHECK(tr_nn_requantize(-5, half, -1) == -1);
    /* Extremes of the shift range. */
    CHECK(tr_nn_requantize(1, half, 30) == (INT32_C(1) << 29));
    CHECK(tr_nn_requantize(INT32_MAX, INT32_MAX, -31) == 1);
    CHECK(tr_nn_requantize(INT32_MIN + 1, INT32_MAX, -31) == -1);
    CHECK(tr_nn_requantize(123456, 0, -5) == 0);
    /* The reference's saturating case (only reachable with a negative multiplier, which prepare rejects). */
    CHECK(tr_nn_doubling_high_mult(INT32_MIN, INT32_MIN) == INT32_MAX);
    CHECK(tr_nn_doubling_high_mult_nonneg(-5, half) == tr_nn_doubling_high_mult(-5, half));
}

/* The step-by-step reference (the portable path's definition), whichever path tr_nn_requantize takes. */
static int32_t reference_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return tr_nn_divide_by_power_of_two(tr_nn_doubling_high_mult((int32_t)((uint32_t)acc << left), multiplier), right);
}

static uint32_t lcg_state = 12345U;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525U + 1013904223U;
    return lcg_state ^ (lcg_state >> 16);
}

/*
 * The DSP path's requantization is an algebraic rewrite of the reference; compare them on random and on
 * constructed tie cases (acc * multiplier landing exactly halfway at either rounding step), in the documented
 * domain: multiplier >= 0, |acc| <= 2^30 + 2^27 (bias bound plus the largest accumulation prepare allows).
 */
static void test_requantize_matches_reference(void)
{
    int32_t bad = 0;
    for (int32_t i = 0; i < 100000; ++i) {
        const uint32_t r = lcg();
        const int32_t shift = (int32_t)(lcg() % 62U) - 31;
        int32_t multiplier = (int32_t)((lcg() >> 1) | 0x40000000U);
        int32_t acc = (int32_t)(r % ((1U << 30) + (1U << 27))) * ((r >> 31) ? -1 : 1);
        switch (i % 4) {
        case 1: /* small accumulators, where most real outputs are */
            acc = (int32_t)(lcg() % 200001U) - 100000;
            break;
        case 2: /* multiplier 0.5 and accumulators with few low bits set: ties at both rounding steps */
            multiplier = INT32_C(1) << 30;
            acc = ((int32_t)(lcg() % 4001U) - 2000) << (lcg() % 12U);
            break;
        case 3: /* multiplier 0 (TFLite's flush-to-zero) or the largest one */
            multiplier = (i & 4) ? 0 : INT32_MAX;
            break;
        default:
            break;
        }
        if (tr_nn_requantize(acc, multiplier, shift) != reference_requantize(acc, multiplier, shift)) {
            if (bad < 5) {
                tr_print_kv("MISMATCH acc", acc);
                tr_print_kv("multiplier", multiplier);
                tr_print_kv("shift", shift);
                tr_board_puts("\r\n");
            }
            ++bad;
        }
    }
    CHECK(bad == 0);
}

/* A 5 -> 3 layer with identity-ish weights, used by the validation and batching tests. */
static const int8_t fc_weights[3 * 5] = {1, 2, 3, 4, 5, -1, -2, -3, -4, -5, 127, -128, 0, 64, -64};
static const int32_t fc_bias[3] = {10, -10, 1000};
static const int32_t fc_mult[3] = {INT32_C(1) << 30, INT32_C(1) << 30, INT32_C(1) << 30};
static const int32_t fc_shift[3] = {-4, -4, -8};

static void test_fc_validation(void)
{
    tr_nn_fc_params p = {3, 0, -5, {-128, 127}};
    const tr_nn_per_channel_quant_params q = {fc_mult, fc_shift};
    const tr_nn_dims in = {1, 1, 1, 5};
    const tr_nn_dims filter = {5, 1, 1, 3};
    const tr_nn_dims out = {1, 1, 1, 3};
    CHECK(tr_fully_connected_s8_prepare(&p, &q, &in, &filter, &out) == TR_NN_SUCCESS);
    p.filter_offset = 1;
    CHECK(tr_fully_connected_s8_prepare(&p, &q, &in, &filter, &out) == TR_NN_ARG_ERROR);
    p.filter_offset = 0;
    p.input_offset = 129;
    CHECK(tr_fully_connected_s8_prepare(&p, &q, &in, &filter, &out) == TR_NN_ARG_ERROR);
    p.input_offset = 3;
    p.activation.min = 10;
    p.activation.max = 9;
    CHECK(tr_fully_connected_s8_prepare(&p, &q, &in, &filter, &out) == TR_NN_ARG_ERROR);
    p.activation.min = -128;
    p.activation.max = 127;
    const tr_nn_dims wrong = {1, 1, 1, 4};
    CHECK(tr_fully_connected_s8_prepare(&p, &q, &wrong, &filter, &out) == TR_NN_ARG_ERROR);
    const int32_t bad_shift[3] = {-4, 31, -4};
    const tr_nn_per_channel_quant_params q_shift = {fc_mult, bad_shift};
    CHECK(tr_fully_connected_s8_prepare(&p, &q_shift, &in, &filter, &out) == TR_NN_ARG_ERROR);
    const int32_t bad_mult[3] = {1, -1, 1};
    const tr_nn_per_channel_quant_params q_mult = {bad_mult, fc_shift};
    CHECK(tr_fully_connected_s8_prepare(&p, &q_mult, &in, &filter, &out) == TR_NN_ARG_ERROR);
    CHECK(tr_fully_connected_s8_prepare(0, &q, &in, &filter, &out) == TR_NN_ARG_ERROR);
}

static void test_fc_batch_and_scratch(void)
{
    const tr_nn_fc_params p = {3, 0, -5, {-100, 100}};
    const tr_nn_per_channel_quant_params q = {fc_mult, fc_shift};
    const int8_t x[3 * 5] = {-128, 127, 0, 5, -7, 1, 2, 3, 4, 5, 100, -100, 50, -50, 0};
    const tr_nn_dims filter = {5, 1, 1, 3};
    uint32_t scratch[8];
    const tr_nn_context ctx = {scratch, (int32_t)sizeof(scratch)};
    CHECK(tr_fully_connected_s8_get_buffer_size(&filter) <= ctx.size);

    int8_t batched[9];
    const tr_nn_dims in3 = {3, 1, 1, 5};
    const tr_nn_dims out3 = {3, 1, 1, 3};
    CHECK(tr_fully_connected_s8(&ctx, &p, &q, &in3, x, &filter, fc_weights, fc_bias, &out3, batched) ==
          TR_NN_SUCCESS);
    for (int32_t b = 0; b < 3; ++b) {
        int8_t single[3];
        const tr_nn_dims in1 = {1, 1, 1, 5};
        const tr_nn_dims out1 = {1, 1, 1, 3};
        (void)tr_fully_connected_s8(&ctx, &p, &q, &in1, &x[b * 5], &filter, fc_weights, fc_bias, &out1, single);
        for (int32_t c = 0; c < 3; ++c) {
            /* Worked out from the definition: acc = bias + sum (x + 3) * w, then * 2^-5 (or 2^-9), - 5. */
            int32_t acc = fc_bias[c];
            for (int32_t k = 0; k < 5; ++k) {
                acc += (x[b * 5 + k] + 3) * fc_weights[c * 5 + k];
            }
            int32_t want = tr_nn_requantize(acc, fc_mult[c], fc_shift[c]) - 5;
            want = want < -100 ? -100 : (want > 100 ? 100 : want);
            CHECK(single[c] == want);
            CHECK(batched[b * 3 + c] == want);
        }
    }
    /* The DSP path needs scratch (5 inputs -> one group of 4 -> 8 bytes); the portable path none. */
    const tr_nn_context tiny = {scratch, 4};
    const tr_nn_context misaligned = {(uint8_t *)scratch + 1, 16};
    const tr_nn_dims in1 = {1, 1, 1, 5};
    const tr_nn_dims out1 = {1, 1, 1, 3};
    const tr_nn_status want = TR_NN_USE_DSP ? TR_NN_BUFFER_ERROR : TR_NN_SUCCESS;
    CHECK(tr_fully_connected_s8(&tiny, &p, &q, &in1, x, &filter, fc_weights, fc_bias, &out1, batched) == want);
    CHECK(tr_fully_connected_s8(&misaligned, &p, &q, &in1, x, &filter, fc_weights, fc_bias, &out1, batched) == want);
    CHECK(tr_fully_connected_s8(0, &p, &q, &in1, x, &filter, fc_weights, fc_bias, &out1, batched) == want);
    CHECK(tr_fully_connected_s8_get_buffer_size(&filter) == (TR_NN_USE_DSP ? 8 : 0));
}

static void test_tanh_table(void)
{
    int8_t table[256];
    for (int32_t i = 0; i < 256; ++i) {
        table[i] = (int8_t)(127 - i); /* reversed: input -128 -> 127, input 127 -> -128 */
    }
    int8_t v[4] = {-128, -1, 0, 127};
    CHECK(tr_tanh_s8(v, v, 4, table) == TR_NN_SUCCESS); /* in place */
    CHECK(v[0] == 127 && v[1] == 0 && v[2] == -1 && v[3] == -128);
}

static void test_mlp_validation(void)
{
    const tr_nn_fc_params p = {0, 0, 0, {-128, 127}};
    const tr_nn_per_channel_quant_params q = {fc_mult, fc_shift};
    tr_nn_fc_layer layers[2] = {
        {{5, 1, 1, 3}, fc_weights, fc_bias, q, p, 0},
        {{3, 1, 1, 3}, fc_weights, 0, q, p, 0},
    };
    CHECK(tr_mlp_s8_prepare(layers, 2) == TR_NN_SUCCESS);
    CHECK(tr_mlp_s8_prepare(layers, 0) == TR_NN_ARG_ERROR);
    layers[1].filter_dims.n = 4; /* does not match layer 0's 3 outputs */
    CHECK(tr_mlp_s8_prepare(layers, 2) == TR_NN_ARG_ERROR);
    layers[1].filter_dims.n = 3;
    const int32_t big_bias[3] = {0, (INT32_C(1) << 30) + 1, 0};
    layers[0].bias = big_bias;
    CHECK(tr_mlp_s8_prepare(layers, 2) == TR_NN_ARG_ERROR);
    layers[0].bias = fc_bias;

    uint32_t scratch[8];
    const int32_t size = tr_mlp_s8_get_buffer_size(layers, 2);
    CHECK(size == (TR_NN_USE_DSP ? 8 : 0) + 2 * 3);
    const tr_nn_context small = {scratch, size - 1};
    const tr_nn_context enough = {scratch, size};
    const int8_t x[5] = {1, 2, 3, 4, 5};
    int8_t y[5];
    CHECK(tr_mlp_s8(&small, layers, 2, x, y) == TR_NN_BUFFER_ERROR);
    CHECK(tr_mlp_s8(&enough, layers, 2, x, y) == TR_NN_SUCCESS);
}

int main(void)
{
    tr_board_init();
    tr_board_puts(TR_NN_USE_DSP ? "tinyrl unit tests: kernels=dsp" : "tinyrl unit tests: kernels=portable");
    tr_board_puts(TR_NN_TIES_AWAY ? " rounding=tflm\r\n" : " rounding=tflite\r\n");
    test_requantize();
    test_requantize_matches_reference();
    test_fc_validation();
    test_fc_batch_and_scratch();
    test_tanh_table();
    test_mlp_validation();
    tr_print_kv(failures == 0 ? "RESULT PASS failures" : "RESULT FAIL failures", failures);
    tr_board_puts("\r\n");
    return failures == 0 ? 0 : 1;
}
