/*
 * TinyRL Cortex-M boards: vector table and reset handler, for every core from ARMv6-M (Cortex-M0+) to ARMv8.1-M
 * (Cortex-M55).
 *
 * Reset copies .data from flash, zeroes .bss, turns the FPU (and on ARMv8.1-M the MVE unit, which shares CP10/CP11)
 * on when the build uses it, then calls main(); main()'s return value becomes the QEMU exit status through
 * semihosting. SysTick is the only system exception in use. A board whose console takes an interrupt (the STM32F405's
 * receive ring buffer) lists its external interrupts in board_config.h: TR_BOARD_NUM_IRQS and the initializer
 * TR_BOARD_IRQ_VECTORS; without them the table ends after the 16 system exceptions.
 */
#include <stdint.h>

#include "board_config.h"
#include "tr_board.h"
#include "tr_cortex_m.h"

/* Linker-script symbols (sections.ld). */
extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];

int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void);

typedef void (*tr_handler)(void);

/* A struct rather than an array of casts: the first word is a data address, the rest are functions. */
typedef struct {
    uint32_t *initial_sp;
    tr_handler exceptions[15];
#ifdef TR_BOARD_NUM_IRQS
    tr_handler irqs[TR_BOARD_NUM_IRQS];
#endif
} tr_vector_table;

__attribute__((section(".isr_vector"), used)) const tr_vector_table tr_vectors = {
    .initial_sp = _estack,
    .exceptions =
        {
            Reset_Handler,     /* Reset */
            Default_Handler,   /* NMI */
            HardFault_Handler, /* HardFault */
            HardFault_Handler, /* MemManage (ARMv7-M and later) */
            HardFault_Handler, /* BusFault */
            HardFault_Handler, /* UsageFault */
            HardFault_Handler, /* SecureFault (ARMv8-M with the security extension) */
            0,
            0,
            0,
            Default_Handler, /* SVCall */
            Default_Handler, /* DebugMonitor */
            0,
            Default_Handler, /* PendSV */
            SysTick_Handler, /* SysTick */
        },
#ifdef TR_BOARD_NUM_IRQS
    .irqs = TR_BOARD_IRQ_VECTORS,
#endif
};

void Reset_Handler(void)
{
    /* GCC may turn these loops into memcpy/memset calls; newlib's use no static data, so that is safe here. */
    for (uint32_t *src = _sidata, *dst = _sdata; dst < _edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = _sbss; dst < _ebss;) {
        *dst++ = 0;
    }
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* A hard-float (or MVE) build may use CP10/CP11 anywhere after this point, so grant access first. */
    SCB_CPACR |= (0xFU << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    const int status = main();
    tr_board_exit(status);
}

void Default_Handler(void)
{
    tr_board_puts("\r\nFAULT: unexpected interrupt\r\n");
    tr_board_exit(2);
}

void HardFault_Handler(void)
{
    tr_board_puts("\r\nFAULT: hard fault\r\n");
    tr_board_exit(2);
}
