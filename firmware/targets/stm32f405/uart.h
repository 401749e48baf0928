/*
 * TinyRL STM32F405 target: USART1 console. Polled transmit; interrupt-driven receive (IRQ 37) into a
 * ring buffer, so bytes arriving while the policy runs (HIL) are not lost.
 */
#ifndef TR_UART_H
#define TR_UART_H

#include <stdint.h>

/** Ring buffer size in bytes; a power of two so the index wraps with a mask. */
#define TR_UART_RX_SIZE 256U

/** Enable USART1: 8N1, TX + RX, receive interrupt. Bytes arriving before this are dropped by the USART. */
void tr_uart_init(uint32_t pclk_hz, uint32_t baud);

/** Transmit one byte, waiting for TXE. */
void tr_uart_putc(uint8_t c);

/** Next received byte, or -1 if the ring buffer is empty. */
int32_t tr_uart_getc(void);

/** Bytes dropped because the ring buffer was full (a HIL host sending faster than we consume). */
uint32_t tr_uart_rx_overruns(void);

#endif /* TR_UART_H */
