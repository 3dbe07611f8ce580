/* harness/lg_startup.c - copied by lstmgen 0.1.0 from model "tiny" (ir sha256 9aaa868062e739cb72ee4aae6de92876265aeb3b4e040142cc81faacbd464a91)
 * input Q5.11 int16 | weights int8 | cell Q7.25 | h Q2.14 | sigmoid Q4.12->Q1.15 | tanh Q4.12->Q1.15 | out Q6.10 | round half-up, saturate */
/* startup.c - minimal Cortex-M startup for lstmgen's QEMU runs (shipped by lstmgen): the mps2
 * boards (mps2.ld) and the Cortex-M55's mps3-an547 (mps3_an547.ld).
 *
 * The vector table holds the initial stack pointer (top of RAM, from the linker script) and the
 * reset handler. Reset copies .data from flash to RAM, enables the FPU (and with it Helium, the
 * MVE, which shares its enable bits) when the build uses one, and jumps to newlib's
 * semihosting crt0 (`_start` from rdimon-crt0.o), which clears .bss, fetches argv from the host
 * (SYS_GET_CMDLINE), runs constructors, calls main and exits through SYS_EXIT with main's
 * status. Every fault handler spins in place: a guest fault shows up as a host timeout, never
 * as a wrong result.
 *
 * The heap: crt0 takes the stack and heap limits from the host (SYS_HEAPINFO), and QEMU answers
 * with its largest plain RAM region - on the mps3-an547 the 512 KiB ITCM at 0, not the RAM the
 * linker script uses - so newlib's own _sbrk would refuse every allocation (stdio's buffers).
 * The _sbrk below grows the heap from `end` up to `__stack_limit__`, both from the linker
 * script, on every board. (crt0 may place the stack at the top of that ITCM, which is RAM.)
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __stack_top__;
extern char end, __stack_limit__;
extern void _start(void);

void *_sbrk(ptrdiff_t incr);

/* newlib's heap: from `end` up to the linker script's stack limit. */
void *_sbrk(ptrdiff_t incr)
{
    static char *heap_end = &end;
    char *const prev = heap_end;
    if (incr < 0 || (size_t)incr > (size_t)(&__stack_limit__ - heap_end)) {
        errno = ENOMEM;
        return (void *)-1;
    }
    heap_end += incr;
    return prev;
}

void lg_reset_handler(void);
void lg_fault_handler(void);

void lg_fault_handler(void)
{
    for (;;) {
    }
}

void lg_reset_handler(void)
{
    const uint32_t *src = &__data_load__;
    uint32_t *dst = &__data_start__;
    while (dst < &__data_end__) {
        *dst++ = *src++;
    }
#if defined(__ARM_FP)
    /* CPACR: full access to coprocessors 10 and 11 (the FPU; on Armv8.1-M also the MVE)
     * before any FP or vector instruction. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    _start();
    for (;;) {
    }
}

typedef void (*lg_vector)(void);

/* Initial SP, reset, then NMI .. SysTick (14 system exceptions). */
__attribute__((section(".vectors"), used)) static const lg_vector lg_vectors[16] = {
    (lg_vector)(uintptr_t)&__stack_top__,
    lg_reset_handler,
    lg_fault_handler, lg_fault_handler, lg_fault_handler, lg_fault_handler, lg_fault_handler,
    0, 0, 0, 0,
    lg_fault_handler, lg_fault_handler, 0, lg_fault_handler, lg_fault_handler,
};
