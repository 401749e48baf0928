/*
 * Host harness for tests/export: runs an exported policy on vectors from files through both entry points.
 *
 *   harness N_INT8 int8_in.bin int8_out.bin N_FLOAT float_in.bin float_out.bin
 *
 * Inputs are raw little-endian arrays (int8 [N][IN], float32 [N][IN]); outputs likewise. Exit 0 on success.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tinyrl_policy.h"

static void *read_all(const char *path, size_t bytes)
{
    void *buf = malloc(bytes ? bytes : 1); /* test harness only: the policy itself never allocates */
    FILE *f = fopen(path, "rb");
    if (!buf || !f || fread(buf, 1, bytes, f) != bytes) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(3);
    }
    fclose(f);
    return buf;
}

static void write_all(const char *path, const void *buf, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, bytes, f) != bytes) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(3);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: harness N int8_in int8_out N float_in float_out\n");
        return 2;
    }
    const long n8 = strtol(argv[1], 0, 10);
    const long nf = strtol(argv[4], 0, 10);
    const int8_t *x = read_all(argv[2], (size_t)n8 * TINYRL_POLICY_INPUT_SIZE);
    int8_t *y = malloc((size_t)n8 * TINYRL_POLICY_OUTPUT_SIZE + 1);
    const float *obs = read_all(argv[5], (size_t)nf * TINYRL_POLICY_INPUT_SIZE * sizeof(float));
    float *act = malloc((size_t)nf * TINYRL_POLICY_OUTPUT_SIZE * sizeof(float) + 1);
    for (long i = 0; i < n8; ++i) {
        if (tinyrl_policy_run_int8(&x[i * TINYRL_POLICY_INPUT_SIZE], &y[i * TINYRL_POLICY_OUTPUT_SIZE]) != 0) {
            return 4;
        }
    }
    for (long i = 0; i < nf; ++i) {
        if (tinyrl_policy_run(&obs[i * TINYRL_POLICY_INPUT_SIZE], &act[i * TINYRL_POLICY_OUTPUT_SIZE]) != 0) {
            return 5;
        }
    }
    if (tinyrl_policy_run_int8(0, y) == 0 || tinyrl_policy_run(obs, 0) == 0) {
        return 6; /* NULL must be rejected */
    }
    write_all(argv[3], y, (size_t)n8 * TINYRL_POLICY_OUTPUT_SIZE);
    write_all(argv[6], act, (size_t)nf * TINYRL_POLICY_OUTPUT_SIZE * sizeof(float));
    return 0;
}
