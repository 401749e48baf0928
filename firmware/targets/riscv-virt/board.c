/*
 * TinyRL RISC-V target (QEMU `virt`, rv32imc): the board API (tr_board.h) on the NS16550A UART, the instret counter
 * and QEMU's SiFive test device.
 *
 * Time: minstret counts retired instructions, so ticks are instructions and need no calibration. Under QEMU it is
 * only an instruction count with -icount (shift=0: 1 ns of virtual time per instruction); without -icount QEMU
 * backs it with the host clock.
 */
#include "tr_board.h"

#define TR_REG8(addr) (*(volatile uint8_t *)(uintptr_t)(addr))
#define TR_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* NS16550A at 0x10000000 (byte registers). */
#define UART_BASE 0x10000000U
#define UART_RBR_THR TR_REG8(UART_BASE + 0U)
#define UART_IER TR_REG8(UART_BASE + 1U)
#define UART_LCR TR_REG8(UART_BASE + 3U)
#define UART_LSR TR_REG8(UART_BASE + 5U)
#define UART_LCR_8N1 0x03U
#define UART_LSR_DR 0x01U   /* a received byte is waiting */
#define UART_LSR_THRE 0x20U /* the transmit holding register is empty */

/* SiFive test device: writing FINISHER_PASS ends QEMU with status 0, (code << 16) | FINISHER_FAIL with `code`. */
#define TEST_FINISHER TR_REG32(0x00100000U)
#define TEST_FINISHER_PASS 0x5555U
#define TEST_FINISHER_FAIL 0x3333U

void tr_board_init(void)
{
    UART_IER = 0U; /* polled */
    UART_LCR = UART_LCR_8N1;
}

uint64_t tr_board_ticks(void)
{
    /* Re-read the high half around the low half so a carry between the two reads is never missed. */
    uint32_t hi;
    uint32_t lo;
    uint32_t hi2;
    do {
        __asm__ volatile("rdinstreth %0" : "=r"(hi));
        __asm__ volatile("rdinstret %0" : "=r"(lo));
        __asm__ volatile("rdinstreth %0" : "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

uint32_t tr_board_ticks_per_minstr(void)
{
    return 1000000U; /* ticks are retired instructions */
}

static void tr_board_putc(uint8_t c)
{
    while ((UART_LSR & UART_LSR_THRE) == 0U) {
    }
    UART_RBR_THR = c;
}

void tr_board_puts(const char *s)
{
    while (*s != '\0') {
        tr_board_putc((uint8_t)*s++);
    }
}

void tr_board_write(const uint8_t *data, uint32_t size)
{
    for (uint32_t i = 0; i < size; ++i) {
        tr_board_putc(data[i]);
    }
}

int32_t tr_board_getc(void)
{
    if ((UART_LSR & UART_LSR_DR) == 0U) {
        return -1;
    }
    return (int32_t)UART_RBR_THR;
}

void tr_board_exit(int32_t status)
{
    const uint32_t code = status == 0 ? 0U : (uint32_t)(status > 0 ? status : 1) & 0xFFFFU;
    TEST_FINISHER = code == 0U ? TEST_FINISHER_PASS : (code << 16) | TEST_FINISHER_FAIL;
    for (;;) {
        /* Not under QEMU: stop here. */
    }
}
