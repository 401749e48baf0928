/*
 * TinyRL int8 runtime: public API.
 *
 * Integer math follows the TensorFlow Lite full-integer scheme (real = scale * (q - zero_point)):
 * int8 activations per tensor, int8 weights symmetric per output channel, int32 bias with scale
 * input_scale * weight_scale[c], requantization with a Q31 multiplier and a shift exactly as TFLite's
 * MultiplyByQuantizedMultiplier. Results are bit-exact with TFLite's reference int8 kernels.
 *
 * Memory: nothing here allocates. Weights and tables are const (they live in flash); the caller owns
 * every buffer and sizes scratch memory with the matching *_get_buffer_size() function.
 *
 * Kernels come in two bit-identical paths: a portable C99 path (the reference) and a Cortex-M4 DSP path
 * (SXTB16/SMLAD), chosen when __ARM_FEATURE_DSP is defined and TR_NN_PORTABLE is not.
 */
#ifndef TR_NN_H
#define TR_NN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status returned by every runtime function. */
typedef enum {
    TR_NN_SUCCESS = 0,      /**< Done. */
    TR_NN_ARG_ERROR = -1,   /**< A pointer, size or quantization parameter is out of range. */
    TR_NN_BUFFER_ERROR = -2 /**< The caller's scratch buffer is missing or too small. */
} tr_nn_status;

/** Tensor shape, as cmsis_nn_dims: batches n, height h, width w, channels c. */
typedef struct {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} tr_nn_dims;

/** Inclusive int8 output clamp. Fused ReLU is [output_offset, 127]; ReLU6 is [output_offset, q(6.0)]. */
typedef struct {
    int32_t min; /**< Range [-128, max]. */
    int32_t max; /**< Range [min, 127]. */
} tr_nn_activation;

/** Fully-connected parameters, as cmsis_nn_fc_params. */
typedef struct {
    int32_t input_offset;  /**< Minus the input zero point. Range [-127, 128]. */
    int32_t filter_offset; /**< Minus the weight zero point; int8 weights are symmetric, so must be 0. */
    int32_t output_offset; /**< The output zero point. Range [-128, 127]. */
    tr_nn_activation activation;
} tr_nn_fc_params;

/** Per-output-channel requantization: out = round(acc * multiplier * 2^(shift - 31)). */
typedef struct {
    const int32_t *multiplier; /**< [c] Q31 multipliers. Range [0, INT32_MAX]; TFLite's are in [2^30, 2^31) or 0. */
    const int32_t *shift;      /**< [c] Power-of-two exponents. Range [-31, 30]; > 0 is a left shift. */
} tr_nn_per_channel_quant_params;

/** Caller-owned scratch memory, as cmsis_nn_context. */
typedef struct {
    void *buf;    /**< Scratch buffer, or NULL if size is 0. */
    int32_t size; /**< Bytes available at buf. */
} tr_nn_context;

/**
 * @brief Validate fully-connected parameters once, before the first tr_fully_connected_s8 call.
 *
 * The kernel itself does not check its arguments (it runs at 100+ Hz on a 168 MHz MCU); this does.
 *
 * @param[in] fc_params    Offsets and activation clamp.
 * @param[in] quant_params Per-channel multipliers and shifts, output_dims->c of each.
 * @param[in] input_dims   n = batches (>= 1), h = w = 1, c = input features.
 * @param[in] filter_dims  n = input features (accumulation depth, >= 1), c = output channels (>= 1).
 * @param[in] output_dims  n = batches, c = output channels.
 * @return TR_NN_SUCCESS, or TR_NN_ARG_ERROR naming nothing (check the ranges documented above).
 */
tr_nn_status tr_fully_connected_s8_prepare(const tr_nn_fc_params *fc_params,
                                           const tr_nn_per_channel_quant_params *quant_params,
                                           const tr_nn_dims *input_dims, const tr_nn_dims *filter_dims,
                                           const tr_nn_dims *output_dims);

/**
 * @brief Scratch bytes tr_fully_connected_s8 needs in ctx: 2 * (filter_dims->n rounded down to a multiple of 4)
 *        on the DSP path (the input expanded to int16 once per call), 0 on the portable path.
 */
int32_t tr_fully_connected_s8_get_buffer_size(const tr_nn_dims *filter_dims);

/**
 * @brief int8 fully-connected layer with per-output-channel requantization (TFLite FULLY_CONNECTED, int8).
 *
 * For each batch b and output channel c:
 *   acc = bias[c] + sum_k (input[b][k] + input_offset) * filter[c][k]
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c]) + output_offset, act.min, act.max)
 *
 * @param[in]  ctx          Scratch of tr_fully_connected_s8_get_buffer_size() bytes, 4-byte aligned; may be NULL
 *                          when that size is 0. Contents need not survive between calls.
 * @param[in]  fc_params    Offsets and activation clamp (validated by tr_fully_connected_s8_prepare).
 * @param[in]  quant_params Per-channel multipliers and shifts.
 * @param[in]  input_dims   n = batches, c = input features (== filter_dims->n).
 * @param[in]  input        [n][filter_dims->n] int8.
 * @param[in]  filter_dims  n = input features, c = output channels.
 * @param[in]  filter       [c][n] int8, row-major, one row per output channel (TFLite layout). No alignment needed.
 * @param[in]  bias         [c] int32, or NULL for no bias. Range [-2^30, 2^30] (TFLite biases are far smaller),
 *                          so that no accumulator overflows int32; tr_mlp_s8_prepare checks it.
 * @param[in]  output_dims  n = batches, c = output channels (== filter_dims->c).
 * @param[out] output       [n][c] int8.
 * @return TR_NN_SUCCESS, or TR_NN_BUFFER_ERROR if ctx is missing, too small or misaligned.
 */
tr_nn_status tr_fully_connected_s8(const tr_nn_context *ctx, const tr_nn_fc_params *fc_params,
                                   const tr_nn_per_channel_quant_params *quant_params, const tr_nn_dims *input_dims,
                                   const int8_t *input, const tr_nn_dims *filter_dims, const int8_t *filter,
                                   const int32_t *bias, const tr_nn_dims *output_dims, int8_t *output);

/**
 * @brief Elementwise int8 -> int8 function through a 256-entry table: output[i] = table[input[i] + 128].
 *
 * Used for TFLite's int8 TANH (and LOGISTIC, or any elementwise int8 op): the table is generated on the host
 * by running the exact reference op on all 256 inputs, so the device reproduces it bit for bit whatever
 * TFLite's internal algorithm is. input and output may be the same buffer.
 *
 * @param[in]  input  [size] int8.
 * @param[out] output [size] int8.
 * @param[in]  size   Element count (>= 0).
 * @param[in]  table  256 int8 entries, indexed by input + 128 (entry 0 is for input -128).
 * @return TR_NN_SUCCESS.
 */
tr_nn_status tr_tanh_s8(const int8_t *input, int8_t *output, int32_t size, const int8_t *table);

/** One fully-connected layer of an MLP, with an optional elementwise table (e.g. tanh) on its output. */
typedef struct {
    tr_nn_dims filter_dims;                   /**< n = input features, c = output features. */
    const int8_t *weights;                    /**< [c][n] int8, row-major. */
    const int32_t *bias;                      /**< [c] int32, or NULL. */
    tr_nn_per_channel_quant_params quant;     /**< Per-channel multipliers and shifts. */
    tr_nn_fc_params fc;                       /**< Offsets and fused activation clamp. */
    const int8_t *lut;                        /**< 256-entry table applied after the layer, or NULL. */
} tr_nn_fc_layer;

/**
 * @brief Validate an MLP once: every layer's parameters (as tr_fully_connected_s8_prepare), weights present,
 *        biases in range, and each layer's input width == the previous layer's output width.
 */
tr_nn_status tr_mlp_s8_prepare(const tr_nn_fc_layer *layers, int32_t num_layers);

/**
 * @brief Scratch bytes tr_mlp_s8 needs: the largest layer's tr_fully_connected_s8 scratch (rounded up to 4)
 *        plus two ping-pong buffers for the intermediate activations (2 * widest hidden layer).
 */
int32_t tr_mlp_s8_get_buffer_size(const tr_nn_fc_layer *layers, int32_t num_layers);

/**
 * @brief Run one input vector through an MLP validated by tr_mlp_s8_prepare.
 *
 * @param[in]  ctx        Scratch of at least tr_mlp_s8_get_buffer_size() bytes, 4-byte aligned.
 * @param[in]  layers     num_layers layers, in order.
 * @param[in]  num_layers >= 1.
 * @param[in]  input      [layers[0].filter_dims.n] int8.
 * @param[out] output     [layers[num_layers - 1].filter_dims.c] int8. Must not overlap input or scratch.
 * @return TR_NN_SUCCESS, or TR_NN_BUFFER_ERROR if ctx is too small or misaligned.
 */
tr_nn_status tr_mlp_s8(const tr_nn_context *ctx, const tr_nn_fc_layer *layers, int32_t num_layers,
                       const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TR_NN_H */
