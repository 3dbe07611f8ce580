/* lg_tlstm.h - lstmgen tensorized-LSTM kernels (hand-written, copied verbatim by the generator).
 *
 * The C counterparts of lstmgen/golden_tlstm.py's products and softmax. A tLSTM step is a
 * convolution along its P locations with one kernel shared by all of them: each (location,
 * kernel offset) pair is a small matrix-vector product of a gate's M x M (or K x M) kernel slice
 * with one row of M channels. The kernels here are its dot products, one output channel at a
 * time, over weights stored row-major (w[j * n + m]: output channel j, input channel m):
 *
 *   lg_tl_dot_w{16,8}_a{32,64}(w, v, n)        sum_{m < n} w[m] * v[m]
 *   lg_tl_mv4_w{16,8}_a{32,64}(w, n, v, acc)   acc[r] += sum_{m < n} w[r * n + m] * v[m], r < 4
 *
 * (w16/w8: int16/int8 weights; a32/a64: int32/int64 sums; mv4: four consecutive output channels
 * at once, each input pair loaded once for all four). Requires: no partial sum of a channel
 * overflows its type; lstmgen proves it from the stored weights (lstmgen.plan's
 * TlstmGateSites, a bound per output channel), so the summation order never changes a result.
 * With LG_DSP (ARM cores with the DSP extension) the int16 weights and inputs are taken two at a
 * time as one 32-bit word into SMLAD / SMLALD (exact: the true sum fits the result, and the
 * instructions compute it modulo 2^32 / 2^64 without rounding); elsewhere plain C.
 *
 *   lg_tl_softmax(q, n, exp, w)   golden_tlstm.softmax_weights: the memory kernel's Q.15 weights
 */
#ifndef LG_TLSTM_H
#define LG_TLSTM_H

#include <stdint.h>
#include <string.h>

#include "lg_fixed.h"

#if defined(LG_DSP)
#include <arm_acle.h>

/* Two consecutive int16 values as one word (the low half is v[0]; little-endian ARM). */
static inline int32_t lg_tl_pair16(const int16_t *v)
{
    int32_t u;
    memcpy(&u, v, sizeof u);
    return u;
}

/* Two consecutive int8 weights widened to one word of two int16 halves (w[0] low). */
static inline int32_t lg_tl_pair8(const int8_t *w)
{
    return (int32_t)((uint32_t)(uint16_t)(int16_t)w[0] | ((uint32_t)(uint16_t)(int16_t)w[1] << 16));
}

static inline int32_t lg_tl_dot_w16_a32(const int16_t *w, const int16_t *v, int32_t n)
{
    int32_t acc = 0;
    int32_t k = 0;
    for (; k + 1 < n; k += 2) {
        acc = __smlad(lg_tl_pair16(w + k), lg_tl_pair16(v + k), acc);
    }
    if (k < n) {
        acc += (int32_t)w[k] * v[k];
    }
    return acc;
}

static inline int64_t lg_tl_dot_w16_a64(const int16_t *w, const int16_t *v, int32_t n)
{
    int64_t acc = 0;
    int32_t k = 0;
    for (; k + 1 < n; k += 2) {
        acc = __smlald(lg_tl_pair16(w + k), lg_tl_pair16(v + k), acc);
    }
    if (k < n) {
        acc += (int64_t)w[k] * v[k];
    }
    return acc;
}

static inline int32_t lg_tl_dot_w8_a32(const int8_t *w, const int16_t *v, int32_t n)
{
    int32_t acc = 0;
    int32_t k = 0;
    for (; k + 1 < n; k += 2) {
        acc = __smlad(lg_tl_pair8(w + k), lg_tl_pair16(v + k), acc);
    }
    if (k < n) {
        acc += (int32_t)w[k] * v[k];
    }
    return acc;
}

static inline int64_t lg_tl_dot_w8_a64(const int8_t *w, const int16_t *v, int32_t n)
{
    int64_t acc = 0;
    int32_t k = 0;
    for (; k + 1 < n; k += 2) {
        acc = __smlald(lg_tl_pair8(w + k), lg_tl_pair16(v + k), acc);
    }
    if (k < n) {
        acc += (int64_t)w[k] * v[k];
    }
    return acc;
}

/* Four channels: rows w, w + n, w + 2n, w + 3n against v; PAIR loads two weights as a word. */
#define LG_TL_MV4(NAME, WT, AT, MAC, PAIR)                                                    \
    static inline void NAME(const WT *w, int32_t n, const int16_t *v, AT *acc)                \
    {                                                                                         \
        AT a0 = acc[0];                                                                       \
        AT a1 = acc[1];                                                                       \
        AT a2 = acc[2];                                                                       \
        AT a3 = acc[3];                                                                       \
        int32_t k = 0;                                                                        \
        for (; k + 1 < n; k += 2) {                                                           \
            const int32_t x = lg_tl_pair16(v + k);                                            \
            a0 = MAC(PAIR(w + k), x, a0);                                                     \
            a1 = MAC(PAIR(w + n + k), x, a1);                                                 \
            a2 = MAC(PAIR(w + 2 * n + k), x, a2);                                             \
            a3 = MAC(PAIR(w + 3 * n + k), x, a3);                                             \
        }                                                                                     \
        if (k < n) {                                                                          \
            a0 += (AT)w[k] * v[k];                                                            \
            a1 += (AT)w[n + k] * v[k];                                                        \
            a2 += (AT)w[2 * n + k] * v[k];                                                    \
            a3 += (AT)w[3 * n + k] * v[k];                                                    \
        }                                                                                     \
        acc[0] = a0;                                                                          \
        acc[1] = a1;                                                                          \
        acc[2] = a2;                                                                          \
        acc[3] = a3;                                                                          \
    }

LG_TL_MV4(lg_tl_mv4_w16_a32, int16_t, int32_t, __smlad, lg_tl_pair16)
LG_TL_MV4(lg_tl_mv4_w16_a64, int16_t, int64_t, __smlald, lg_tl_pair16)
LG_TL_MV4(lg_tl_mv4_w8_a32, int8_t, int32_t, __smlad, lg_tl_pair8)
LG_TL_MV4(lg_tl_mv4_w8_a64, int8_t, int64_t, __smlald, lg_tl_pair8)

#undef LG_TL_MV4

#else

#define LG_TL_MV4(NAME, WT, AT)                                                               \
    static inline void NAME(const WT *w, int32_t n, const int16_t *v, AT *acc)                \
    {                                                                                         \
        AT a0 = acc[0];                                                                       \
        AT a1 = acc[1];                                                                       \
        AT a2 = acc[2];                                                                       \
        AT a3 = acc[3];                                                                       \
        int32_t k;                                                                            \
        for (k = 0; k < n; ++k) {                                                             \
            const AT x = v[k];                                                                \
            a0 += (AT)w[k] * x;                                                               \
            a1 += (AT)w[n + k] * x;                                                           \
            a2 += (AT)w[2 * n + k] * x;                                                       \
            a3 += (AT)w[3 * n + k] * x;                                                       \
        }                                                                                     \
        acc[0] = a0;                                                                          \
        acc[1] = a1;                                                                          \
        acc[2] = a2;                                                                          \
        acc[3] = a3;                                                                          \
    }

LG_TL_MV4(lg_tl_mv4_w16_a32, int16_t, int32_t)
LG_TL_MV4(lg_tl_mv4_w16_a64, int16_t, int64_t)
LG_TL_MV4(lg_tl_mv4_w8_a32, int8_t, int32_t)
LG_TL_MV4(lg_tl_mv4_w8_a64, int8_t, int64_t)

#undef LG_TL_MV4

#define LG_TL_DOT(NAME, WT, AT)                                                               \
    static inline AT NAME(const WT *w, const int16_t *v, int32_t n)                           \
    {                                                                                         \
        AT acc = 0;                                                                           \
        int32_t k;                                                                            \
        for (k = 0; k < n; ++k) {                                                             \
            acc += (AT)w[k] * v[k];                                                           \
        }                                                                                     \
        return acc;                                                                           \
    }

LG_TL_DOT(lg_tl_dot_w16_a32, int16_t, int32_t)
LG_TL_DOT(lg_tl_dot_w16_a64, int16_t, int64_t)
LG_TL_DOT(lg_tl_dot_w8_a32, int8_t, int32_t)
LG_TL_DOT(lg_tl_dot_w8_a64, int8_t, int64_t)

#undef LG_TL_DOT

#endif /* LG_DSP */

/* golden_tlstm.softmax_weights on n >= 1 logits q (16-bit codes in exp's input format):
 *   m = max q;  e[k] = exp(saturate(q[k] - m, 16));  S = sum e;  r = (2^30 + S/2) / S;
 *   w[k] = shift_round(e[k] * r, 15)                 (Q.15 weights, written to w[0..n))
 * Requires the IR's exp table (checked by lstmgen.ir.tlstm.ExpTable): entries >= 0, the one at
 * input 0 the largest and >= 2^14. Then S >= 2^14, r <= 2^16 + 1 and e[k] * r + 2^14 < 2^31:
 * every value fits int32 and the division has positive operands (C's truncation is the floor). */
static inline void lg_tl_softmax(const int16_t *q, int32_t n, const lg_table *exp, int32_t *w)
{
    int32_t k;
    int32_t m = q[0];
    int32_t s = 0;
    int32_t r;
    for (k = 1; k < n; ++k) {
        if (q[k] > m) {
            m = q[k];
        }
    }
    for (k = 0; k < n; ++k) {
        w[k] = lg_table_lookup(exp, lg_saturate32((int32_t)q[k] - m, 16));
        s += w[k];
    }
    r = (((int32_t)1 << 30) + (s >> 1)) / s;
    for (k = 0; k < n; ++k) {
        w[k] = lg_shift_round32(w[k] * r, 15);
    }
}

#endif /* LG_TLSTM_H */
