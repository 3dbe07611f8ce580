/* lg_dsp.h - lstmgen matrix-vector kernels for ARM cores with the DSP extension (Cortex-M4/M7),
 * hand-written, copied verbatim by the generator for --cpu cortex-m4 / cortex-m7 (the model
 * defines LG_DSP, and lg_kernels.h then includes this file instead of its portable kernels).
 *
 * The same functions, signatures and results as the portable kernels of lg_kernels.h (r < m, m
 * a multiple of LG_BLOCK), register-blocked: the rows go in blocks of LG_DSP_ROWS = 4, and a
 * block's 4 accumulators stay in registers over the whole input loop (output-stationary); its
 * weights are one straight run of 32-bit words, each met by one SMLAD (two 16x16-bit products
 * added into 32 bits; SMLALD into 64 bits), int8 weights widened two at a time by SXTB16. The
 * input pair (v[2c], v[2c+1]) is loaded once per block as one word. The caller guarantees that
 * no partial sum overflows the accumulator (lstmgen proves it from the stored weights), so the
 * summation order never changes a result.
 *
 * Weight layout (lstmgen.targets.c emits it when LG_DSP is set). The inputs go in pairs
 * (2c, 2c+1), c < P = ceil(n / 2), an odd n padded with one zero input; block b (rows 4b..4b+3)
 * starts at element 8 * P * b and holds, for c = 0 .. P-1, the pair's weights of its 4 rows:
 *   int16: 4 words, word j = (W[4b+j][2c], W[4b+j][2c+1]), low half first;
 *   int8:  2 words, word j = bytes W[r][2c], W[r+1][2c], W[r][2c+1], W[r+1][2c+1] for the rows
 *          r = 4b+2j, r+1: __sxtb16(w) = (W[r][2c], W[r][2c+1]), and SXTB16 with ROR #8 gives
 *          (W[r+1][2c], W[r+1][2c+1]).
 * Either way a pair takes 16 (int16) or 8 (int8) bytes of a block. The dual-row int8 kernels
 * (lg_mv_*_w8r_a32, int32 accumulators) read the int8 layout with the odd rows' bytes offset
 * (see their section below): the generator uses them wherever that layout exists.
 *
 * The hot loops are GCC inline assembly with every value in a register operand, so they cannot
 * spill (tests/test_mcu_kernels.py checks the disassembly: no stack access between a loop's
 * label and its branch back), and their instruction order is fixed: a pair's loads run back to
 * back (the Cortex-M4 pipelines neighbouring loads: 1 cycle each after the first), then its
 * multiply-accumulates. Estimated Cortex-M4 cycles per pair and 4-row block (zero wait states):
 *   w16_a32: 5 loads (6) + 4 SMLAD                                  = 10 per 8 mult-adds
 *   w8r_a32: 3 loads (4) + 2 SXTB16 + 2 SMLALD + 2 SMLAD             = 10 per 8
 *   w8_a32:  3 loads (4) + 4 SXTB16 + 4 SMLAD                        = 12 per 8
 *   w16_a64: 5 loads (x and one weight pipelined: 9) + 4 SMLALD     = 13 per 8 (8 accumulator
 *            registers leave one for the weights)
 *   w8_a64:  the block in two halves of 2 rows: 2 loads (3) + 2 SXTB16 + 2 SMLALD, per 4
 * plus a taken branch (3) and a compare per 32 pairs (a32; then 8, then one at a time) or 4
 * pairs (a64) of the dense loop. A block's accumulators start from its acc entries or, for the
 * writing forms (set), from zero; the loop over the blocks runs in one non-inline function per
 * kernel type, so the hot loop exists once.
 *
 * The zero-skipping kernels (lg_mv_nz_*; lg_mv_nz_set_* write their accumulators) read the
 * inputs a pair at a time as one 32-bit word and count the pairs holding a nonzero input. When at least LG_DSP_DENSE_NUM /
 * LG_DSP_DENSE_DEN of the pairs do, the dense loop over all pairs is cheaper and runs (a zero
 * pair adds zero); otherwise they list up to LG_NZ_CHUNK nonzero pairs at a time (the pair's
 * byte offset in a block and its input word, on the stack) and run every block over the list
 * (two entries a turn for a32, an odd count padded with a zero entry; one a turn, up to a
 * sentinel, for w16_a64, whose 8 accumulator registers leave none for an end pointer). Either
 * way a result never depends on which ran.
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
#if !defined(__GNUC__)
#error "lg_dsp.h uses GNU C inline assembly (GCC or Clang)"
#endif

#define LG_DSP_ROWS 4 /* rows per register block */
#define LG_DSP_INLINE static inline __attribute__((always_inline)) /* the block loops */
#define LG_DSP_DENSE_NUM 2 /* the zero-skipping kernels run the dense loop when at least */
#define LG_DSP_DENSE_DEN 3 /* NUM/DEN of the input pairs hold a nonzero input */

/* The word (lo, hi) of two int16 lanes, lo in the low half. */
static inline int32_t lg_dsp_pair(int16_t lo, int16_t hi)
{
    return (int32_t)((uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16));
}

/* One 32-bit word at p (memcpy: a single LDR, any alignment of the element type). */
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

/* ---- the assembly bodies: one input pair of one block ------------------------------------
 * Operands: a0..a3 accumulators (a64: a0, a1 as register pairs), x the input word, w0..w3
 * weight words, wp the block's weight pointer (advanced by the pair's bytes). */

/* int16 weights, int32 accumulators: 4 words, 4 SMLAD. XLOAD loads x. */
#define LG_DSP_BODY_W16_A32(XLOAD)                                                           \
    XLOAD                                                                                    \
    "ldr %[w1], [%[wp], #4]\n\t"                                                             \
    "ldr %[w2], [%[wp], #8]\n\t"                                                             \
    "ldr %[w3], [%[wp], #12]\n\t"                                                            \
    "ldr %[w0], [%[wp]], #16\n\t"                                                            \
    "smlad %[a0], %[w0], %[x], %[a0]\n\t"                                                    \
    "smlad %[a1], %[w1], %[x], %[a1]\n\t"                                                    \
    "smlad %[a2], %[w2], %[x], %[a2]\n\t"                                                    \
    "smlad %[a3], %[w3], %[x], %[a3]\n\t"

/* int8 weights, int32 accumulators: 2 words, 4 SXTB16, 4 SMLAD. */
#define LG_DSP_BODY_W8_A32(XLOAD)                                                            \
    XLOAD                                                                                    \
    "ldr %[w1], [%[wp], #4]\n\t"                                                             \
    "ldr %[w0], [%[wp]], #8\n\t"                                                             \
    "sxtb16 %[w2], %[w0]\n\t"                                                                \
    "sxtb16 %[w0], %[w0], ror #8\n\t"                                                        \
    "sxtb16 %[w3], %[w1]\n\t"                                                                \
    "sxtb16 %[w1], %[w1], ror #8\n\t"                                                        \
    "smlad %[a0], %[w2], %[x], %[a0]\n\t"                                                    \
    "smlad %[a1], %[w0], %[x], %[a1]\n\t"                                                    \
    "smlad %[a2], %[w3], %[x], %[a2]\n\t"                                                    \
    "smlad %[a3], %[w1], %[x], %[a3]\n\t"

/* int16 weights, int64 accumulators: 4 words, 4 SMLALD (8 accumulator registers leave one
 * for the weights). */
#define LG_DSP_BODY_W16_A64(XLOAD)                                                           \
    XLOAD                                                                                    \
    "ldr %[w], [%[wp]], #4\n\t"                                                              \
    "smlald %Q[a0], %R[a0], %[w], %[x]\n\t"                                                  \
    "ldr %[w], [%[wp]], #4\n\t"                                                              \
    "smlald %Q[a1], %R[a1], %[w], %[x]\n\t"                                                  \
    "ldr %[w], [%[wp]], #4\n\t"                                                              \
    "smlald %Q[a2], %R[a2], %[w], %[x]\n\t"                                                  \
    "ldr %[w], [%[wp]], #4\n\t"                                                              \
    "smlald %Q[a3], %R[a3], %[w], %[x]\n\t"

/* int8 weights, int64 accumulators, one half (2 rows): one word of the pair's 8 bytes. */
#define LG_DSP_BODY_W8_A64(XLOAD)                                                            \
    XLOAD                                                                                    \
    "ldr %[w0], [%[wp]], #8\n\t"                                                             \
    "sxtb16 %[w1], %[w0]\n\t"                                                                \
    "sxtb16 %[w0], %[w0], ror #8\n\t"                                                        \
    "smlald %Q[a0], %R[a0], %[w1], %[x]\n\t"                                                 \
    "smlald %Q[a1], %R[a1], %[w0], %[x]\n\t"

/* The input word of the dense loops: the next pair of v. */
#define LG_DSP_X_DENSE "ldr %[x], [%[xp]], #4\n\t"

/* The list loops: two entries (a pair's byte offset o in a block, its input word x) per turn,
 * weights loaded from base + o with LDM (an odd entry count gets a zero entry: offset 0, word
 * 0). LDM needs its registers in ascending order, so the list loops pin theirs (r7, the Thumb
 * frame pointer, and sp are never named): w0 w1 = r0 r1, o0 x0 o1 x1 = r4 r5 r6 r8, the
 * accumulators r2 r3 r9 r10 (a64: r2:r3, r9:r10), base r11, end r12, the list pointer lr.
 * After its LDM an entry's offset register is free and serves as a temporary (t). */
#define LG_DSP_LIST_REGS                                                                     \
    register int32_t w0 __asm__("r0");                                                       \
    register int32_t w1 __asm__("r1");                                                       \
    register int32_t o0 __asm__("r4");                                                       \
    register int32_t x0 __asm__("r5");                                                       \
    register int32_t o1 __asm__("r6");                                                       \
    register int32_t x1 __asm__("r8");                                                       \
    register const char *base __asm__("r11");                                                \
    register const int32_t *end __asm__("r12") = lend;                                       \
    register const int32_t *xp __asm__("lr") = lst;
#define LG_DSP_LIST_OPERANDS                                                                 \
    [xp] "+r"(xp), [o0] "=&r"(o0), [x0] "=&r"(x0), [o1] "=&r"(o1), [x1] "=&r"(x1),           \
        [w0] "=&r"(w0), [w1] "=&r"(w1)
#define LG_DSP_LIST_LOOP(ENTRY)                                                              \
    "1:\n\t"                                                                                 \
    "ldm %[xp]!, {%[o0], %[x0], %[o1], %[x1]}\n\t"                                           \
    ENTRY("o0", "x0") ENTRY("o1", "x1")                                                      \
    "cmp %[xp], %[end]\n\t"                                                                  \
    "bne 1b\n\t"
/* One entry: its offset register O, its word X (operand names as strings). */
#define LG_DSP_LIST_W16_A32(O, X)                                                            \
    "add %[" O "], %[" O "], %[wb]\n\t"                                                      \
    "ldm %[" O "], {%[w0], %[w1]}\n\t"                                                       \
    "smlad %[a0], %[w0], %[" X "], %[a0]\n\t"                                                \
    "smlad %[a1], %[w1], %[" X "], %[a1]\n\t"                                                \
    "ldrd %[w0], %[w1], [%[" O "], #8]\n\t"                                                  \
    "smlad %[a2], %[w0], %[" X "], %[a2]\n\t"                                                \
    "smlad %[a3], %[w1], %[" X "], %[a3]\n\t"
#define LG_DSP_LIST_W8_A32(O, X)                                                             \
    "add %[" O "], %[" O "], %[wb]\n\t"                                                      \
    "ldm %[" O "], {%[w0], %[w1]}\n\t"                                                       \
    "sxtb16 %[" O "], %[w0]\n\t"                                                             \
    "sxtb16 %[w0], %[w0], ror #8\n\t"                                                        \
    "smlad %[a0], %[" O "], %[" X "], %[a0]\n\t"                                             \
    "smlad %[a1], %[w0], %[" X "], %[a1]\n\t"                                                \
    "sxtb16 %[" O "], %[w1]\n\t"                                                             \
    "sxtb16 %[w1], %[w1], ror #8\n\t"                                                        \
    "smlad %[a2], %[" O "], %[" X "], %[a2]\n\t"                                             \
    "smlad %[a3], %[w1], %[" X "], %[a3]\n\t"
#define LG_DSP_LIST_W16_A64(O, X)                                                            \
    "add %[" O "], %[" O "], %[wb]\n\t"                                                      \
    "ldm %[" O "], {%[w0], %[w1]}\n\t"                                                       \
    "smlald %Q[a0], %R[a0], %[w0], %[" X "]\n\t"                                             \
    "smlald %Q[a1], %R[a1], %[w1], %[" X "]\n\t"
#define LG_DSP_LIST_W8_A64(O, X)                                                             \
    "ldr %[w0], [%[" O "], %[wb]]\n\t"                                                       \
    "sxtb16 %[w1], %[w0]\n\t"                                                                \
    "sxtb16 %[w0], %[w0], ror #8\n\t"                                                        \
    "smlald %Q[a0], %R[a0], %[w1], %[" X "]\n\t"                                             \
    "smlald %Q[a1], %R[a1], %[w0], %[" X "]\n\t"

#define LG_DSP_REP4(s) s s s s
#define LG_DSP_REP8(s) LG_DSP_REP4(s) LG_DSP_REP4(s)
#define LG_DSP_REP16(s) LG_DSP_REP8(s) LG_DSP_REP8(s)
#define LG_DSP_REP32(s) LG_DSP_REP16(s) LG_DSP_REP16(s)

/* ---- one block: rows 4b..4b+3 over all input pairs -------------------------------------- */

/* a32 kernels: the dense block adds pairs [0, n/2) of v (32 pairs per loop turn, then 8, then
 * one at a time) and the odd input; the list block adds the listed pairs. */
#define LG_DSP_BLOCK_A32(W, WT)                                                              \
    LG_DSP_INLINE const WT *lg_dsp_block_w##W##_a32(int32_t *acc, const int32_t *init,          \
                                              const WT *wp, const int16_t *v, int32_t n)     \
    {                                                                                        \
        int32_t a0 = init[0], a1 = init[1], a2 = init[2], a3 = init[3];                      \
        int32_t x, w0, w1, w2, w3;                                                           \
        const int16_t *xp = v;                                                               \
        const int16_t *const end32 = v + 64 * (n / 64);                                      \
        const int16_t *const end8 = v + 16 * (n / 16);                                       \
        const int16_t *const end1 = v + 2 * (n / 2);                                         \
        if (n >= 64) {                                                                       \
            __asm__("1:\n\t" LG_DSP_REP32(LG_DSP_BODY_W##W##_A32(LG_DSP_X_DENSE))            \
                    "cmp %[xp], %[end]\n\t"                                                  \
                    "bne 1b\n\t"                                                             \
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),            \
                      [xp] "+r"(xp), [wp] "+r"(wp), [x] "=&r"(x), [w0] "=&r"(w0),            \
                      [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)                         \
                    : [end] "r"(end32)                                                       \
                    : "cc", "memory");                                                       \
        }                                                                                    \
        if (n % 64 >= 16) {                                                                  \
            __asm__("1:\n\t" LG_DSP_REP8(LG_DSP_BODY_W##W##_A32(LG_DSP_X_DENSE))             \
                    "cmp %[xp], %[end]\n\t"                                                  \
                    "bne 1b\n\t"                                                             \
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),            \
                      [xp] "+r"(xp), [wp] "+r"(wp), [x] "=&r"(x), [w0] "=&r"(w0),            \
                      [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)                         \
                    : [end] "r"(end8)                                                        \
                    : "cc", "memory");                                                       \
        }                                                                                    \
        if (n % 16 >= 2) {                                                                   \
            __asm__("1:\n\t" LG_DSP_BODY_W##W##_A32(LG_DSP_X_DENSE)                          \
                    "cmp %[xp], %[end]\n\t"                                                  \
                    "bne 1b\n\t"                                                             \
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),            \
                      [xp] "+r"(xp), [wp] "+r"(wp), [x] "=&r"(x), [w0] "=&r"(w0),            \
                      [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)                         \
                    : [end] "r"(end1)                                                        \
                    : "cc", "memory");                                                       \
        }                                                                                    \
        if (n % 2 == 1) { /* the odd input meets the zero padding input */                   \
            const int32_t xo = lg_dsp_pair(v[n - 1], 0);                                     \
            __asm__(LG_DSP_BODY_W##W##_A32("")                                               \
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),            \
                      [wp] "+r"(wp), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2),         \
                      [w3] "=&r"(w3)                                                         \
                    : [x] "r"(xo)                                                            \
                    : "memory");                                                             \
        }                                                                                    \
        acc[0] = a0;                                                                         \
        acc[1] = a1;                                                                         \
        acc[2] = a2;                                                                         \
        acc[3] = a3;                                                                         \
        return wp; /* the next block's weights */                                           \
    }                                                                                        \
    LG_DSP_INLINE void lg_dsp_list_w##W##_a32(int32_t *acc, const int32_t *init,             \
                                             const WT *wb, const int32_t *lst,               \
                                             const int32_t *lend)                            \
    {                                                                                        \
        LG_DSP_LIST_REGS                                                                     \
        register int32_t a0 __asm__("r2") = init[0];                                         \
        register int32_t a1 __asm__("r3") = init[1];                                         \
        register int32_t a2 __asm__("r9") = init[2];                                         \
        register int32_t a3 __asm__("r10") = init[3];                                        \
        base = (const char *)wb;                                                             \
        __asm__(LG_DSP_LIST_LOOP(LG_DSP_LIST_W##W##_A32)                                     \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),                \
                  LG_DSP_LIST_OPERANDS                                                       \
                : [end] "r"(end), [wb] "r"(base)                                             \
                : "cc", "memory");                                                           \
        acc[0] = a0;                                                                         \
        acc[1] = a1;                                                                         \
        acc[2] = a2;                                                                         \
        acc[3] = a3;                                                                         \
    }

/* int8 weights, int64 accumulators: the block in two halves of 2 rows (HALF: the byte offset
 * of the half's first word in a pair); 4 pairs per dense loop turn. */
#define LG_DSP_BLOCK_A64(W, WT, HALF)                                                        \
    LG_DSP_INLINE const WT *lg_dsp_block_w##W##_a64(int64_t *acc, const int64_t *init,      \
                                                    const WT *wb, const int16_t *v, int32_t n) \
    {                                                                                        \
        int32_t h;                                                                           \
        for (h = 0; h < 2; ++h) {                                                            \
            int64_t a0 = init[2 * h], a1 = init[2 * h + 1];                                  \
            int32_t x, w0, w1;                                                               \
            const WT *wp = (const WT *)((const char *)wb + h * (HALF));                      \
            const int16_t *xp = v;                                                           \
            const int16_t *const end4 = v + 8 * (n / 8);                                     \
            const int16_t *const end1 = v + 2 * (n / 2);                                     \
            if (n >= 8) {                                                                    \
                __asm__("1:\n\t" LG_DSP_REP4(LG_DSP_BODY_W##W##_A64(LG_DSP_X_DENSE))         \
                        "cmp %[xp], %[end]\n\t"                                              \
                        "bne 1b\n\t"                                                         \
                        : [a0] "+r"(a0), [a1] "+r"(a1), [xp] "+r"(xp), [wp] "+r"(wp),        \
                          [x] "=&r"(x), [w0] "=&r"(w0), [w1] "=&r"(w1)                       \
                        : [end] "r"(end4)                                                    \
                        : "cc", "memory");                                                   \
            }                                                                                \
            if (n % 8 >= 2) {                                                                \
                __asm__("1:\n\t" LG_DSP_BODY_W##W##_A64(LG_DSP_X_DENSE)                      \
                        "cmp %[xp], %[end]\n\t"                                              \
                        "bne 1b\n\t"                                                         \
                        : [a0] "+r"(a0), [a1] "+r"(a1), [xp] "+r"(xp), [wp] "+r"(wp),        \
                          [x] "=&r"(x), [w0] "=&r"(w0), [w1] "=&r"(w1)                       \
                        : [end] "r"(end1)                                                    \
                        : "cc", "memory");                                                   \
            }                                                                                \
            if (n % 2 == 1) {                                                                \
                const int32_t xo = lg_dsp_pair(v[n - 1], 0);                                 \
                __asm__(LG_DSP_BODY_W##W##_A64("")                                           \
                        : [a0] "+r"(a0), [a1] "+r"(a1), [wp] "+r"(wp), [w0] "=&r"(w0),       \
                          [w1] "=&r"(w1)                                                     \
                        : [x] "r"(xo)                                                        \
                        : "memory");                                                         \
            }                                                                                \
            acc[2 * h] = a0;                                                                 \
            acc[2 * h + 1] = a1;                                                             \
        }                                                                                    \
        return wb + 8L * ((n + 1) / 2); /* the next block's weights */                       \
    }                                                                                        \
    LG_DSP_INLINE void lg_dsp_list_w##W##_a64(int64_t *acc, const int64_t *init,             \
                                             const WT *wb, const int32_t *lst,               \
                                             const int32_t *lend)                            \
    {                                                                                        \
        int32_t h;                                                                           \
        for (h = 0; h < 2; ++h) {                                                            \
            LG_DSP_LIST_REGS                                                                 \
            register int64_t a0 __asm__("r2") = init[2 * h];                                 \
            register int64_t a1 __asm__("r9") = init[2 * h + 1];                             \
            base = (const char *)wb + h * (HALF);                                            \
            __asm__(LG_DSP_LIST_LOOP(LG_DSP_LIST_W##W##_A64)                                 \
                    : [a0] "+r"(a0), [a1] "+r"(a1), LG_DSP_LIST_OPERANDS                     \
                    : [end] "r"(end), [wb] "r"(base)                                         \
                    : "cc", "memory");                                                       \
            acc[2 * h] = a0;                                                                 \
            acc[2 * h + 1] = a1;                                                             \
        }                                                                                    \
    }

LG_DSP_BLOCK_A32(16, int16_t)
LG_DSP_BLOCK_A32(8, int8_t)
LG_DSP_BLOCK_A64(8, int8_t, 4)

/* int16 weights, int64 accumulators: all 4 rows in one pass, 8 accumulator registers. 13
 * registers in all, pinned (the compiler's allocator would otherwise have to find the four
 * register pairs itself): r0:r1, r2:r3, r8:r9, r10:r11 accumulators, r4 x, r5 w, r6 the input
 * pointer, r12 the weight pointer, lr the end. */
LG_DSP_INLINE const int16_t *lg_dsp_block_w16_a64(int64_t *acc, const int64_t *init,
                                                  const int16_t *wb, const int16_t *v, int32_t n)
{
    register int64_t a0 __asm__("r0") = init[0];
    register int64_t a1 __asm__("r2") = init[1];
    register int64_t a2 __asm__("r8") = init[2];
    register int64_t a3 __asm__("r10") = init[3];
    register int32_t x __asm__("r4");
    register int32_t w __asm__("r5");
    register const int16_t *xp __asm__("r6") = v;
    register const int16_t *wp __asm__("r12") = wb;
    register const int16_t *end __asm__("lr") = v + 8 * (n / 8);
    if (n >= 8) {
        __asm__("1:\n\t" LG_DSP_REP4(LG_DSP_BODY_W16_A64(LG_DSP_X_DENSE))
                "cmp %[xp], %[end]\n\t"
                "bne 1b\n\t"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(xp),
                  [wp] "+r"(wp), [x] "=&r"(x), [w] "=&r"(w)
                : [end] "r"(end)
                : "cc", "memory");
    }
    end = v + 2 * (n / 2);
    if (n % 8 >= 2) {
        __asm__("1:\n\t" LG_DSP_BODY_W16_A64(LG_DSP_X_DENSE)
                "cmp %[xp], %[end]\n\t"
                "bne 1b\n\t"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(xp),
                  [wp] "+r"(wp), [x] "=&r"(x), [w] "=&r"(w)
                : [end] "r"(end)
                : "cc", "memory");
    }
    if (n % 2 == 1) { /* the odd input meets the zero padding input */
        x = lg_dsp_pair(v[n - 1], 0);
        __asm__(LG_DSP_BODY_W16_A64("")
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [wp] "+r"(wp),
                  [w] "=&r"(w)
                : [x] "r"(x)
                : "memory");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return wp; /* the next block's weights */
}

/* The list loop of w16_a64: one entry a turn, all 4 rows, the list ended by an entry with a
 * negative offset (13 registers leave none for an end pointer): r0:r1, r2:r3, r8:r9, r10:r11
 * accumulators, r4 o, r5 x, r6 w, r12 the block's base, lr the list pointer. */
LG_DSP_INLINE void lg_dsp_list_w16_a64(int64_t *acc, const int64_t *init, const int16_t *wb,
                                       const int32_t *lst, const int32_t *lend)
{
    register int64_t a0 __asm__("r0") = init[0];
    register int64_t a1 __asm__("r2") = init[1];
    register int64_t a2 __asm__("r8") = init[2];
    register int64_t a3 __asm__("r10") = init[3];
    register int32_t o __asm__("r4");
    register int32_t x __asm__("r5");
    register int32_t w __asm__("r6");
    register const int16_t *base __asm__("r12") = wb;
    register const int32_t *xp __asm__("lr") = lst;
    (void)lend; /* the sentinel entry at lend ends the loop */
    __asm__("ldm %[xp]!, {%[o], %[x]}\n\t"
            "cmp %[o], #0\n\t"
            "blt 2f\n\t"
            "1:\n\t"
            "add %[o], %[o], %[wb]\n\t"
            "ldr %[w], [%[o]]\n\t"
            "smlald %Q[a0], %R[a0], %[w], %[x]\n\t"
            "ldr %[w], [%[o], #4]\n\t"
            "smlald %Q[a1], %R[a1], %[w], %[x]\n\t"
            "ldr %[w], [%[o], #8]\n\t"
            "smlald %Q[a2], %R[a2], %[w], %[x]\n\t"
            "ldr %[w], [%[o], #12]\n\t"
            "smlald %Q[a3], %R[a3], %[w], %[x]\n\t"
            "ldm %[xp]!, {%[o], %[x]}\n\t"
            "cmp %[o], #0\n\t"
            "bge 1b\n\t"
            "2:\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(xp),
              [o] "=&r"(o), [x] "=&r"(x), [w] "=&r"(w)
            : [wb] "r"(base)
            : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* ---- int8 weights, int32 accumulators, dual rows (w8r) -----------------------------------
 * The int8 layout with one change: the byte of an odd row r+1 (bytes 1 and 3 of a word) holds
 * W[r+1][k] - (W[r][k] < 0 ? 1 : 0), so that each halfword of the word, read as int16, is
 * exactly 256 * W[r+1][k] + W[r][k] (the generator uses this layout only where no such byte
 * leaves int8: W[r+1][k] = -128 beside a negative W[r][k]). One SMLALD of the raw word then
 * accumulates 256 * S[r+1] + S[r] into 64 bits, one SXTB16 + SMLAD accumulates S[r], and
 * S[r+1] = (that - S[r]) / 256 exactly at the end of the block: per pair and block, 3 loads,
 * 2 SXTB16 and 4 multiply-accumulates (10 estimated cycles per 8 mult-adds instead of 12).
 * Requires what the a32 kernels require (every row's sum fits int32); the 64-bit sum cannot
 * overflow. Registers: 13, pinned: r0:r1, r2:r3 the dual sums, r8, r9 the even rows' sums, r4
 * x, r5 r6 the weight words, r10 the temporary, r11 the input pointer, r12 the weight pointer,
 * lr the end (list loop: r11 the list pointer, r12 the block's base). */

#define LG_DSP_BODY_W8R(XLOAD)                                                               \
    XLOAD                                                                                    \
    "ldr %[w1], [%[wp], #4]\n\t"                                                             \
    "ldr %[w0], [%[wp]], #8\n\t"                                                             \
    "sxtb16 %[t], %[w0]\n\t"                                                                 \
    "smlald %Q[d0], %R[d0], %[w0], %[x]\n\t"                                                 \
    "smlad %[e0], %[t], %[x], %[e0]\n\t"                                                     \
    "sxtb16 %[t], %[w1]\n\t"                                                                 \
    "smlald %Q[d1], %R[d1], %[w1], %[x]\n\t"                                                 \
    "smlad %[e1], %[t], %[x], %[e1]\n\t"

#define LG_DSP_W8R_REGS(INIT0, INIT1, INIT2, INIT3)                                          \
    register int64_t d0 __asm__("r0") = (int64_t)(INIT1) * 256 + (INIT0);                    \
    register int64_t d1 __asm__("r2") = (int64_t)(INIT3) * 256 + (INIT2);                    \
    register int32_t e0 __asm__("r8") = (INIT0);                                             \
    register int32_t e1 __asm__("r9") = (INIT2);                                             \
    register int32_t x __asm__("r4");                                                        \
    register int32_t w0 __asm__("r5");                                                       \
    register int32_t w1 __asm__("r6");                                                       \
    register int32_t t __asm__("r10");
/* (d - e) is a multiple of 256: the arithmetic shift (lg_fixed.h requires one) is exact. */
#define LG_DSP_W8R_OUT                                                                       \
    acc[0] = e0;                                                                             \
    acc[1] = (int32_t)((d0 - e0) >> 8);                                                      \
    acc[2] = e1;                                                                             \
    acc[3] = (int32_t)((d1 - e1) >> 8);

LG_DSP_INLINE const int8_t *lg_dsp_block_w8r_a32(int32_t *acc, const int32_t *init,
                                                  const int8_t *wb, const int16_t *v, int32_t n)
{
    LG_DSP_W8R_REGS(init[0], init[1], init[2], init[3])
    register const int16_t *xp __asm__("r11") = v;
    register const int8_t *wp __asm__("r12") = wb;
    register const int16_t *end __asm__("lr") = v + 64 * (n / 64);
    if (n >= 64) {
        __asm__("1:\n\t" LG_DSP_REP32(LG_DSP_BODY_W8R(LG_DSP_X_DENSE))
                "cmp %[xp], %[end]\n\t"
                "bne 1b\n\t"
                : [d0] "+r"(d0), [d1] "+r"(d1), [e0] "+r"(e0), [e1] "+r"(e1), [xp] "+r"(xp),
                  [wp] "+r"(wp), [x] "=&r"(x), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
                : [end] "r"(end)
                : "cc", "memory");
    }
    end = v + 16 * (n / 16);
    if (n % 64 >= 16) {
        __asm__("1:\n\t" LG_DSP_REP8(LG_DSP_BODY_W8R(LG_DSP_X_DENSE))
                "cmp %[xp], %[end]\n\t"
                "bne 1b\n\t"
                : [d0] "+r"(d0), [d1] "+r"(d1), [e0] "+r"(e0), [e1] "+r"(e1), [xp] "+r"(xp),
                  [wp] "+r"(wp), [x] "=&r"(x), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
                : [end] "r"(end)
                : "cc", "memory");
    }
    end = v + 2 * (n / 2);
    if (n % 16 >= 2) {
        __asm__("1:\n\t" LG_DSP_BODY_W8R(LG_DSP_X_DENSE)
                "cmp %[xp], %[end]\n\t"
                "bne 1b\n\t"
                : [d0] "+r"(d0), [d1] "+r"(d1), [e0] "+r"(e0), [e1] "+r"(e1), [xp] "+r"(xp),
                  [wp] "+r"(wp), [x] "=&r"(x), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
                : [end] "r"(end)
                : "cc", "memory");
    }
    if (n % 2 == 1) { /* the odd input meets the zero padding input */
        x = lg_dsp_pair(v[n - 1], 0);
        __asm__(LG_DSP_BODY_W8R("")
                : [d0] "+r"(d0), [d1] "+r"(d1), [e0] "+r"(e0), [e1] "+r"(e1), [wp] "+r"(wp),
                  [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
                : [x] "r"(x)
                : "memory");
    }
    LG_DSP_W8R_OUT
    return wp; /* the next block's weights */
}

LG_DSP_INLINE void lg_dsp_list_w8r_a32(int32_t *acc, const int32_t *init, const int8_t *wb,
                                       const int32_t *lst, const int32_t *lend)
{
    LG_DSP_W8R_REGS(init[0], init[1], init[2], init[3])
    register const int32_t *xp __asm__("r11") = lst;
    register const int8_t *base __asm__("r12") = wb;
    register const int32_t *end __asm__("lr") = lend;
    (void)x; /* the list loop: r4 the entry's offset, then the temporary; r10 its word */
    __asm__("1:\n\t"
            "ldm %[xp]!, {%[o], %[xw]}\n\t"
            "add %[o], %[o], %[wb]\n\t"
            "ldm %[o], {%[w0], %[w1]}\n\t"
            "sxtb16 %[o], %[w0]\n\t"
            "smlald %Q[d0], %R[d0], %[w0], %[xw]\n\t"
            "smlad %[e0], %[o], %[xw], %[e0]\n\t"
            "sxtb16 %[o], %[w1]\n\t"
            "smlald %Q[d1], %R[d1], %[w1], %[xw]\n\t"
            "smlad %[e1], %[o], %[xw], %[e1]\n\t"
            "cmp %[xp], %[end]\n\t"
            "bne 1b\n\t"
            : [d0] "+r"(d0), [d1] "+r"(d1), [e0] "+r"(e0), [e1] "+r"(e1), [xp] "+r"(xp),
              [o] "=&r"(x), [xw] "=&r"(t), [w0] "=&r"(w0), [w1] "=&r"(w1)
            : [end] "r"(end), [wb] "r"(base)
            : "cc", "memory");
    LG_DSP_W8R_OUT
}

/* ---- the lg_kernels.h API: blocks of 4 rows (block b at wt + 8 * P * b) ----------------- */

/* Where a block's sums start: its accumulators (add), or zeros (set: nothing is read). */
static const int32_t lg_dsp_zero_a32[LG_DSP_ROWS] __attribute__((unused)) = {0, 0, 0, 0};
static const int64_t lg_dsp_zero_a64[LG_DSP_ROWS] __attribute__((unused)) = {0, 0, 0, 0};

#define LG_DSP_KERNELS(W, A, WT, AT, BYTES)                                                  \
    /* every block over every pair: one copy of the hot loop per kernel type */              \
    static __attribute__((noinline, unused)) void lg_dsp_mv_w##W##_a##A(                     \
        AT *acc, const WT *wt, int32_t m, const int16_t *v, int32_t n, int32_t set)          \
    {                                                                                        \
        AT *const stop = acc + m; /* each block returns where the next one's weights start */ \
        if (set) { /* two loops, so that neither selects its start per block */              \
            for (; acc != stop; acc += LG_DSP_ROWS) {                                        \
                wt = lg_dsp_block_w##W##_a##A(acc, lg_dsp_zero_a##A, wt, v, n);              \
            }                                                                                \
        } else {                                                                             \
            for (; acc != stop; acc += LG_DSP_ROWS) {                                        \
                wt = lg_dsp_block_w##W##_a##A(acc, acc, wt, v, n);                           \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    /* the zero-skipping product; set: the sums start from zero (acc is only written) */     \
    static __attribute__((noinline, unused)) void lg_dsp_mv_nz_w##W##_a##A(                  \
        AT *acc, const WT *wt, int32_t m, const int16_t *v, int32_t n, int32_t set)          \
    {                                                                                        \
        const int32_t pairs = (n + 1) / 2;                                                   \
        const long block = 8L * pairs;                                                       \
        int32_t lst[2 * LG_NZ_CHUNK + 4];                                                    \
        int32_t nnz = 0;                                                                     \
        int32_t c;                                                                           \
        int32_t r;                                                                           \
        for (c = 0; c < n / 2; ++c) {                                                        \
            nnz += lg_dsp_word(v + 2 * c) != 0;                                              \
        }                                                                                    \
        nnz += n % 2 == 1 && v[n - 1] != 0;                                                  \
        if (nnz == 0) {                                                                      \
            if (set) {                                                                       \
                lg_clear_a##A(acc, m);                                                       \
            }                                                                                \
            return;                                                                          \
        }                                                                                    \
        if (LG_DSP_DENSE_DEN * nnz >= LG_DSP_DENSE_NUM * pairs) {                            \
            lg_dsp_mv_w##W##_a##A(acc, wt, m, v, n, set); /* zero pairs add zero */          \
            return;                                                                          \
        }                                                                                    \
        for (c = 0; c < pairs;) { /* list up to LG_NZ_CHUNK nonzero pairs, run the blocks */ \
            int32_t *lp = lst;                                                               \
            int32_t *const full = lst + 2 * LG_NZ_CHUNK;                                     \
            for (; c < n / 2 && lp != full; ++c) {                                           \
                const int32_t word = lg_dsp_word(v + 2 * c);                                 \
                if (word != 0) {                                                             \
                    lp[0] = c * (BYTES);                                                     \
                    lp[1] = word;                                                            \
                    lp += 2;                                                                 \
                }                                                                            \
            }                                                                                \
            if (c == n / 2 && c < pairs && lp != full) { /* odd n: the last input alone */   \
                if (v[n - 1] != 0) {                                                         \
                    lp[0] = c * (BYTES);                                                     \
                    lp[1] = lg_dsp_pair(v[n - 1], 0);                                        \
                    lp += 2;                                                                 \
                }                                                                            \
                ++c;                                                                         \
            }                                                                                \
            if (lp == lst) {                                                                 \
                continue;                                                                    \
            }                                                                                \
            if ((lp - lst) % 4 == 2) { /* the a32 loops take two entries a turn: a zero one */ \
                lp[0] = 0;                                                                   \
                lp[1] = 0;                                                                   \
                lp += 2;                                                                     \
            }                                                                                \
            lp[0] = -1; /* the sentinel ending the w16_a64 loop */                           \
            lp[1] = 0;                                                                       \
            for (r = 0; r < m; r += LG_DSP_ROWS) {                                           \
                lg_dsp_list_w##W##_a##A(acc + r, set ? lg_dsp_zero_a##A : acc + r,           \
                                        wt + block * (r / LG_DSP_ROWS), lst, lp);            \
            }                                                                                \
            set = 0; /* later chunks add to what the first wrote */                          \
        }                                                                                    \
    }                                                                                        \
    static inline void lg_mv_w##W##_a##A(AT *acc, const WT *wt, int32_t m, const int16_t *v, \
                                         int32_t n)                                          \
    {                                                                                        \
        lg_dsp_mv_w##W##_a##A(acc, wt, m, v, n, 0);                                          \
    }                                                                                        \
    static inline void lg_mv_set_w##W##_a##A(AT *acc, const WT *wt, int32_t m,               \
                                             const int16_t *v, int32_t n)                    \
    {                                                                                        \
        lg_dsp_mv_w##W##_a##A(acc, wt, m, v, n, 1);                                          \
    }                                                                                        \
    static inline void lg_mv_nz_w##W##_a##A(AT *acc, const WT *wt, int32_t m,                \
                                            const int16_t *v, int32_t n)                     \
    {                                                                                        \
        lg_dsp_mv_nz_w##W##_a##A(acc, wt, m, v, n, 0);                                       \
    }                                                                                        \
    static inline void lg_mv_nz_set_w##W##_a##A(AT *acc, const WT *wt, int32_t m,            \
                                                const int16_t *v, int32_t n)                 \
    {                                                                                        \
        lg_dsp_mv_nz_w##W##_a##A(acc, wt, m, v, n, 1);                                       \
    }

LG_DSP_KERNELS(16, 32, int16_t, int32_t, 16)
LG_DSP_KERNELS(16, 64, int16_t, int64_t, 16)
LG_DSP_KERNELS(8, 32, int8_t, int32_t, 8)
LG_DSP_KERNELS(8, 64, int8_t, int64_t, 8)
LG_DSP_KERNELS(8r, 32, int8_t, int32_t, 8)

#undef LG_DSP_BODY_W16_A32
#undef LG_DSP_BODY_W8_A32
#undef LG_DSP_BODY_W16_A64
#undef LG_DSP_BODY_W8_A64
#undef LG_DSP_X_DENSE
#undef LG_DSP_LIST_REGS
#undef LG_DSP_LIST_OPERANDS
#undef LG_DSP_LIST_LOOP
#undef LG_DSP_LIST_W16_A32
#undef LG_DSP_LIST_W8_A32
#undef LG_DSP_LIST_W16_A64
#undef LG_DSP_LIST_W8_A64
#undef LG_DSP_REP4
#undef LG_DSP_REP8
#undef LG_DSP_REP16
#undef LG_DSP_REP32
#undef LG_DSP_BLOCK_A32
#undef LG_DSP_BLOCK_A64
#undef LG_DSP_KERNELS
#undef LG_DSP_BODY_W8R
#undef LG_DSP_W8R_REGS
#undef LG_DSP_W8R_OUT
#undef LG_DSP_INLINE

#endif /* LG_DSP_H */
