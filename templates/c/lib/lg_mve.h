/* lg_mve.h - lstmgen matrix-vector kernels for ARM cores with Helium, the M-profile Vector
 * Extension (Cortex-M55, Cortex-M85), hand-written, copied verbatim by the generator for
 * --cpu cortex-m55 (the model defines LG_MVE, and lg_kernels.h then includes this file instead
 * of its portable kernels).
 *
 * The same functions, signatures and results as the portable kernels of lg_kernels.h (r < m, m
 * a multiple of LG_BLOCK), with ACLE MVE intrinsics (<arm_mve.h>): the rows go in blocks of
 * LG_MVE_ROWS = 4 whose accumulators stay in registers over the whole input loop
 * (output-stationary); the inputs go in chunks of 8, one vector each, loaded once per block;
 * every row of the block meets the chunk in one VMLADAVA.S16 (8 products summed into a 32-bit
 * accumulator; VMLALDAVA.S16 into 64 bits). int8 weights are widened by the load itself
 * (VLDRB.S16). The caller guarantees that no partial sum overflows the accumulator (lstmgen
 * proves it from the stored weights), so the summation order never changes a result.
 *
 * Weight layout (lstmgen.targets.c emits it when LG_MVE is set): Q = ceil(n / 8) chunks, the
 * inputs zero-padded to 8 * Q; block b (rows 4b..4b+3) starts at element 32 * Q * b and holds,
 * for q = 0 .. Q-1, the 8 weights W[4b+j][8q .. 8q+7] of each of its rows j = 0..3 (32
 * elements per chunk). The last, partial chunk of the inputs is loaded with a tail predicate
 * (lanes past n read as zero), so nothing beyond v[n-1] is read.
 *
 * The zero-skipping kernels (lg_mv_nz_*; lg_mv_nz_set_* clear the accumulators first) skip the
 * chunks whose 8 inputs are all zero (one
 * VMAXAV per chunk): when at least LG_MVE_DENSE_NUM / LG_MVE_DENSE_DEN of the chunks hold a
 * nonzero input, the dense loop runs (a zero chunk adds zero); otherwise the nonzero chunks are
 * listed, LG_NZ_CHUNK at a time (on the stack), and every block runs over the list.
 */
#ifndef LG_MVE_H
#define LG_MVE_H

#include <arm_mve.h>
#include <stdint.h>

#if !defined(__ARM_FEATURE_MVE)
#error "lg_mve.h needs an ARM core with Helium (MVE), e.g. -mcpu=cortex-m55"
#endif

#define LG_MVE_ROWS 4      /* rows per register block */
#define LG_MVE_DENSE_NUM 2 /* the zero-skipping kernels run the dense loop when at least */
#define LG_MVE_DENSE_DEN 3 /* NUM/DEN of the chunks of 8 inputs hold a nonzero input */

/* Chunk q of v (8 inputs; the lanes past n of a partial last chunk are zero). */
static inline int16x8_t lg_mve_chunk(const int16_t *v, int32_t q, int32_t n)
{
    if (8 * q + 8 <= n) {
        return vld1q_s16(v + 8 * q);
    }
    return vldrhq_z_s16(v + 8 * q, vctp16q((uint32_t)(n - 8 * q)));
}

/* The 8 weights of one row of a chunk, as int16 lanes. */
static inline int16x8_t lg_mve_w16(const int16_t *p)
{
    return vld1q_s16(p);
}

static inline int16x8_t lg_mve_w8(const int8_t *p)
{
    return vldrbq_s16(p);
}

/* ---- the assembly loops ------------------------------------------------------------------
 * Every operand is pinned to a register (VMLADAVA needs an even accumulator register, VLDRB.S16
 * a low base register, VMLALDAVA an even/odd pair; r7, the Thumb frame pointer, and sp are
 * never named): accumulators r0 r2 r8 r10 (a64: r0:r1 r2:r3 r8:r9 r10:r11), the weight pointer
 * r4, the input pointer r5 (dense) or the list pointer r5 (list), the trip count r6 (DLS/LE
 * low-overhead loops, counter lr; the list loop then reuses r6 for an entry's input address and
 * keeps the block's base in r12), vectors q0-q3 (x in q3). A chunk of one block: the input
 * vector, the 4 rows' weight vectors, 4 multiply-accumulate-across instructions. */

#define LG_MVE_LD16(q, off) "vldrh.16 " q ", [%[wp], #" #off "]\n\t"
#define LG_MVE_LD16W(q, step) "vldrh.16 " q ", [%[wp]], #" #step "\n\t"
#define LG_MVE_LD8(q, off) "vldrb.s16 " q ", [%[wp], #" #off "]\n\t"
#define LG_MVE_LD8W(q, step) "vldrb.s16 " q ", [%[wp]], #" #step "\n\t"
#define LG_MVE_MAC32(a, q) "vmladava.s16 %[" a "], " q ", q3\n\t"
#define LG_MVE_MAC64(a, q) "vmlaldava.s16 %Q[" a "], %R[" a "], " q ", q3\n\t"
/* the 4 rows of a chunk (x already in q3; the weight pointer advances by the chunk: row 0 is
 * loaded with the post-increment, row 3 then at -1 row) */
#define LG_MVE_W16(MAC)                                                                     \
    LG_MVE_LD16("q1", 16) LG_MVE_LD16("q2", 32) LG_MVE_LD16W("q0", 64)                         \
    MAC("a0", "q0") LG_MVE_LD16("q0", -16) MAC("a1", "q1") MAC("a2", "q2") MAC("a3", "q0")
#define LG_MVE_W8(MAC)                                                                      \
    LG_MVE_LD8("q1", 8) LG_MVE_LD8("q2", 16) LG_MVE_LD8W("q0", 32)                             \
    MAC("a0", "q0") LG_MVE_LD8("q0", -8) MAC("a1", "q1") MAC("a2", "q2") MAC("a3", "q0")
#define LG_MVE_CLOBBERS "lr", "memory", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"

#define LG_MVE_REGS32(INIT)                                                                 \
    register int32_t a0 __asm__("r0") = INIT(0);                                            \
    register int32_t a1 __asm__("r2") = INIT(1);                                            \
    register int32_t a2 __asm__("r8") = INIT(2);                                            \
    register int32_t a3 __asm__("r10") = INIT(3);
#define LG_MVE_REGS64(INIT)                                                                 \
    register int64_t a0 __asm__("r0") = INIT(0);                                            \
    register int64_t a1 __asm__("r2") = INIT(1);                                            \
    register int64_t a2 __asm__("r8") = INIT(2);                                            \
    register int64_t a3 __asm__("r10") = INIT(3);
#define LG_MVE_LOADACC(i) (set ? 0 : acc[i])
#define LG_MVE_KEEPACC(i) (acc[i])

/* ---- one block (rows 4b..4b+3): every chunk of v, or the listed chunks ---- */

#define LG_MVE_BLOCK(W, A, WT, AT, MACI, MACASM)                                            \
    static inline __attribute__((always_inline)) void lg_mve_block_w##W##_a##A(             \
        AT *acc, const WT *wb, const int16_t *v, int32_t n, int32_t set)                    \
    {                                                                                       \
        LG_MVE_REGS##A(LG_MVE_LOADACC)                                                      \
        register const WT *wp __asm__("r4") = wb;                                           \
        register const int16_t *xp __asm__("r5") = v;                                       \
        register int32_t chunks __asm__("r6") = n / 8;                                      \
        if (chunks > 0) {                                                                   \
            __asm__("dls lr, %[n]\n\t"                                                      \
                    "1:\n\t"                                                                \
                    "vldrh.16 q3, [%[xp]], #16\n\t" LG_MVE_W##W(MACASM)                     \
                    "le lr, 1b\n\t"                                                         \
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),           \
                      [xp] "+r"(xp), [wp] "+r"(wp)                                          \
                    : [n] "r"(chunks)                                                       \
                    : LG_MVE_CLOBBERS);                                                     \
        }                                                                                   \
        if (n % 8 != 0) { /* the partial last chunk: lanes past n are zero */               \
            const int16x8_t x = lg_mve_chunk(v, n / 8, n);                                  \
            a0 = MACI(a0, lg_mve_w##W(wp), x);                                              \
            a1 = MACI(a1, lg_mve_w##W(wp + 8), x);                                          \
            a2 = MACI(a2, lg_mve_w##W(wp + 16), x);                                         \
            a3 = MACI(a3, lg_mve_w##W(wp + 24), x);                                         \
        }                                                                                   \
        acc[0] = a0;                                                                        \
        acc[1] = a1;                                                                        \
        acc[2] = a2;                                                                        \
        acc[3] = a3;                                                                        \
    }                                                                                       \
    /* The listed full chunks: entries (address of the chunk's inputs, byte offset of its   \
     * weights in a block), k >= 1 of them. */                                              \
    static inline __attribute__((always_inline)) void lg_mve_list_w##W##_a##A(              \
        AT *acc, const WT *wb, const int32_t *lst, int32_t k)                               \
    {                                                                                       \
        LG_MVE_REGS##A(LG_MVE_KEEPACC)                                                      \
        register const WT *wp __asm__("r4");                                                \
        register const int32_t *lp __asm__("r5") = lst;                                     \
        register int32_t xa __asm__("r6") = k; /* the trip count, then an input address */  \
        register const WT *base __asm__("r12") = wb;                                        \
        __asm__("dls lr, %[xa]\n\t"                                                         \
                "1:\n\t"                                                                    \
                "ldm %[lp]!, {%[wp], %[xa]}\n\t"                                            \
                "vldrh.16 q3, [%[xa]]\n\t"                                                  \
                "add %[wp], %[wp], %[wb]\n\t" LG_MVE_W##W(MACASM)                           \
                "le lr, 1b\n\t"                                                             \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [lp] "+r"(lp), \
                  [wp] "=&r"(wp), [xa] "+r"(xa)                                             \
                : [wb] "r"(base)                                                            \
                : LG_MVE_CLOBBERS);                                                         \
        acc[0] = a0;                                                                        \
        acc[1] = a1;                                                                        \
        acc[2] = a2;                                                                        \
        acc[3] = a3;                                                                        \
    }

LG_MVE_BLOCK(16, 32, int16_t, int32_t, vmladavaq_s16, LG_MVE_MAC32)
LG_MVE_BLOCK(8, 32, int8_t, int32_t, vmladavaq_s16, LG_MVE_MAC32)
LG_MVE_BLOCK(16, 64, int16_t, int64_t, vmlaldavaq_s16, LG_MVE_MAC64)
LG_MVE_BLOCK(8, 64, int8_t, int64_t, vmlaldavaq_s16, LG_MVE_MAC64)

/* ---- the lg_kernels.h API: blocks of 4 rows (block b at wt + 32 * Q * b) ---- */

#define LG_MVE_KERNELS(W, A, WT, AT)                                                        \
    static inline void lg_mv_w##W##_a##A(AT *acc, const WT *wt, int32_t m, const int16_t *v, \
                                         int32_t n)                                         \
    {                                                                                       \
        const long block = 32L * ((n + 7) / 8);                                             \
        int32_t r;                                                                          \
        for (r = 0; r < m; r += LG_MVE_ROWS) {                                              \
            lg_mve_block_w##W##_a##A(acc + r, wt + block * (r / LG_MVE_ROWS), v, n, 0);     \
        }                                                                                   \
    }                                                                                       \
    static inline void lg_mv_set_w##W##_a##A(AT *acc, const WT *wt, int32_t m,              \
                                             const int16_t *v, int32_t n)                   \
    {                                                                                       \
        const long block = 32L * ((n + 7) / 8);                                             \
        int32_t r;                                                                          \
        for (r = 0; r < m; r += LG_MVE_ROWS) {                                              \
            lg_mve_block_w##W##_a##A(acc + r, wt + block * (r / LG_MVE_ROWS), v, n, 1);     \
        }                                                                                   \
    }                                                                                       \
    static inline void lg_mv_nz_w##W##_a##A(AT *acc, const WT *wt, int32_t m,               \
                                            const int16_t *v, int32_t n)                    \
    {                                                                                       \
        const int32_t chunks = (n + 7) / 8;                                                 \
        const long block = 32L * chunks;                                                    \
        int32_t lst[2 * LG_NZ_CHUNK];                                                       \
        int32_t nnz = 0;                                                                    \
        int32_t q;                                                                          \
        int32_t r;                                                                          \
        for (q = 0; q < chunks; ++q) {                                                      \
            nnz += vmaxavq_s16(0, lg_mve_chunk(v, q, n)) != 0;                              \
        }                                                                                   \
        if (nnz == 0) {                                                                     \
            return;                                                                         \
        }                                                                                   \
        if (LG_MVE_DENSE_DEN * nnz >= LG_MVE_DENSE_NUM * chunks) {                          \
            lg_mv_w##W##_a##A(acc, wt, m, v, n); /* zero chunks add zero */                 \
            return;                                                                         \
        }                                                                                   \
        for (q = 0; q < n / 8;) { /* list up to LG_NZ_CHUNK nonzero full chunks */          \
            int32_t k = 0;                                                                  \
            for (; q < n / 8 && k < LG_NZ_CHUNK; ++q) {                                     \
                if (vmaxavq_s16(0, vld1q_s16(v + 8 * q)) != 0) {                            \
                    lst[2 * k] = (int32_t)(q * 32 * (long)sizeof(WT));                      \
                    lst[2 * k + 1] = (int32_t)(intptr_t)(v + 8 * q);                        \
                    ++k;                                                                    \
                }                                                                           \
            }                                                                               \
            if (k > 0) {                                                                    \
                for (r = 0; r < m; r += LG_MVE_ROWS) {                                      \
                    lg_mve_list_w##W##_a##A(acc + r, wt + block * (r / LG_MVE_ROWS), lst, k); \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
        if (n % 8 != 0 && vmaxavq_s16(0, lg_mve_chunk(v, n / 8, n)) != 0) {                \
            const int16x8_t x = lg_mve_chunk(v, n / 8, n); /* the partial last chunk */     \
            for (r = 0; r < m; r += LG_MVE_ROWS) {                                          \
                const WT *const wp = wt + block * (r / LG_MVE_ROWS) + 32L * (n / 8);        \
                acc[r] = LG_MVE_MACI_##A(acc[r], lg_mve_w##W(wp), x);                       \
                acc[r + 1] = LG_MVE_MACI_##A(acc[r + 1], lg_mve_w##W(wp + 8), x);           \
                acc[r + 2] = LG_MVE_MACI_##A(acc[r + 2], lg_mve_w##W(wp + 16), x);          \
                acc[r + 3] = LG_MVE_MACI_##A(acc[r + 3], lg_mve_w##W(wp + 24), x);          \
            }                                                                               \
        }                                                                                   \
    }

#define LG_MVE_NZ_SET(W, A, WT, AT)                                                         \
    static inline void lg_mv_nz_set_w##W##_a##A(AT *acc, const WT *wt, int32_t m,           \
                                                const int16_t *v, int32_t n)                \
    {                                                                                       \
        lg_clear_a##A(acc, m);                                                              \
        lg_mv_nz_w##W##_a##A(acc, wt, m, v, n);                                             \
    }

#define LG_MVE_MACI_32 vmladavaq_s16
#define LG_MVE_MACI_64 vmlaldavaq_s16
LG_MVE_KERNELS(16, 32, int16_t, int32_t)
LG_MVE_KERNELS(16, 64, int16_t, int64_t)
LG_MVE_KERNELS(8, 32, int8_t, int32_t)
LG_MVE_KERNELS(8, 64, int8_t, int64_t)
LG_MVE_NZ_SET(16, 32, int16_t, int32_t)
LG_MVE_NZ_SET(16, 64, int16_t, int64_t)
LG_MVE_NZ_SET(8, 32, int8_t, int32_t)
LG_MVE_NZ_SET(8, 64, int8_t, int64_t)

#undef LG_MVE_LD16
#undef LG_MVE_LD16W
#undef LG_MVE_LD8
#undef LG_MVE_LD8W
#undef LG_MVE_MAC32
#undef LG_MVE_MAC64
#undef LG_MVE_W16
#undef LG_MVE_W8
#undef LG_MVE_CLOBBERS
#undef LG_MVE_REGS32
#undef LG_MVE_REGS64
#undef LG_MVE_LOADACC
#undef LG_MVE_KEEPACC
#undef LG_MVE_BLOCK
#undef LG_MVE_MACI_32
#undef LG_MVE_MACI_64
#undef LG_MVE_KERNELS
#undef LG_MVE_NZ_SET

#endif /* LG_MVE_H */
