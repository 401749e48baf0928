/*
 * TinyRL STM32F405 target: USART1 driver (see uart.h).
 */
#include "uart.h"

#include "board_config.h"
#include "stm32f405.h"

/* Single producer (the IRQ) and single consumer (thread mode): each index has one writer, so no lock. */
static volatile uint8_t rx_buf[TR_UART_RX_SIZE];
static volatile uint32_t rx_head; /* written by the IRQ */
static volatile uint32_t rx_tail; /* written by tr_console_getc */
static volatile uint32_t rx_overruns;

void tr_console_init(void)
{
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    /* PA9/PA10 to alternate function 7 (USART1). */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFU << 18)) | (0xAU << 18);
    GPIOA_AFRH = (GPIOA_AFRH & ~(0xFFU << 4)) | (0x77U << 4);
    /* Oversampling by 16: BRR = pclk / baud, rounded (mantissa and fraction in one field). */
    USART1_BRR = (TR_USART1_PCLK_HZ + TR_USART1_BAUD / 2U) / TR_USART1_BAUD;
    rx_head = 0;
    rx_tail = 0;
    USART1_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    NVIC_ISER(USART1_IRQN / 32U) = 1U << (USART1_IRQN % 32U);
}

void tr_console_putc(uint8_t c)
{
    while ((USART1_SR & USART_SR_TXE) == 0U) {
    }
    USART1_DR = c;
}

int32_t tr_console_getc(void)
{
    const uint32_t tail = rx_tail;
    if (tail == rx_head) {
        return -1;
    }
    const uint8_t c = rx_buf[tail & (TR_UART_RX_SIZE - 1U)];
    rx_tail = tail + 1U;
    return c;
}

uint32_t tr_uart_rx_overruns(void)
{
    return rx_overruns;
}

void USART1_IRQHandler(void)
{
    /* Reading DR clears RXNE; drain everything that is waiting. */
    while ((USART1_SR & USART_SR_RXNE) != 0U) {
        const uint8_t c = (uint8_t)USART1_DR;
        const uint32_t head = rx_head;
        if (head - rx_tail < TR_UART_RX_SIZE) {
            rx_buf[head & (TR_UART_RX_SIZE - 1U)] = c;
            rx_head = head + 1U;
        } else {
            rx_overruns = rx_overruns + 1U;
        }
    }
}
