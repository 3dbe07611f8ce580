/* harness/lg_startup.c - copied by lstmgen 0.1.0 from model "tiny" (ir sha256 9aaa868062e739cb72ee4aae6de92876265aeb3b4e040142cc81faacbd464a91)
 * input Q5.11 int16 | weights int8 | cell Q7.25 | h Q2.14 | sigmoid Q4.12->Q1.15 | tanh Q4.12->Q1.15 | out Q6.10 | round half-up, saturate */
/* startup.c - minimal Cortex-M startup for lstmgen's QEMU mps2 runs (shipped by lstmgen).
 *
 * The vector table holds the initial stack pointer (top of RAM, from mps2.ld) and the reset
 * handler. Reset copies .data from flash to RAM, enables the FPU when the build uses one, and
 * jumps to newlib's semihosting crt0 (`_start` from rdimon-crt0.o), which clears .bss, fetches
 * argv from the host (SYS_GET_CMDLINE), runs constructors, calls main and exits through
 * SYS_EXIT with main's status. Every fault handler spins in place: a guest fault shows up as
 * a host timeout, never as a wrong result.
 */
#include <stdint.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __stack_top__;
extern void _start(void);

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
    /* CPACR: full access to coprocessors 10 and 11 (the FPU) before any FP instruction. */
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
