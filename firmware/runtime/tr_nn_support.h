/*
 * TinyRL int8 runtime: inline helpers shared by the kernels (requantization, packed loads, DSP shims).
 *
 * The requantization functions implement TFLite's MultiplyByQuantizedMultiplier (the gemmlowp
 * "double rounding" form that TFLite Micro's reference kernels use), written from its specification:
 *   1. x * 2^max(shift, 0)                             (wraps like TFLite's int32 multiply)
 *   2. SaturatingRoundingDoublingHighMul(x, multiplier) = floor(x * m / 2^31 + 1/2) (ties up), saturated
 *   3. RoundingDivideByPOT(., max(-shift, 0))           = . / 2^e rounded, ties away from zero
 * This is what TFLite Micro's reference kernels and CMSIS-NN compute. (The TFLite interpreter's optimized
 * x86 kernels round step 3's ties up instead; see tinyrl/compress/reference.py, reference="tflite".)
 *
 * Implementation-defined behaviour relied on (true for GCC and Clang on every target we build):
 * right shifts of negative integers are arithmetic; converting an out-of-range uint32_t to int32_t wraps.
 */
#ifndef TR_NN_SUPPORT_H
#define TR_NN_SUPPORT_H

#include <stdint.h>
#include <string.h>

#include "tr_nn.h"

#if defined(__ARM_FEATURE_DSP) && !defined(TR_NN_PORTABLE)
#define TR_NN_USE_DSP 1
#include <arm_acle.h>
#else
#define TR_NN_USE_DSP 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define TR_NN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TR_NN_MIN(a, b) ((a) < (b) ? (a) : (b))

/**
 * @brief TFLite SaturatingRoundingDoublingHighMul: a * b / 2^31, rounded to nearest.
 *
 * The nudge (2^30 for ab >= 0, 1 - 2^30 for ab < 0) with a truncating division rounds ties toward +inf for
 * both signs (-2.5 -> -2). Only a == b == INT32_MIN overflows (the result would be 2^31); it saturates to INT32_MAX.
 */
static inline int32_t tr_nn_doubling_high_mult(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/**
 * @brief tr_nn_doubling_high_mult for a multiplier b >= 0 (as tr_fully_connected_s8_prepare guarantees).
 *
 * Same value, cheaper (one SMLAL and a shift on Cortex-M4): the spec adds a nudge of 2^30 (ab >= 0) or
 * 1 - 2^30 (ab < 0) and divides by 2^31 truncating toward zero. For ab < 0 that is
 * ceil((ab + 1 - 2^30) / 2^31) = floor((ab + 2^30) / 2^31), the same expression as for ab >= 0, so no sign
 * test is needed; and b >= 0 rules out the one saturating case (a == b == INT32_MIN).
 */
static inline int32_t tr_nn_doubling_high_mult_nonneg(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/*
 * Ties in RoundingDivideByPOT. TFLite Micro's reference kernels and CMSIS-NN round them away from zero (the
 * default); TFLite's interpreter (builtin x86/NEON kernels, delegates off) rounds them up, toward +inf.
 * Define TR_NN_TFLITE_ROUNDING to be bit-exact with the latter instead (make ROUNDING=tflite).
 */
#if defined(TR_NN_TFLITE_ROUNDING)
#define TR_NN_TIES_AWAY 0
#else
#define TR_NN_TIES_AWAY 1
#endif

/**
 * @brief TFLite RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties as TR_NN_TIES_AWAY. exponent in [0, 31].
 */
static inline int32_t tr_nn_divide_by_power_of_two(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1U);
    const int32_t remainder = x & mask;
    /* Round up when the remainder is over half; ties away from zero: a negative x needs one more to round up. */
    const int32_t threshold = (mask >> 1) + ((TR_NN_TIES_AWAY && x < 0) ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/**
 * @brief TFLite MultiplyByQuantizedMultiplier: acc * multiplier * 2^(shift - 31), TFLite's rounding.
 *
 * @param[in] acc        int32 accumulator.
 * @param[in] multiplier Q31 multiplier, [0, INT32_MAX].
 * @param[in] shift      [-31, 30]; positive shifts left before the multiply, negative right after it.
 */
static inline int32_t tr_nn_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
#if TR_NN_USE_DSP
    /*
     * Same value, fewer instructions (multiplier >= 0, which prepare checks, and |acc| < 2^31 - 1, which the
     * bias bound documented in tr_nn.h guarantees):
     * - shift >= 0: no rounding shift, just the doubling high multiply of acc << shift.
     * - shift < 0 (the usual case): acc is not shifted first, and RoundingDivideByPOT(h, e) for e >= 1 is
     *   floor((h - n + 2^(e-1)) / 2^e) with n = 1 for ties away from zero and h < 0, else 0 (it rounds up exactly
     *   when the remainder reaches 2^(e-1) + n). By floor((floor(y / a) + 1) / 2) = floor((y + a) / 2a) for
     *   a = 2^(e-1), that is (((h - n) >> (e - 1)) + 1) >> 1, and e - 1 = -shift - 1 = ~shift.
     */
    if (__builtin_expect(shift >= 0, 0)) {
        return tr_nn_doubling_high_mult_nonneg((int32_t)((uint32_t)acc << shift), multiplier);
    }
    int32_t high = tr_nn_doubling_high_mult_nonneg(acc, multiplier);
#if TR_NN_TIES_AWAY
    high += high >> 31;
#endif
    return ((high >> ~shift) + 1) >> 1;
#else
    /* The reference, step by step as specified. */
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    /* TFLite multiplies by (1 << left) in int32; shifting as uint32_t gives the same wrapped bits without UB. */
    const int32_t scaled = (int32_t)((uint32_t)acc << left);
    return tr_nn_divide_by_power_of_two(tr_nn_doubling_high_mult(scaled, multiplier), right);
#endif
}

/**
 * @brief Requantize an accumulator to int8: add the output zero point, then clamp to the activation range.
 */
static inline int8_t tr_nn_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift, const tr_nn_fc_params *p)
{
    int32_t out = tr_nn_requantize(acc, multiplier, shift) + p->output_offset;
    out = TR_NN_MAX(out, p->activation.min);
    out = TR_NN_MIN(out, p->activation.max);
    return (int8_t)out;
}

/** @brief Read 4 int8 values as one word. memcpy keeps C99 aliasing rules; GCC emits one (unaligned) LDR. */
static inline uint32_t tr_nn_read_s8x4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

#if TR_NN_USE_DSP
/** @brief SXTB16 of the word rotated by 8: sign-extends bytes 1 and 3 into two int16 halves. */
static inline uint32_t tr_nn_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/** @brief SXTAB16 of the word rotated by 8: a's halves + sign-extended bytes 1 and 3 of x. */
static inline uint32_t tr_nn_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* TR_NN_SUPPORT_H */
