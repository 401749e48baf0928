/*
 * TinyRL RISC-V target (QEMU `virt`, rv32imc): reset entry and trap handler.
 *
 * _start sets the global and stack pointers, then the C reset copies .data from its load address, zeroes .bss,
 * points mtvec at the trap handler (any exception reports and ends the run instead of hanging it), calls main()
 * and passes its return value to tr_board_exit.
 */
#include <stdint.h>

#include "tr_board.h"

/* Linker-script symbols (virt.ld). */
extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[];

int main(void);
void _start(void);
void tr_riscv_reset(void);
void tr_riscv_trap(void);

__attribute__((naked, section(".text.start"))) void _start(void)
{
    /* gp must be set without linker relaxation, which would otherwise rewrite this very load relative to gp. */
    __asm__ volatile(".option push\n\t"
                     ".option norelax\n\t"
                     "la gp, __global_pointer$\n\t"
                     ".option pop\n\t"
                     "la sp, _estack\n\t"
                     "call tr_riscv_reset\n"
                     "1:\n\t"
                     "j 1b");
}

/* mtvec's direct mode needs a 4-byte aligned handler; with the C extension functions are only 2-byte aligned. */
__attribute__((aligned(4))) void tr_riscv_trap(void)
{
    tr_board_puts("\r\nFAULT: trap\r\n");
    tr_board_exit(2);
}

void tr_riscv_reset(void)
{
    for (uint32_t *src = _sidata, *dst = _sdata; dst < _edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = _sbss; dst < _ebss;) {
        *dst++ = 0;
    }
    __asm__ volatile("csrw mtvec, %0" : : "r"((uintptr_t)&tr_riscv_trap));
    const int status = main();
    tr_board_exit(status);
}
