/*
 * TinyRL int8 runtime: fully-connected layer (TFLite FULLY_CONNECTED, int8 in/out, per-channel weights).
 *
 * Written from the TFLite specification; see tr_nn.h for the math and tr_nn_support.h for the rounding.
 */
#include "tr_nn.h"
#include "tr_nn_support.h"

#if TR_NN_USE_DSP
/*
 * Cortex-M4 DSP path, in three stages so that each loop keeps its values in registers:
 *
 * 1. Expand the input once per call into the caller's scratch: each 4 int8 inputs become two words of two int16,
 *    (x[k+1], x[k+3]) and (x[k], x[k+2]), with the input offset added for free by SXTAB16
 *    (|x + offset| <= 255 fits int16).
 * 2. Dot products for blocks of up to TR_FC_BLOCK channels, four rows at a time: each weight word is split into
 *    the same int16 pairs with SXTB16 and SMLAD does two multiply-accumulates; the four rows share each loaded
 *    input pair: 24 instructions per 16 MACs (the portable loop needs ~4 per MAC).
 * 3. Requantize the block's int32 accumulators.
 *
 * Every product and partial sum is an exact integer, so the result equals the portable path bit for bit
 * (SMLAD wraps modulo 2^32 like the int32 math it replaces; prepare bounds the depth so nothing wraps).
 */
#define TR_FC_BLOCK 16

/* acc += 4 products: a weights word (4 x int8) times inputs already split into odd/even int16 pairs. */
#define TR_FC_MAC4(acc, w, x_odd, x_even)                                                                              \
    do {                                                                                                               \
        (acc) = (int32_t)__smlad(tr_nn_sxtb16_ror8(w), (x_odd), (uint32_t)(acc));                                      \
        (acc) = (int32_t)__smlad(__sxtb16(w), (x_even), (uint32_t)(acc));                                              \
    } while (0)

/* Expanded input: for each 4 inputs, the pair (k+1, k+3) then (k, k+2), as int16 with the offset added. */
static void tr_fc_s8_expand_input(const int8_t *input, int32_t depth4, int32_t in_off, uint32_t *xexp)
{
    const uint32_t off = (uint16_t)(int16_t)in_off;
    const uint32_t off2 = off | (off << 16);
    for (int32_t k = 0; k < depth4; k += 4) {
        const uint32_t xw = tr_nn_read_s8x4(input + k);
        *xexp++ = tr_nn_sxtab16_ror8(off2, xw);
        *xexp++ = __sxtab16(off2, xw);
    }
}

/*
 * acc[0..3] = init[0..3] + the dot products of 4 consecutive weight rows (w, w + depth, w + 2 depth, w + 3 depth)
 * with the expanded input, over the first depth & ~3 inputs. 24 instructions per 16 MACs.
 *
 * A naked function in assembly, not inline asm in C: written in C, GCC spills two row pointers (4 extra
 * loads/stores per iteration), and an inline-asm loop needs 14 registers, which GCC cannot always provide (at -O0
 * or with a frame pointer r7 is taken; at -O2 it depended on the surrounding code). Here the register use is fixed
 * and AAPCS-compliant whatever the compiler flags: r1, r3, r8-r10 pointers, r4-r7 accumulators, r12 end of input,
 * r2/r11 the input pair, lr/r0 temporaries.
 */
#define TR_FC_ASM_ARG __attribute__((unused)) /* read by the assembly through r0-r3 */
__attribute__((naked, noinline)) static void
tr_fc_s8_mac_4rows(TR_FC_ASM_ARG const int32_t *init, TR_FC_ASM_ARG const int8_t *w, TR_FC_ASM_ARG int32_t depth,
                   TR_FC_ASM_ARG const uint32_t *xexp, TR_FC_ASM_ARG int32_t *acc)
{
    __asm__ volatile(".syntax unified\n\t"
                     "push   {r4-r11, lr}\n\t"
                     "ldm    r0, {r4-r7}\n\t"
                     "add    r8, r1, r2\n\t"
                     "add    r9, r8, r2\n\t"
                     "add    r10, r9, r2\n\t"
                     "bic    r12, r2, #3\n\t"
                     "add    r12, r3, r12, lsl #1\n\t"
                     "cmp    r3, r12\n\t"
                     "beq    2f\n"
                     "1:\n\t"
                     "ldrd   r2, r11, [r3], #8\n\t"
                     "ldr    lr, [r1], #4\n\t"
                     "sxtb16 r0, lr, ror #8\n\t"
                     "smlad  r4, r0, r2, r4\n\t"
                     "sxtb16 r0, lr\n\t"
                     "smlad  r4, r0, r11, r4\n\t"
                     "ldr    lr, [r8], #4\n\t"
                     "sxtb16 r0, lr, ror #8\n\t"
                     "smlad  r5, r0, r2, r5\n\t"
                     "sxtb16 r0, lr\n\t"
                     "smlad  r5, r0, r11, r5\n\t"
                     "ldr    lr, [r9], #4\n\t"
                     "sxtb16 r0, lr, ror #8\n\t"
                     "smlad  r6, r0, r2, r6\n\t"
                     "sxtb16 r0, lr\n\t"
                     "smlad  r6, r0, r11, r6\n\t"
                     "ldr    lr, [r10], #4\n\t"
                     "sxtb16 r0, lr, ror #8\n\t"
                     "smlad  r7, r0, r2, r7\n\t"
                     "sxtb16 r0, lr\n\t"
                     "smlad  r7, r0, r11, r7\n\t"
                     "cmp    r3, r12\n\t"
                     "bne    1b\n"
                     "2:\n\t"
                     "ldr    r0, [sp, #36]\n\t" /* acc, the 5th argument, above the 9 saved registers */
                     "stm    r0, {r4-r7}\n\t"
                     "pop    {r4-r11, pc}\n\t");
}

/* acc[c] = bias[c] + sum_k (input[k] + in_off) * filter[c][k] for c < count. */
static void tr_fc_s8_dot_block(const int8_t *input, const uint32_t *xexp, const int8_t *filter, const int32_t *bias,
                               int32_t depth, int32_t count, int32_t in_off, int32_t *acc)
{
    const int32_t depth4 = depth & ~3;
    const uint32_t *xexp_end = xexp + depth4 / 2;
    static const int32_t no_bias[4] = {0, 0, 0, 0};
    int32_t c = 0;
    for (; c + 4 <= count; c += 4) {
        tr_fc_s8_mac_4rows(bias ? bias + c : no_bias, filter + c * depth, depth, xexp, &acc[c]);
    }
    for (; c < count; ++c) {
        /* Leftover rows (count not a multiple of 4), one at a time. */
        const int8_t *w0 = filter + c * depth;
        int32_t acc0 = bias ? bias[c] : 0;
        for (const uint32_t *xp = xexp; xp < xexp_end; xp += 2) {
            TR_FC_MAC4(acc0, tr_nn_read_s8x4(w0), xp[0], xp[1]);
            w0 += 4;
        }
        acc[c] = acc0;
    }
    if (depth4 < depth) {
        /* The last 1-3 inputs of every row, when depth is not a multiple of 4. */
        for (c = 0; c < count; ++c) {
            const int8_t *wc = filter + c * depth;
            for (int32_t k = depth4; k < depth; ++k) {
                acc[c] += (input[k] + in_off) * wc[k];
            }
        }
    }
}

/*
 * The activation clamp, specialised per layer (mode is a constant after inlining): a linear layer's [-128, 127] is a
 * single SSAT, a ReLU layer's [zero point, 127] an SSAT and one compare; anything else two compares.
 */
#define TR_FC_CLAMP_FULL 0
#define TR_FC_CLAMP_MIN 1
#define TR_FC_CLAMP_BOTH 2

static inline void tr_fc_s8_requantize_loop(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                                            int32_t count, const tr_nn_fc_params *p, int8_t *output, int32_t mode)
{
    const int32_t out_off = p->output_offset;
    const int32_t act_min = p->activation.min;
    const int32_t act_max = p->activation.max;
    for (int32_t c = 0; c < count; ++c) {
        int32_t out = tr_nn_requantize(acc[c], multiplier[c], shift[c]) + out_off;
        if (mode == TR_FC_CLAMP_BOTH) {
            out = TR_NN_MAX(out, act_min);
            out = TR_NN_MIN(out, act_max);
        } else {
            out = __ssat(out, 8);
            if (mode == TR_FC_CLAMP_MIN) {
                out = TR_NN_MAX(out, act_min);
            }
        }
        output[c] = (int8_t)out;
    }
}

static void tr_fc_s8_requantize_block(const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                                      int32_t count, const tr_nn_fc_params *p, int8_t *output)
{
    if (p->activation.max != INT8_MAX) {
        tr_fc_s8_requantize_loop(acc, multiplier, shift, count, p, output, TR_FC_CLAMP_BOTH);
    } else if (p->activation.min != INT8_MIN) {
        tr_fc_s8_requantize_loop(acc, multiplier, shift, count, p, output, TR_FC_CLAMP_MIN);
    } else {
        tr_fc_s8_requantize_loop(acc, multiplier, shift, count, p, output, TR_FC_CLAMP_FULL);
    }
}

/* Scratch bytes: the expanded input, 2 bytes per input in whole groups of 4. */
static inline int32_t tr_fc_s8_scratch_bytes(int32_t depth)
{
    return 2 * (depth & ~3);
}

static inline void tr_fc_s8_rows(uint32_t *scratch, const int8_t *input, const int8_t *filter, const int32_t *bias,
                                 int8_t *output, const tr_nn_fc_params *p, const tr_nn_per_channel_quant_params *q,
                                 int32_t depth, int32_t channels)
{
    int32_t acc[TR_FC_BLOCK];
    tr_fc_s8_expand_input(input, depth & ~3, p->input_offset, scratch);
    for (int32_t c0 = 0; c0 < channels; c0 += TR_FC_BLOCK) {
        const int32_t count = TR_NN_MIN(TR_FC_BLOCK, channels - c0);
        tr_fc_s8_dot_block(input, scratch, filter + c0 * depth, bias ? bias + c0 : bias, depth, count,
                           p->input_offset, acc);
        tr_fc_s8_requantize_block(acc, q->multiplier + c0, q->shift + c0, count, p, output + c0);
    }
}
#else
/* Portable C99 path: the reference the DSP path must match. One output channel at a time, as specified. */
static inline int32_t tr_fc_s8_scratch_bytes(int32_t depth)
{
    (void)depth;
    return 0;
}

static inline void tr_fc_s8_rows(uint32_t *scratch, const int8_t *input, const int8_t *filter, const int32_t *bias,
                                 int8_t *output, const tr_nn_fc_params *p, const tr_nn_per_channel_quant_params *q,
                                 int32_t depth, int32_t channels)
{
    (void)scratch;
    for (int32_t ch = 0; ch < channels; ++ch) {
        const int8_t *w = filter + ch * depth;
        int32_t acc = bias ? bias[ch] : 0;
        for (int32_t k = 0; k < depth; ++k) {
            acc += (input[k] + p->input_offset) * (w[k] + p->filter_offset);
        }
        output[ch] = tr_nn_requantize_s8(acc, q->multiplier[ch], q->shift[ch], p);
    }
}
#endif

int32_t tr_fully_connected_s8_get_buffer_size(const tr_nn_dims *filter_dims)
{
    return tr_fc_s8_scratch_bytes(filter_dims->n);
}

tr_nn_status tr_fully_connected_s8(const tr_nn_context *ctx, const tr_nn_fc_params *fc_params,
                                   const tr_nn_per_channel_quant_params *quant_params, const tr_nn_dims *input_dims,
                                   const int8_t *input, const tr_nn_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias, const tr_nn_dims *output_dims, int8_t *output)
{
    const int32_t depth = filter_dims->n;
    const int32_t channels = output_dims->c;
    const int32_t needed = tr_fc_s8_scratch_bytes(depth);
    if (needed > 0 && (!ctx || !ctx->buf || ctx->size < needed || ((uintptr_t)ctx->buf & 3U) != 0U)) {
        return TR_NN_BUFFER_ERROR;
    }
    uint32_t none = 0; /* a valid pointer for the (empty) expanded input when depth < 4 */
    uint32_t *scratch = needed > 0 ? (uint32_t *)ctx->buf : &none;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        tr_fc_s8_rows(scratch, input + b * depth, filter, bias, output + b * channels, fc_params, quant_params, depth,
                      channels);
    }
    return TR_NN_SUCCESS;
}
