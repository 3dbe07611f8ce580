/* lg_fixed.h - lstmgen fixed-point primitives (hand-written, copied verbatim by the generator).
 *
 * The C counterpart of lstmgen/fixedpoint.py and golden.table_lookup: one function per helper,
 * one rounding rule (round half up on right shifts, exact left shifts, then saturate).
 * Every intermediate of the int64_t helpers fits: the IR guarantees no value exceeds 62 bits.
 * The *32 helpers compute the same numbers in int32_t (cheaper on a 32-bit core); the generator
 * uses one only where it has proved, from the IR's bounds, the precondition stated above it.
 *
 * lstmgen requires an arithmetic right shift of negative signed integers (implementation-defined
 * in C99, true of every compiler lstmgen targets); the typedef below fails to compile otherwise.
 * Left shifts of negative values are undefined in C99, so they are written as multiplications.
 */
#ifndef LG_FIXED_H
#define LG_FIXED_H

#include <stdint.h>
#if defined(LG_DSP) || defined(LG_MVE)
#define LG_SSAT 1
#include <arm_acle.h> /* __ssat: SSAT, the saturation below in one instruction; __smlad */
#include <string.h>   /* memcpy: a table's entry pair read as one word */
#endif

typedef char lg_requires_arithmetic_right_shift[(((int64_t)-1 >> 1) == -1) ? 1 : -1];
typedef char lg_requires_arithmetic_right_shift32[(((int32_t)-1 >> 1) == -1) ? 1 : -1];

/* A sampled activation: entry k belongs to input code lo + k * 2^shift (see lstmgen.ir.ActTable). */
typedef struct {
    const int16_t *values;
    int32_t n;
    int32_t lo;
    int32_t shift;
    int32_t interp;
} lg_table;

/* x * 2^s for 0 <= s <= 30 without shifting a negative value. */
static inline int32_t lg_shl32(int32_t x, int32_t s)
{
    return x * ((int32_t)1 << s);
}

/* x * 2^s for 0 <= s <= 62 without shifting a negative value. */
static inline int64_t lg_shl64(int64_t x, int32_t s)
{
    return x * ((int64_t)1 << s);
}

/* fixedpoint.shift_round: s > 0 shifts right rounding half up, s <= 0 shifts left exactly. */
static inline int64_t lg_shift_round(int64_t x, int32_t s)
{
    if (s > 0) {
        return (x + ((int64_t)1 << (s - 1))) >> s;
    }
    return lg_shl64(x, -s);
}

/* fixedpoint.saturate: clamp x to the signed bits-wide range (2 <= bits <= 63). */
static inline int64_t lg_saturate(int64_t x, int32_t bits)
{
    const int64_t hi = ((int64_t)1 << (bits - 1)) - 1;
    const int64_t lo = -hi - 1;
    return x > hi ? hi : (x < lo ? lo : x);
}

/* fixedpoint.rescale: saturate(shift_round(x, s), bits). */
static inline int64_t lg_rescale(int64_t x, int32_t s, int32_t bits)
{
    return lg_saturate(lg_shift_round(x, s), bits);
}

/* lg_shift_round in int32_t. Requires: s <= 31, and for s > 0 x + 2^(s-1) <= INT32_MAX,
 * for s <= 0 -s <= 30 and x * 2^-s in int32_t range. */
static inline int32_t lg_shift_round32(int32_t x, int32_t s)
{
    if (s > 0) {
        return (x + ((int32_t)1 << (s - 1))) >> s;
    }
    return lg_shl32(x, -s);
}

/* lg_saturate in int32_t (2 <= bits <= 32). With LG_DSP (ARM DSP cores) the common widths use
 * SSAT, the same clamp (GCC does not form it itself once the bounds are hoisted out of a loop).
 * GCC 12's arm_acle.h assigns __builtin_arm_ssat's result (declared unsigned) to an int32_t
 * inside the __ssat macro, which -Wsign-conversion reports at every use; the value is SSAT's
 * signed result, so that one warning is silenced around this function only. (LG_SSAT: the DSP
 * or MVE kernels are in use, so the core has SSAT.) */
#if defined(LG_SSAT) && defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
#endif
static inline int32_t lg_saturate32(int32_t x, int32_t bits)
{
    const int32_t hi = (int32_t)(((uint32_t)1 << (bits - 1)) - 1u);
    const int32_t lo = -hi - 1;
#if defined(LG_SSAT)
    if (bits == 16) {
        return __ssat(x, 16);
    }
    if (bits == 8) {
        return __ssat(x, 8);
    }
#endif
    return x > hi ? hi : (x < lo ? lo : x);
}
#if defined(LG_SSAT) && defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* lg_rescale in int32_t; requires what lg_shift_round32 requires. */
static inline int32_t lg_rescale32(int32_t x, int32_t s, int32_t bits)
{
    return lg_saturate32(lg_shift_round32(x, s), bits);
}

/* lg_rescale of an int64_t operand whose shifted value lg_shift_round(x, s) is in int32_t range
 * (then saturated in int32_t, 2 <= bits <= 32). */
static inline int32_t lg_rescale64_32(int64_t x, int32_t s, int32_t bits)
{
    return lg_saturate32((int32_t)lg_shift_round(x, s), bits);
}

/* Where code p falls in table t: the entry index (out-of-range codes clamp to the end entries)
 * and, in *r, the interpolation fraction d mod 2^shift (0 for plain tables and clamped codes). */
static inline int32_t lg_table_pos(const lg_table *t, int32_t p, int32_t *r)
{
    const int32_t d = p - t->lo;
    int32_t idx;
    *r = 0;
    if (d < 0) {
        return 0;
    }
    idx = d >> t->shift;
    if (idx >= t->n - 1) {
        return t->n - 1;
    }
    if (t->interp && t->shift > 0) {
        *r = d & (((int32_t)1 << t->shift) - 1);
    }
    return idx;
}

/* golden.table_lookup: values[idx] + round((values[idx+1] - values[idx]) * r / 2^shift). */
static inline int16_t lg_table_lookup(const lg_table *t, int32_t p)
{
    int32_t r;
    const int32_t idx = lg_table_pos(t, p, &r);
    if (r == 0) {
        return t->values[idx];
    }
    return (int16_t)(t->values[idx]
                     + lg_shift_round((int64_t)(t->values[idx + 1] - t->values[idx]) * r, t->shift));
}

/* lg_table_lookup with the interpolation product in int32_t. Requires (the generator checks the
 * entries): |values[k+1] - values[k]| * (2^shift - 1) + 2^(shift-1) <= INT32_MAX for every k.
 *
 * On cores with the DSP extension and shift <= 15 the interpolation is one SMLAD on the entry
 * pair (values[idx], values[idx+1]), read as one word: v0 + round((v1 - v0) * r / 2^s) equals
 * (v0 * (2^s - r) + v1 * r + 2^(s-1)) >> s exactly (v0 * 2^s is a multiple of 2^s), both
 * weights fit an int16 lane (1 <= r < 2^s <= 2^15) and the sum int32 (|.| <= 2^30 + 2^14). */
static inline int16_t lg_table_lookup32(const lg_table *t, int32_t p)
{
    int32_t r;
    const int32_t idx = lg_table_pos(t, p, &r);
    if (r == 0) {
        return t->values[idx];
    }
#if defined(__ARM_FEATURE_DSP) && defined(LG_SSAT)
    if (t->shift <= 15) {
        int32_t pair;
        memcpy(&pair, t->values + idx, sizeof pair); /* one LDR: (v0, v1), v0 in the low half */
        return (int16_t)(__smlad(pair,
                                 (int32_t)((uint32_t)(((int32_t)1 << t->shift) - r) | ((uint32_t)r << 16)),
                                 (int32_t)1 << (t->shift - 1)) >> t->shift);
    }
#endif
    return (int16_t)(t->values[idx]
                     + lg_shift_round32((int32_t)(t->values[idx + 1] - t->values[idx]) * r, t->shift));
}

#endif /* LG_FIXED_H */
