/* lg_dsp.h - lstmgen matrix-vector kernels for ARM cores with the DSP extension (Cortex-M4/M7),
 * hand-written, copied verbatim by the generator for --cpu cortex-m4 / cortex-m7 (the model
 * defines LG_DSP, and lg_kernels.h then includes this file instead of its portable kernels).
 *
 * The same functions, signatures and results as the portable kernels of lg_kernels.h (r < m, m
 * a multiple of LG_BLOCK, hence even), with ACLE intrinsics: __smlad (SMLAD, two 16x16-bit products added into
 * 32 bits) or __smlald (SMLALD, into 64 bits), and __sxtb16 (SXTB16) widening two int8 weights
 * into two int16 lanes. The caller guarantees that no partial sum overflows the accumulator
 * (the IR's bound), so the summation order never changes a result.
 *
 * Weight layout (lstmgen.targets.c emits it when LG_DSP is set): the inputs go in pairs
 * (2c, 2c+1), an odd input count padded with one zero input; row c of the matrix holds 2*m
 * weights:
 *   int16: its 32-bit word r is (W[r][2c], W[r][2c+1]), low half first;
 *   int8:  its word r/2, for the units r, r+1 (r even), is the bytes W[r][2c], W[r+1][2c],
 *          W[r][2c+1], W[r+1][2c+1]: __sxtb16(w) = (W[r][2c], W[r][2c+1]), and SXTB16 with
 *          ROR #8 gives (W[r+1][2c], W[r+1][2c+1]).
 * Either word meets the activation word (v[2c], v[2c+1]) in one SMLAD. A pass adds
 * LG_DSP_PAIRS_W16 (int16) or LG_DSP_PAIRS_W8 (int8) input pairs to every accumulator, so each
 * accumulator is loaded and stored once per pass; the 1..N-1 pairs left over go one at a time.
 *
 * The zero-skipping kernels (lg_mv_nz_*) read the inputs a pair at a time as one 32-bit word,
 * (v[2c], v[2c+1]), and visit only the pairs holding a nonzero input; the pair's other input
 * may be zero, which leaves every sum unchanged. Beyond one load and test per pair, their cost
 * is proportional to the number of such pairs.
 */
#ifndef LG_DSP_H
#define LG_DSP_H

#include <arm_acle.h>
#include <stdint.h>
#include <string.h>

#if !defined(__ARM_FEATURE_DSP) || !defined(__ARM_FEATURE_SIMD32)
#error "lg_dsp.h needs an ARM core with the DSP extension (e.g. -mcpu=cortex-m4 or cortex-m7)"
#endif
#if defined(__ARM_BIG_ENDIAN)
#error "lg_dsp.h reads input pairs as little-endian words"
#endif

/* Input pairs per pass: as many as the 13 usable registers hold without spilling (measured). */
#define LG_DSP_PAIRS_W16 3
#define LG_DSP_PAIRS_W8 4

/* The word (lo, hi) of two int16 lanes, lo in the low half. */
static inline int32_t lg_dsp_pair(int16_t lo, int16_t hi)
{
    return (int32_t)((uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16));
}

/* One 32-bit word of a weight array (memcpy: a single LDR, any alignment of the element type). */
static inline int32_t lg_dsp_word(const void *p)
{
    int32_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* Bytes 1 and 3 of w sign-extended into two int16 lanes: SXTB16 with ROR #8, one instruction
 * (GCC 12 has no __ror and does not fold a shift into __sxtb16). */
static inline int32_t lg_dsp_sxtb16_hi(int32_t w)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}

/* ---- passes: acc[r] (+)= word r of row p[i] . pv[i] over the pairs i, for every r < m ----
 * The NAME variant adds to acc (LOAD = LG_DSP_ADD), the NAMEset variant writes it (LOAD =
 * LG_DSP_SET: the sum starts from 0), for the first pass of a dense product. */
#define LG_DSP_ADD(x) (x)
#define LG_DSP_SET(x) 0

#define LG_DSP_PASSES_W16(SFX, AT, MAC, LOAD)                                                \
    static inline void lg_dsp_pass_w16_##SFX(AT *acc, int32_t m, const int16_t *const *p,   \
                                             const int32_t *pv)                              \
    {                                                                                        \
        const int16_t *p0 = p[0], *p1 = p[1], *p2 = p[2];                                    \
        const int32_t v0 = pv[0], v1 = pv[1], v2 = pv[2];                                    \
        AT *const end = acc + m;                                                             \
        for (; acc != end; ++acc, p0 += 2, p1 += 2, p2 += 2) {                               \
            AT a = LOAD(*acc);                                                               \
            a = MAC(lg_dsp_word(p0), v0, a);                                                 \
            a = MAC(lg_dsp_word(p1), v1, a);                                                 \
            a = MAC(lg_dsp_word(p2), v2, a);                                                 \
            *acc = a;                                                                        \
        }                                                                                    \
    }                                                                                        \
    static inline void lg_dsp_pass1_w16_##SFX(AT *acc, int32_t m, const int16_t *p0,       \
                                              int32_t v0)                                    \
    {                                                                                        \
        AT *const end = acc + m;                                                             \
        for (; acc != end; ++acc, p0 += 2) {                                                 \
            *acc = MAC(lg_dsp_word(p0), v0, LOAD(*acc));                                     \
        }                                                                                    \
    }

#define LG_DSP_PASSES_W8(SFX, AT, MAC, LOAD)                                                 \
    static inline void lg_dsp_pass_w8_##SFX(AT *acc, int32_t m, const int8_t *const *p,     \
                                            const int32_t *pv)                               \
    {                                                                                        \
        const int8_t *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];                         \
        const int32_t v0 = pv[0], v1 = pv[1], v2 = pv[2], v3 = pv[3];                        \
        AT *const end = acc + m;                                                             \
        for (; acc != end; acc += 2, p0 += 4, p1 += 4, p2 += 4, p3 += 4) {                   \
            AT a = LOAD(acc[0]);                                                             \
            AT b = LOAD(acc[1]);                                                             \
            const int32_t w0 = lg_dsp_word(p0);                                              \
            const int32_t w1 = lg_dsp_word(p1);                                              \
            const int32_t w2 = lg_dsp_word(p2);                                              \
            const int32_t w3 = lg_dsp_word(p3);                                              \
            a = MAC(__sxtb16(w0), v0, a);                                                    \
            b = MAC(lg_dsp_sxtb16_hi(w0), v0, b);                                            \
            a = MAC(__sxtb16(w1), v1, a);                                                    \
            b = MAC(lg_dsp_sxtb16_hi(w1), v1, b);                                            \
            a = MAC(__sxtb16(w2), v2, a);                                                    \
            b = MAC(lg_dsp_sxtb16_hi(w2), v2, b);                                            \
            a = MAC(__sxtb16(w3), v3, a);                                                    \
            b = MAC(lg_dsp_sxtb16_hi(w3), v3, b);                                            \
            acc[0] = a;                                                                      \
            acc[1] = b;                                                                      \
        }                                                                                    \
    }                                                                                        \
    static inline void lg_dsp_pass1_w8_##SFX(AT *acc, int32_t m, const int8_t *p0, int32_t v0) \
    {                                                                                        \
        AT *const end = acc + m;                                                             \
        for (; acc != end; acc += 2, p0 += 4) {                                              \
            const int32_t w = lg_dsp_word(p0);                                               \
            acc[0] = MAC(__sxtb16(w), v0, LOAD(acc[0]));                                     \
            acc[1] = MAC(lg_dsp_sxtb16_hi(w), v0, LOAD(acc[1]));                             \
        }                                                                                    \
    }

/* ---- the lg_kernels.h API over input pairs (row c starts at wt + 2*m*c), N pairs a pass ---- */

#define LG_DSP_KERNELS(W, SFX, WT, AT, N)                                                    \
    static inline void lg_mv_w##W##_##SFX(AT *acc, const WT *wt, int32_t m, const int16_t *v, \
                                          int32_t n)                                         \
    {                                                                                        \
        const long stride = 2L * m;                                                          \
        const WT *p[N];                                                                      \
        int32_t pv[N];                                                                       \
        int32_t k = 0;                                                                       \
        int32_t i;                                                                           \
        for (; k + 2 * (N) <= n; k += 2 * (N)) {                                             \
            for (i = 0; i < (N); ++i) {                                                      \
                p[i] = wt + (long)(k / 2 + i) * stride;                                      \
                pv[i] = lg_dsp_pair(v[k + 2 * i], v[k + 2 * i + 1]);                         \
            }                                                                                \
            lg_dsp_pass_w##W##_##SFX(acc, m, p, pv);                                         \
        }                                                                                    \
        for (; k < n; k += 2) { /* an odd n pairs v[n-1] with the zero padding input */      \
            lg_dsp_pass1_w##W##_##SFX(acc, m, wt + (long)(k / 2) * stride,                   \
                                      lg_dsp_pair(v[k], k + 1 < n ? v[k + 1] : 0));          \
        }                                                                                    \
    }                                                                                        \
    static inline void lg_mv_set_w##W##_##SFX(AT *acc, const WT *wt, int32_t m,              \
                                              const int16_t *v, int32_t n)                   \
    {                                                                                        \
        const long stride = 2L * m;                                                          \
        const WT *p[N];                                                                      \
        int32_t i;                                                                           \
        int32_t pv[N];                                                                       \
        if (n >= 2 * (N)) { /* the first pass writes acc, the others add */                  \
            for (i = 0; i < (N); ++i) {                                                      \
                p[i] = wt + (long)i * stride;                                                \
                pv[i] = lg_dsp_pair(v[2 * i], v[2 * i + 1]);                                 \
            }                                                                                \
            lg_dsp_pass_w##W##_##SFX##set(acc, m, p, pv);                                    \
            lg_mv_w##W##_##SFX(acc, wt + (N) * stride, m, v + 2 * (N), n - 2 * (N));         \
        } else {                                                                             \
            lg_dsp_pass1_w##W##_##SFX##set(acc, m, wt, lg_dsp_pair(v[0], n > 1 ? v[1] : 0)); \
            lg_mv_w##W##_##SFX(acc, wt + stride, m, v + 2, n - 2);                           \
        }                                                                                    \
    }                                                                                        \
    static inline void lg_mv_nz_w##W##_##SFX(AT *acc, const WT *wt, int32_t m,               \
                                             const int16_t *v, int32_t n)                    \
    {                                                                                        \
        const long stride = 2L * m;                                                          \
        const int32_t pairs = n / 2;                                                         \
        const WT *p[N];                                                                      \
        int32_t pv[N];                                                                       \
        int32_t np = 0;                                                                      \
        int32_t c;                                                                           \
        int32_t j;                                                                           \
        for (c = 0; c < pairs; ++c) {                                                        \
            const int32_t word = lg_dsp_word(v + 2 * c); /* (v[2c], v[2c+1]) */              \
            if (word == 0) {                                                                 \
                continue;                                                                    \
            }                                                                                \
            p[np] = wt + (long)c * stride;                                                   \
            pv[np] = word;                                                                   \
            if (++np == (N)) {                                                               \
                lg_dsp_pass_w##W##_##SFX(acc, m, p, pv);                                     \
                np = 0;                                                                      \
            }                                                                                \
        }                                                                                    \
        if (n % 2 == 1 && v[n - 1] != 0) { /* an odd n: v[n-1] pairs with the zero input */ \
            p[np] = wt + (long)pairs * stride;                                               \
            pv[np] = lg_dsp_pair(v[n - 1], 0);                                               \
            if (++np == (N)) {                                                               \
                lg_dsp_pass_w##W##_##SFX(acc, m, p, pv);                                     \
                np = 0;                                                                      \
            }                                                                                \
        }                                                                                    \
        for (j = 0; j < np; ++j) {                                                           \
            lg_dsp_pass1_w##W##_##SFX(acc, m, p[j], pv[j]);                                  \
        }                                                                                    \
    }

LG_DSP_PASSES_W16(a32, int32_t, __smlad, LG_DSP_ADD)
LG_DSP_PASSES_W16(a64, int64_t, __smlald, LG_DSP_ADD)
LG_DSP_PASSES_W8(a32, int32_t, __smlad, LG_DSP_ADD)
LG_DSP_PASSES_W8(a64, int64_t, __smlald, LG_DSP_ADD)
LG_DSP_PASSES_W16(a32set, int32_t, __smlad, LG_DSP_SET)
LG_DSP_PASSES_W16(a64set, int64_t, __smlald, LG_DSP_SET)
LG_DSP_PASSES_W8(a32set, int32_t, __smlad, LG_DSP_SET)
LG_DSP_PASSES_W8(a64set, int64_t, __smlald, LG_DSP_SET)
LG_DSP_KERNELS(16, a32, int16_t, int32_t, LG_DSP_PAIRS_W16)
LG_DSP_KERNELS(16, a64, int16_t, int64_t, LG_DSP_PAIRS_W16)
LG_DSP_KERNELS(8, a32, int8_t, int32_t, LG_DSP_PAIRS_W8)
LG_DSP_KERNELS(8, a64, int8_t, int64_t, LG_DSP_PAIRS_W8)

#undef LG_DSP_ADD
#undef LG_DSP_SET
#undef LG_DSP_PASSES_W16
#undef LG_DSP_PASSES_W8
#undef LG_DSP_KERNELS

#endif /* LG_DSP_H */
