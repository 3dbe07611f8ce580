/* qemu_insn_count.c - QEMU TCG plugin (API version 1, QEMU 7.2+): count guest instructions
 * executed inside measured regions, in total and by instruction class. Part of lstmgen; built at
 * run time with the host gcc.
 *
 * Arguments (comma-separated after the .so path):
 *   begin=ADDR  address of the function opening a region (lg_bench_begin)
 *   end=ADDR    address of the function closing it (lg_bench_end)
 *   out=PATH    file receiving the result lines (default: the QEMU log via qemu_plugin_outs)
 * ADDR is decimal or 0x-hex; bit 0 (the Thumb bit) is ignored.
 *
 * Every executed instruction adds 1 to a counter and 1 to the counter of its class (inline ops,
 * no helper call); a load/store multiple also adds its register count. Entering `begin`
 * snapshots the counters; entering `end` adds the differences to the region totals. The result
 * is "regions N", "insns T" (sum over regions), "min A", "max B" (per region), "all C" (every
 * instruction of the run), then one line per class with its total over the regions:
 *
 *   other    any instruction not below (ALU, SXTB16, moves, compares, branches, IT, FP, MVE)
 *   mul      multiplies and multiply-accumulates (MUL, MLA, SMLAD, SMLALD, SMULL, ...)
 *   div      SDIV, UDIV
 *   ls       single loads/stores (LDR, STRH, LDRSB, PLD, LDREX, TBB ...) not pipelined
 *   ls_pipe  single loads/stores right behind a single load in the same translation block
 *            (the Cortex-M pipelines them: see lstmgen/verify/qemu.py)
 *   ls_dual  LDRD, STRD
 *   ls_mult  LDM, STM, PUSH, POP (instructions)
 *   ls_regs  registers those transferred
 *   taken    taken branches: arrivals at a block that does not follow the last one in memory
 *            (branches, calls, returns, loads into the PC)
 *
 * Classes are decided from the Thumb encoding (ARMv7-M / ARMv8-M), once per translation; the
 * decoder is exported as lg_insn_class for unit tests. Debian ships QEMU's plugin support
 * without qemu-plugin.h, so the handful of API declarations used here are written out below,
 * matching QEMU's documented plugin API v1 (weak, so that a test can load this library outside
 * QEMU).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;

typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    int system_emulation; /* a C bool in QEMU; only the layout up to here is read (not at all) */
} qemu_info_t;

struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

#define LG_WEAK __attribute__((weak))
LG_WEAK void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                                   qemu_plugin_vcpu_tb_trans_cb_t cb);
LG_WEAK void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
                                                  qemu_plugin_vcpu_udata_cb_t cb,
                                                  enum qemu_plugin_cb_flags flags, void *userdata);
LG_WEAK void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                                    qemu_plugin_vcpu_udata_cb_t cb,
                                                    enum qemu_plugin_cb_flags flags,
                                                    void *userdata);
LG_WEAK void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                        enum qemu_plugin_op op, void *ptr,
                                                        uint64_t imm);
LG_WEAK void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                            void *userdata);
LG_WEAK size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
LG_WEAK uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
LG_WEAK struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb,
                                                         size_t idx);
LG_WEAK const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
LG_WEAK size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
LG_WEAK uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
LG_WEAK void qemu_plugin_outs(const char *string);

#define LG_EXPORT __attribute__((visibility("default")))

LG_EXPORT int qemu_plugin_version = 1;
LG_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                  char **argv);
LG_EXPORT int lg_insn_class(uint32_t hw1, uint32_t hw2, int *regs);

/* ---- instruction classes ---------------------------------------------------------------- */

enum {
    LG_OTHER, LG_MUL, LG_DIV, LG_LS, LG_LS_PIPE, LG_LS_DUAL, LG_LS_MULT, LG_LS_REGS, LG_TAKEN,
    LG_NCOUNTERS
};
static const char *const lg_names[LG_NCOUNTERS] = {
    "other", "mul", "div", "ls", "ls_pipe", "ls_dual", "ls_mult", "ls_regs", "taken",
};
/* Decoder results besides the counters: a single load (may pipeline the next load/store), a
 * single store, TBB/TBH (a load that never pipelines). */
enum { LG_K_LOAD = 100, LG_K_STORE, LG_K_TABLE };

static int lg_popcount(uint32_t v)
{
    int n = 0;
    for (; v != 0; v &= v - 1) {
        n++;
    }
    return n;
}

/* The class of the Thumb instruction whose first halfword is hw1 (hw2: the second halfword of
 * a 32-bit encoding, ignored otherwise). Returns LG_OTHER, LG_MUL, LG_DIV, LG_LS_DUAL,
 * LG_LS_MULT (with *regs = registers transferred), LG_K_LOAD, LG_K_STORE or LG_K_TABLE. */
int lg_insn_class(uint32_t hw1, uint32_t hw2, int *regs)
{
    *regs = 0;
    hw1 &= 0xffffu;
    hw2 &= 0xffffu;
    if ((hw1 >> 11) < 0x1d) { /* ---- 16-bit encodings ---- */
        if ((hw1 & 0xffc0u) == 0x4340u) {
            return LG_MUL; /* MULS */
        }
        if ((hw1 & 0xf800u) == 0x4800u) {
            return LG_K_LOAD; /* LDR (literal) */
        }
        if ((hw1 & 0xf000u) == 0x5000u) { /* load/store register offset: opB = hw1[11:9] */
            return ((hw1 >> 9) & 7u) >= 3u ? LG_K_LOAD : LG_K_STORE;
        }
        if ((hw1 & 0xe000u) == 0x6000u || (hw1 & 0xe000u) == 0x8000u) {
            /* LDR/STR(B) immediate, LDRH/STRH immediate, LDR/STR SP-relative; bit 11 = L */
            return (hw1 & 0x0800u) ? LG_K_LOAD : LG_K_STORE;
        }
        if ((hw1 & 0xfe00u) == 0xb400u || (hw1 & 0xfe00u) == 0xbc00u) {
            *regs = lg_popcount(hw1 & 0x1ffu); /* PUSH {.., lr} / POP {.., pc} */
            return LG_LS_MULT;
        }
        if ((hw1 & 0xf000u) == 0xc000u) {
            *regs = lg_popcount(hw1 & 0xffu); /* STM / LDM */
            return LG_LS_MULT;
        }
        return LG_OTHER;
    }
    /* ---- 32-bit encodings ---- */
    if ((hw1 & 0xfe40u) == 0xe800u) { /* load/store multiple */
        const uint32_t op = (hw1 >> 7) & 3u;
        if (op == 1u || op == 2u) {
            *regs = lg_popcount(hw2);
            return LG_LS_MULT;
        }
        return LG_OTHER;
    }
    if ((hw1 & 0xfe40u) == 0xe840u) { /* load/store dual or exclusive, table branch */
        const uint32_t op1 = (hw1 >> 7) & 3u, op2 = (hw1 >> 4) & 3u;
        if (op1 >= 2u || op2 >= 2u) {
            return LG_LS_DUAL; /* LDRD / STRD */
        }
        if (op1 == 0u) {
            return op2 == 1u ? LG_K_LOAD : LG_K_STORE; /* LDREX / STREX */
        }
        if (op2 == 1u) { /* TBB, TBH, LDREXB, LDREXH */
            return ((hw2 >> 4) & 0xfu) <= 1u ? LG_K_TABLE : LG_K_LOAD;
        }
        return LG_K_STORE; /* STREXB, STREXH */
    }
    if ((hw1 & 0xfe00u) == 0xf800u) { /* load/store single, memory hints; bit 4 = L */
        return (hw1 & 0x0010u) ? LG_K_LOAD : LG_K_STORE;
    }
    if ((hw1 & 0xff80u) == 0xfb00u) {
        return LG_MUL; /* multiply, multiply-accumulate, dual 16-bit MACs */
    }
    if ((hw1 & 0xff80u) == 0xfb80u) { /* long multiply, long MAC, divide */
        const uint32_t op1 = (hw1 >> 4) & 7u, op2 = (hw2 >> 4) & 0xfu;
        return ((op1 == 1u || op1 == 3u) && op2 == 0xfu) ? LG_DIV : LG_MUL;
    }
    return LG_OTHER;
}

/* ---- counting ---------------------------------------------------------------------------- */

static uint64_t begin_addr, end_addr;
static const char *out_path;
static uint64_t executed;                /* every instruction, incremented inline */
static uint64_t counters[LG_NCOUNTERS];  /* by class, incremented inline (taken: by callback) */
static uint64_t snapshot;                /* `executed` when the open region began */
static uint64_t snap_counters[LG_NCOUNTERS];
static uint64_t region_counters[LG_NCOUNTERS];
static int open_region;
static uint64_t regions, in_regions, region_min = UINT64_MAX, region_max;
static uint64_t next_pc = UINT64_MAX;    /* where the last executed block falls through to */

/* A translated block: its first address and the address after its last instruction. */
typedef struct {
    uint64_t start;
    uint64_t next;
} lg_block;

static void on_begin(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    snapshot = executed;
    memcpy(snap_counters, counters, sizeof counters);
    open_region = 1;
}

static void on_end(unsigned int vcpu_index, void *userdata)
{
    uint64_t n;
    int k;
    (void)vcpu_index;
    (void)userdata;
    if (!open_region) {
        return;
    }
    n = executed - snapshot;
    for (k = 0; k < LG_NCOUNTERS; k++) {
        region_counters[k] += counters[k] - snap_counters[k];
    }
    open_region = 0;
    regions++;
    in_regions += n;
    if (n < region_min) {
        region_min = n;
    }
    if (n > region_max) {
        region_max = n;
    }
}

/* Runs before the block's first instruction: arriving anywhere but at the fall-through address
 * of the previous block means that block ended in a taken branch. */
static void on_block(unsigned int vcpu_index, void *userdata)
{
    const lg_block *b = userdata;
    (void)vcpu_index;
    if (b->start != next_pc) {
        counters[LG_TAKEN]++;
    }
    next_pc = b->next;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    int prev_load = 0; /* the previous instruction of this block was a single load */
    lg_block *b = malloc(sizeof *b);
    (void)id;
    if (b == NULL) {
        fprintf(stderr, "qemu_insn_count: out of memory\n");
        abort();
    }
    b->start = qemu_plugin_tb_vaddr(tb);
    b->next = b->start;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        const size_t size = qemu_plugin_insn_size(insn);
        const uint8_t *bytes = qemu_plugin_insn_data(insn);
        uint32_t hw1 = 0, hw2 = 0;
        int regs, cls, counter;
        if (size >= 2) {
            hw1 = (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8);
        }
        if (size >= 4) {
            hw2 = (uint32_t)bytes[2] | ((uint32_t)bytes[3] << 8);
        }
        cls = lg_insn_class(hw1, hw2, &regs);
        if (cls == LG_K_LOAD || cls == LG_K_STORE) {
            counter = prev_load ? LG_LS_PIPE : LG_LS;
        } else if (cls == LG_K_TABLE) {
            counter = LG_LS;
        } else {
            counter = cls;
        }
        prev_load = cls == LG_K_LOAD;
        b->next = pc + size;
        /* The inline adds are registered first, so both markers see their own instruction
         * counted: a region is [first insn of begin, first insn of end). */
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                   &counters[counter], 1);
        if (regs > 0) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                       &counters[LG_LS_REGS], (uint64_t)regs);
        }
        if (pc == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (pc == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

static void on_atexit(qemu_plugin_id_t id, void *userdata)
{
    char buf[1024];
    size_t used;
    int k;
    FILE *f;
    (void)id;
    (void)userdata;
    used = (size_t)snprintf(buf, sizeof buf,
                            "regions %" PRIu64 "\ninsns %" PRIu64 "\nmin %" PRIu64
                            "\nmax %" PRIu64 "\nall %" PRIu64 "\n",
                            regions, in_regions, regions ? region_min : 0, region_max, executed);
    for (k = 0; k < LG_NCOUNTERS && used < sizeof buf; k++) {
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s %" PRIu64 "\n", lg_names[k],
                                 region_counters[k]);
    }
    if (out_path == NULL) {
        qemu_plugin_outs(buf);
        return;
    }
    f = fopen(out_path, "w");
    if (f != NULL) {
        fputs(buf, f);
        fclose(f);
    }
}

static int parse_addr(const char *text, uint64_t *addr)
{
    char *rest;
    unsigned long long v = strtoull(text, &rest, 0);
    if (*text == '\0' || *rest != '\0') {
        return -1;
    }
    *addr = (uint64_t)v & ~(uint64_t)1;
    return 0;
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i, have_begin = 0, have_end = 0;
    (void)info;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "begin=", 6) == 0 && parse_addr(a + 6, &begin_addr) == 0) {
            have_begin = 1;
        } else if (strncmp(a, "end=", 4) == 0 && parse_addr(a + 4, &end_addr) == 0) {
            have_end = 1;
        } else if (strncmp(a, "out=", 4) == 0 && a[4] != '\0') {
            out_path = a + 4;
        } else {
            fprintf(stderr, "qemu_insn_count: bad argument '%s'\n", a);
            return -1;
        }
    }
    if (!have_begin || !have_end) {
        fprintf(stderr, "qemu_insn_count: begin= and end= are required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
