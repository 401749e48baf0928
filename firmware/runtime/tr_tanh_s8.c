/*
 * TinyRL int8 runtime: int8 tanh (and any other elementwise int8 -> int8 op) by table lookup.
 *
 * TFLite's int8 TANH is a fixed-point polynomial/LUT whose exact rounding depends on the TFLite version.
 * Rather than re-derive it, the host evaluates the reference op on all 256 possible inputs and exports the
 * results as a const table; the device then reproduces the reference bit for bit with one load per element.
 * 256 bytes of flash, no RAM, ~3 instructions per element.
 */
#include "tr_nn.h"
#include "tr_nn_support.h"

tr_nn_status tr_tanh_s8(const int8_t *input, int8_t *output, int32_t size, const int8_t *table)
{
    /* Index by input + 128 so entry 0 is the table's value for -128, the natural order to generate it in. */
    for (int32_t i = 0; i < size; ++i) {
        output[i] = table[(int32_t)input[i] + 128];
    }
    return TR_NN_SUCCESS;
}
