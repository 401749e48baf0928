/*
 * TinyRL int8 runtime: a multi-layer perceptron as a chain of fully-connected layers (+ optional tables).
 *
 * Intermediate activations ping-pong between two buffers in the caller's scratch, so RAM use is
 * 2 * (widest hidden layer) bytes whatever the depth, plus the FC kernel's own scratch (DSP path: 2 bytes per
 * input of the widest layer input); the last layer writes straight into the output.
 */
#include "tr_nn.h"
#include "tr_nn_support.h"

/* Scratch layout: [FC kernel scratch, rounded up to 4 bytes][ping][pong], each ping/pong = widest hidden layer. */
static void tr_mlp_s8_buffers(const tr_nn_fc_layer *layers, int32_t num_layers, int32_t *fc_size, int32_t *half)
{
    int32_t fc = 0;
    int32_t widest = 0;
    for (int32_t i = 0; i < num_layers; ++i) {
        fc = TR_NN_MAX(fc, tr_fully_connected_s8_get_buffer_size(&layers[i].filter_dims));
        if (i + 1 < num_layers) {
            widest = TR_NN_MAX(widest, layers[i].filter_dims.c);
        }
    }
    *fc_size = (fc + 3) & ~3;
    *half = widest;
}

int32_t tr_mlp_s8_get_buffer_size(const tr_nn_fc_layer *layers, int32_t num_layers)
{
    int32_t fc_size;
    int32_t half;
    tr_mlp_s8_buffers(layers, num_layers, &fc_size, &half);
    return fc_size + 2 * half;
}

tr_nn_status tr_mlp_s8(const tr_nn_context *ctx, const tr_nn_fc_layer *layers, int32_t num_layers,
                       const int8_t *input, int8_t *output)
{
    int32_t fc_size;
    int32_t half;
    tr_mlp_s8_buffers(layers, num_layers, &fc_size, &half);
    if (fc_size + half > 0 &&
        (!ctx || !ctx->buf || ctx->size < fc_size + 2 * half || ((uintptr_t)ctx->buf & 3U) != 0U)) {
        return TR_NN_BUFFER_ERROR;
    }
    const tr_nn_context fc_ctx = {fc_size > 0 ? ctx->buf : 0, fc_size};
    int8_t *activations = half > 0 ? (int8_t *)ctx->buf + fc_size : 0;
    const int8_t *x = input;
    for (int32_t i = 0; i < num_layers; ++i) {
        const tr_nn_fc_layer *l = &layers[i];
        int8_t *y = (i + 1 == num_layers) ? output : activations + (i & 1) * half;
        const tr_nn_dims in = {1, 1, 1, l->filter_dims.n};
        const tr_nn_dims out = {1, 1, 1, l->filter_dims.c};
        (void)tr_fully_connected_s8(&fc_ctx, &l->fc, &l->quant, &in, x, &l->filter_dims, l->weights, l->bias, &out,
                                    y);
        if (l->lut) {
            (void)tr_tanh_s8(y, y, l->filter_dims.c, l->lut);
        }
        x = y;
    }
    return TR_NN_SUCCESS;
}
