/*
 * TinyRL Cortex-M boards (targets/cortex-m): the core registers every Cortex-M has (ARMv6-M, ARMv7-M, ARMv8-M),
 * and the console driver interface each board provides (cmsdk_uart.c, nrf51_uart.c, stm32f405/uart.c).
 *
 * The board's own addresses come from its board_config.h (targets/BOARD/), found through the include path.
 */
#ifndef TR_CORTEX_M_H
#define TR_CORTEX_M_H

#include <stdint.h>

#define TR_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* SysTick (24-bit down counter) and the coprocessor access register, at the same addresses on every Cortex-M. */
#define SYST_CSR TR_REG(0xE000E010U)
#define SYST_RVR TR_REG(0xE000E014U)
#define SYST_CVR TR_REG(0xE000E018U)
#define SYST_CSR_ENABLE (1U << 0)
#define SYST_CSR_TICKINT (1U << 1)
#define SYST_CSR_CLKSOURCE (1U << 2) /* core clock */
#define SCB_CPACR TR_REG(0xE000ED88U)

/** Bring up the console UART: 8N1, transmit and receive, polled (no interrupt). */
void tr_console_init(void);

/** Transmit one byte, waiting until the UART takes it. */
void tr_console_putc(uint8_t c);

/** Next received byte, or -1 if none is waiting (never blocks). */
int32_t tr_console_getc(void);

#endif /* TR_CORTEX_M_H */
