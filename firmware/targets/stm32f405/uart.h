/*
 * TinyRL STM32F405 target: the console (tr_console_* in targets/cortex-m/tr_cortex_m.h) on USART1. Polled transmit;
 * interrupt-driven receive (IRQ 37) into a ring buffer, so bytes arriving while the policy runs (HIL) are not lost.
 * tr_console_init enables the USART (8N1 at TR_USART1_BAUD, board_config.h); bytes arriving before that are dropped.
 */
#ifndef TR_UART_H
#define TR_UART_H

#include <stdint.h>

/** Ring buffer size in bytes; a power of two so the index wraps with a mask. */
#define TR_UART_RX_SIZE 256U

/** Bytes dropped because the ring buffer was full (a HIL host sending faster than we consume). */
uint32_t tr_uart_rx_overruns(void);

#endif /* TR_UART_H */
