/*
 * TinyRL STM32F405 target: vector table and reset handler.
 *
 * Reset copies .data from flash, zeroes .bss, turns the FPU on (the build is hard-float, so any
 * compiler-generated VFP instruction before that would fault), then calls main(). main()'s return
 * value becomes the QEMU exit status through semihosting.
 */
#include <stdint.h>

#include "stm32f405.h"
#include "tr_board.h"

/* Linker-script symbols (stm32f405.ld). */
extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];

int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void);
void USART1_IRQHandler(void);

#define TR_NUM_IRQS 82 /* STM32F405: IRQ 0 (WWDG) .. 81 (FPU) */

typedef void (*tr_handler)(void);

/* Repeat an initializer (ISO C has no range designators). */
#define TR_REP4(h) h, h, h, h
#define TR_REP8(h) TR_REP4(h), TR_REP4(h)
#define TR_REP16(h) TR_REP8(h), TR_REP8(h)
#define TR_REP32(h) TR_REP16(h), TR_REP16(h)

/* A struct rather than an array of casts: the first word is a data address, the rest are functions. */
typedef struct {
    uint32_t *initial_sp;
    tr_handler exceptions[15];
    tr_handler irqs[TR_NUM_IRQS];
} tr_vector_table;

__attribute__((section(".isr_vector"), used)) const tr_vector_table tr_vectors = {
    .initial_sp = _estack,
    .exceptions =
        {
            Reset_Handler,     /* Reset */
            Default_Handler,   /* NMI */
            HardFault_Handler, /* HardFault */
            HardFault_Handler, /* MemManage */
            HardFault_Handler, /* BusFault */
            HardFault_Handler, /* UsageFault */
            0,
            0,
            0,
            0,
            Default_Handler, /* SVCall */
            Default_Handler, /* DebugMonitor */
            0,
            Default_Handler, /* PendSV */
            SysTick_Handler, /* SysTick */
        },
    /* Unused IRQs go to Default_Handler, which reports and exits instead of hanging the test. */
    .irqs =
        {
            TR_REP32(Default_Handler), TR_REP4(Default_Handler), Default_Handler, /* IRQ 0..36 */
            USART1_IRQHandler,                                                    /* IRQ 37 */
            TR_REP32(Default_Handler), TR_REP8(Default_Handler), TR_REP4(Default_Handler), /* IRQ 38..81 */
        },
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
    SCB_CPACR |= (0xFU << 20); /* CP10 + CP11 full access: the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");

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
