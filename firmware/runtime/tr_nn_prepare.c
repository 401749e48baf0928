/*
 * TinyRL int8 runtime: one-time validation of layer parameters (tr_fully_connected_s8_prepare, tr_mlp_s8_prepare).
 *
 * A translation unit of its own, as CMSIS-NN keeps one function family per file: firmware that builds its tables
 * at run time links it; `tinyrl export` does not copy it, because the exporter checks the same bounds on the host
 * (tinyrl/export/targets.py) before it writes the constants, so the device would only re-check flash it cannot
 * change.
 */
#include "tr_nn.h"

tr_nn_status tr_fully_connected_s8_prepare(const tr_nn_fc_params *fc_params,
                                           const tr_nn_per_channel_quant_params *quant_params,
                                           const tr_nn_dims *input_dims, const tr_nn_dims *filter_dims,
                                           const tr_nn_dims *output_dims)
{
    if (!fc_params || !quant_params || !input_dims || !filter_dims || !output_dims || !quant_params->multiplier ||
        !quant_params->shift) {
        return TR_NN_ARG_ERROR;
    }
    const int32_t depth = filter_dims->n;
    const int32_t channels = filter_dims->c;
    /* Depth bound keeps every int32 sum exact: 4096 * 255 * 128 < 2^28, and TFLite biases are far below 2^30. */
    if (depth < 1 || depth > 4096 || channels < 1 || input_dims->n < 1 || input_dims->c != depth ||
        output_dims->n != input_dims->n || output_dims->c != channels) {
        return TR_NN_ARG_ERROR;
    }
    /* int8 weights are symmetric in TFLite; the DSP path relies on it. */
    if (fc_params->filter_offset != 0 || fc_params->input_offset < -127 || fc_params->input_offset > 128 ||
        fc_params->output_offset < -128 || fc_params->output_offset > 127) {
        return TR_NN_ARG_ERROR;
    }
    const tr_nn_activation *act = &fc_params->activation;
    if (act->min < INT8_MIN || act->max > INT8_MAX || act->min > act->max) {
        return TR_NN_ARG_ERROR;
    }
    for (int32_t ch = 0; ch < channels; ++ch) {
        if (quant_params->multiplier[ch] < 0 || quant_params->shift[ch] < -31 || quant_params->shift[ch] > 30) {
            return TR_NN_ARG_ERROR;
        }
    }
    return TR_NN_SUCCESS;
}

tr_nn_status tr_mlp_s8_prepare(const tr_nn_fc_layer *layers, int32_t num_layers)
{
    if (!layers || num_layers < 1) {
        return TR_NN_ARG_ERROR;
    }
    for (int32_t i = 0; i < num_layers; ++i) {
        const tr_nn_fc_layer *l = &layers[i];
        const tr_nn_dims in = {1, 1, 1, l->filter_dims.n};
        const tr_nn_dims out = {1, 1, 1, l->filter_dims.c};
        if (!l->weights || (i > 0 && layers[i - 1].filter_dims.c != l->filter_dims.n)) {
            return TR_NN_ARG_ERROR;
        }
        const tr_nn_status status = tr_fully_connected_s8_prepare(&l->fc, &l->quant, &in, &l->filter_dims, &out);
        if (status != TR_NN_SUCCESS) {
            return status;
        }
        /* With prepare's depth bound, |bias| <= 2^30 keeps every accumulator inside int32 (no wrap-around). */
        for (int32_t c = 0; l->bias && c < l->filter_dims.c; ++c) {
            if (l->bias[c] < -(INT32_C(1) << 30) || l->bias[c] > (INT32_C(1) << 30)) {
                return TR_NN_ARG_ERROR;
            }
        }
    }
    return TR_NN_SUCCESS;
}
