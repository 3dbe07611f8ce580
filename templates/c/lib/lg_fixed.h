/* lg_fixed.h - lstmgen fixed-point primitives (hand-written, copied verbatim by the generator).
 *
 * The C counterpart of lstmgen/fixedpoint.py and golden.table_lookup: one function per helper,
 * one rounding rule (round half up on right shifts, exact left shifts, then saturate).
 * Every intermediate is held in int64_t; the IR guarantees no value exceeds 62 bits.
 *
 * lstmgen requires an arithmetic right shift of negative signed integers (implementation-defined
 * in C99, true of every compiler lstmgen targets); the typedef below fails to compile otherwise.
 * Left shifts of negative values are undefined in C99, so they are written as multiplications.
 */
#ifndef LG_FIXED_H
#define LG_FIXED_H

#include <stdint.h>

typedef char lg_requires_arithmetic_right_shift[(((int64_t)-1 >> 1) == -1) ? 1 : -1];

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

/* golden.table_lookup: out-of-range codes clamp to the end entries; optional interpolation. */
static inline int16_t lg_table_lookup(const lg_table *t, int32_t p)
{
    const int32_t d = p - t->lo;
    int32_t idx;
    int32_t r;
    if (d < 0) {
        return t->values[0];
    }
    idx = d >> t->shift;
    if (idx >= t->n - 1) {
        return t->values[t->n - 1];
    }
    if (!t->interp || t->shift == 0) {
        return t->values[idx];
    }
    r = d & (((int32_t)1 << t->shift) - 1);
    return (int16_t)(t->values[idx]
                     + lg_shift_round((int64_t)(t->values[idx + 1] - t->values[idx]) * r, t->shift));
}

#endif /* LG_FIXED_H */
