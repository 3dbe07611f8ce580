/* lg_kernels.h - copied by lstmgen 0.1.0 from model "tiny" (ir sha256 9aaa868062e739cb72ee4aae6de92876265aeb3b4e040142cc81faacbd464a91)
 * input Q5.11 int16 | weights int8 | cell Q7.25 | h Q2.14 | sigmoid Q4.12->Q1.15 | tanh Q4.12->Q1.15 | out Q6.10 | round half-up, saturate */
/* lg_kernels.h - lstmgen matrix-vector kernels (hand-written, copied verbatim by the generator).
 *
 * Weights are stored transposed, one row per input: wt[k * m + r] is the weight of input k for
 * output row r. Over the inputs k < n and the rows r < m:
 *   lg_mv_w{16,8}_a{32,64}      dense:          acc[r] += sum_k wt[k * m + r] * v[k]
 *   lg_mv_set_w{16,8}_a{32,64}  dense, writes:  acc[r]  = the same sum (n >= 1; no clearing)
 *   lg_mv_nz_w{16,8}_a{32,64}   zero-skipping:  acc[r] += the same sum over the inputs with
 *                               v[k] != 0
 *   lg_mv_nz_set_w{16,8}_a{32,64}  zero-skipping, writes: acc[r] = that sum
 * (w16/w8: int16/int8 weights; a32/a64: int32/int64 accumulators). The row count m must be a
 * multiple of LG_BLOCK (the generator pads weight rows and accumulators with zeros). Inputs are
 * taken two at a time, acc[r] += w0[r]*v0 + w1[r]*v1, the shape of one ARM SMLAD, and rows in
 * blocks of LG_BLOCK, a fixed trip count a compiler vectorises at -O2. The caller guarantees
 * that no partial sum overflows the accumulator (lstmgen proves it from the stored weights), so
 * the summation order never changes a result. The zero-skipping form is what makes sparse
 * hidden states pay: beyond one test per input, its cost is proportional to the nonzero inputs
 * (it lists up to LG_NZ_CHUNK of them at a time, then adds their products in pairs).
 *
 * With LG_DSP defined, lg_dsp.h provides the same functions for ARM cores with the DSP extension;
 * with LG_MVE defined, lg_mve.h for ARM cores with Helium (the M-profile Vector Extension).
 * Either stores the weights in its own layout (blocks of 4 rows), documented there.
 *
 * The kernels read int16 input codes; lg_widen8 copies 8-bit codes (int8_t storage of an 8-bit
 * format) into an int16 buffer first.
 */
#ifndef LG_KERNELS_H
#define LG_KERNELS_H

#include <stdint.h>
#include <string.h>

#define LG_BLOCK 8 /* rows per inner block; weight rows are padded to a multiple of it */
#define LG_NZ_CHUNK 32 /* nonzero inputs listed (on the stack) before their products are added */

/* Set acc[0..m) to zero. */
static inline void lg_clear_a32(int32_t *acc, int32_t m)
{
    memset(acc, 0, (size_t)m * sizeof *acc);
}

static inline void lg_clear_a64(int64_t *acc, int32_t m)
{
    memset(acc, 0, (size_t)m * sizeof *acc);
}

/* dst[k] = src[k] for k < n: 8-bit codes widened to the kernels' int16 (the same numbers). */
static inline void lg_widen8(int16_t *dst, const int8_t *src, int32_t n)
{
    int32_t k;
    for (k = 0; k < n; ++k) {
        dst[k] = src[k];
    }
}

#if defined(LG_MVE)
#include "lg_mve.h"
#elif defined(LG_DSP)
#include "lg_dsp.h"
#else

/* Column passes: acc[r] (+)= w0[r]*v0 (+ w1[r]*v1) for r < m; NAME##set writes acc (the first
 * columns of a dense product), NAME adds. Weights are widened to int16 in a block first, so
 * int8 and int16 weights share the 16x16-bit multiply. */
#define LG_SET(x) 0
#define LG_ADD(x) (x)
#define LG_COLS(NAME, WT, AT, LOAD)                                                           \
    static inline void lg_cols2##NAME(AT *acc, int32_t m, const WT *w0, const WT *w1, AT v0,  \
                                      AT v1)                                                  \
    {                                                                                         \
        int32_t r;                                                                            \
        int32_t q;                                                                            \
        for (r = 0; r < m; r += LG_BLOCK) {                                                   \
            int16_t a[LG_BLOCK];                                                              \
            int16_t b[LG_BLOCK];                                                              \
            for (q = 0; q < LG_BLOCK; ++q) {                                                  \
                a[q] = w0[r + q];                                                             \
                b[q] = w1[r + q];                                                             \
            }                                                                                 \
            for (q = 0; q < LG_BLOCK; ++q) {                                                  \
                acc[r + q] = LOAD(acc[r + q]) + (AT)a[q] * v0 + (AT)b[q] * v1;                \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
                                                                                              \
    static inline void lg_cols1##NAME(AT *acc, int32_t m, const WT *w0, AT v0)                \
    {                                                                                         \
        int32_t r;                                                                            \
        int32_t q;                                                                            \
        for (r = 0; r < m; r += LG_BLOCK) {                                                   \
            int16_t a[LG_BLOCK];                                                              \
            for (q = 0; q < LG_BLOCK; ++q) {                                                  \
                a[q] = w0[r + q];                                                             \
            }                                                                                 \
            for (q = 0; q < LG_BLOCK; ++q) {                                                  \
                acc[r + q] = LOAD(acc[r + q]) + (AT)a[q] * v0;                                \
            }                                                                                 \
        }                                                                                     \
    }

/* The kernels of one (weight, accumulator) type pair. */
#define LG_KERNELS(SUFFIX, WT, AT)                                                            \
    LG_COLS(_##SUFFIX, WT, AT, LG_ADD)                                                        \
    LG_COLS(set_##SUFFIX, WT, AT, LG_SET)                                                     \
                                                                                              \
    static inline void lg_mv_##SUFFIX(AT *acc, const WT *wt, int32_t m, const int16_t *v,     \
                                      int32_t n)                                              \
    {                                                                                         \
        int32_t k = 0;                                                                        \
        for (; k + 1 < n; k += 2) {                                                           \
            lg_cols2_##SUFFIX(acc, m, wt + (long)k * m, wt + (long)(k + 1) * m, v[k], v[k + 1]); \
        }                                                                                     \
        if (k < n) {                                                                          \
            lg_cols1_##SUFFIX(acc, m, wt + (long)k * m, v[k]);                                \
        }                                                                                     \
    }                                                                                         \
                                                                                              \
    static inline void lg_mv_set_##SUFFIX(AT *acc, const WT *wt, int32_t m, const int16_t *v, \
                                          int32_t n)                                          \
    {                                                                                         \
        if (n == 1) {                                                                         \
            lg_cols1set_##SUFFIX(acc, m, wt, v[0]);                                           \
            return;                                                                           \
        }                                                                                     \
        lg_cols2set_##SUFFIX(acc, m, wt, wt + m, v[0], v[1]);                                 \
        lg_mv_##SUFFIX(acc, wt + 2L * m, m, v + 2, n - 2);                                    \
    }                                                                                         \
                                                                                              \
    static inline void lg_mv_gather_##SUFFIX(AT *acc, const WT *wt, int32_t m,                \
                                             const int32_t *idx, const int16_t *val,          \
                                             int32_t nnz)                                     \
    {                                                                                         \
        int32_t j = 0;                                                                        \
        for (; j + 1 < nnz; j += 2) {                                                         \
            lg_cols2_##SUFFIX(acc, m, wt + (long)idx[j] * m, wt + (long)idx[j + 1] * m,       \
                              val[j], val[j + 1]);                                            \
        }                                                                                     \
        if (j < nnz) {                                                                        \
            lg_cols1_##SUFFIX(acc, m, wt + (long)idx[j] * m, val[j]);                         \
        }                                                                                     \
    }                                                                                         \
                                                                                              \
    static inline void lg_mv_nz_##SUFFIX(AT *acc, const WT *wt, int32_t m, const int16_t *v,  \
                                         int32_t n)                                           \
    {                                                                                         \
        int32_t idx[LG_NZ_CHUNK];                                                             \
        int16_t val[LG_NZ_CHUNK];                                                             \
        int32_t nnz = 0;                                                                      \
        int32_t k;                                                                            \
        for (k = 0; k < n; ++k) {                                                             \
            if (v[k] != 0) {                                                                  \
                idx[nnz] = k;                                                                 \
                val[nnz] = v[k];                                                              \
                if (++nnz == LG_NZ_CHUNK) {                                                   \
                    lg_mv_gather_##SUFFIX(acc, wt, m, idx, val, nnz);                         \
                    nnz = 0;                                                                  \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
        lg_mv_gather_##SUFFIX(acc, wt, m, idx, val, nnz);                                     \
    }                                                                                         \
                                                                                              \
    static inline void lg_mv_nz_set_##SUFFIX(AT *acc, const WT *wt, int32_t m,                \
                                             const int16_t *v, int32_t n)                     \
    {                                                                                         \
        memset(acc, 0, (size_t)m * sizeof *acc);                                              \
        lg_mv_nz_##SUFFIX(acc, wt, m, v, n);                                                  \
    }

LG_KERNELS(w16_a32, int16_t, int32_t)
LG_KERNELS(w8_a32, int8_t, int32_t)
LG_KERNELS(w16_a64, int16_t, int64_t)
LG_KERNELS(w8_a64, int8_t, int64_t)

#undef LG_KERNELS
#undef LG_COLS
#undef LG_SET
#undef LG_ADD

#endif /* LG_MVE, LG_DSP */

#endif /* LG_KERNELS_H */
