/* qemu_insn_count.c - QEMU TCG plugin (API version 1, QEMU 7.2+): count guest instructions
 * executed inside measured regions. Part of lstmgen; built at run time with the host gcc.
 *
 * Arguments (comma-separated after the .so path):
 *   begin=ADDR  address of the function opening a region (lg_bench_begin)
 *   end=ADDR    address of the function closing it (lg_bench_end)
 *   out=PATH    file receiving the result lines (default: the QEMU log via qemu_plugin_outs)
 * ADDR is decimal or 0x-hex; bit 0 (the Thumb bit) is ignored.
 *
 * Every executed instruction adds 1 to a counter (an inline op, no helper call). Entering
 * `begin` snapshots the counter; entering `end` adds the difference to the region total. The
 * result is "regions N", "insns T" (sum over regions), "min A", "max B" (per region) and
 * "all C" (every instruction of the run), one per line.
 *
 * Debian ships QEMU's plugin support without qemu-plugin.h, so the handful of API
 * declarations used here are written out below, matching QEMU's documented plugin API v1.
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

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                    void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

#define LG_EXPORT __attribute__((visibility("default")))

LG_EXPORT int qemu_plugin_version = 1;
LG_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                  char **argv);

static uint64_t begin_addr, end_addr;
static const char *out_path;
static uint64_t executed;   /* every instruction, incremented inline */
static uint64_t snapshot;   /* `executed` when the open region began */
static int open_region;
static uint64_t regions, in_regions, region_min = UINT64_MAX, region_max;

static void on_begin(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    snapshot = executed;
    open_region = 1;
}

static void on_end(unsigned int vcpu_index, void *userdata)
{
    uint64_t n;
    (void)vcpu_index;
    (void)userdata;
    if (!open_region) {
        return;
    }
    n = executed - snapshot;
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

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* The inline add is registered first, so both markers see their own instruction
         * counted: a region is [first insn of begin, first insn of end). */
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
        if (pc == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (pc == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

static void on_atexit(qemu_plugin_id_t id, void *userdata)
{
    char buf[256];
    FILE *f;
    (void)id;
    (void)userdata;
    snprintf(buf, sizeof buf,
             "regions %" PRIu64 "\ninsns %" PRIu64 "\nmin %" PRIu64 "\nmax %" PRIu64
             "\nall %" PRIu64 "\n",
             regions, in_regions, regions ? region_min : 0, region_max, executed);
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
