/*
 * TinyRL Cortex-M boards: the console on the nRF51's UART (BBC micro:bit v1, QEMU `microbit`), polled.
 *
 * board_config.h gives TR_NRF51_UART_BASE and the TX/RX pins (the micro:bit's USB bridge is on P0.24/P0.25).
 */
#include "board_config.h"
#include "tr_cortex_m.h"

#define UART_TASKS_STARTRX TR_REG(TR_NRF51_UART_BASE + 0x000U)
#define UART_TASKS_STARTTX TR_REG(TR_NRF51_UART_BASE + 0x008U)
#define UART_EVENTS_RXDRDY TR_REG(TR_NRF51_UART_BASE + 0x108U)
#define UART_EVENTS_TXDRDY TR_REG(TR_NRF51_UART_BASE + 0x11CU)
#define UART_ENABLE TR_REG(TR_NRF51_UART_BASE + 0x500U)
#define UART_PSELTXD TR_REG(TR_NRF51_UART_BASE + 0x50CU)
#define UART_PSELRXD TR_REG(TR_NRF51_UART_BASE + 0x514U)
#define UART_RXD TR_REG(TR_NRF51_UART_BASE + 0x518U)
#define UART_TXD TR_REG(TR_NRF51_UART_BASE + 0x51CU)
#define UART_BAUDRATE TR_REG(TR_NRF51_UART_BASE + 0x524U)
#define UART_ENABLE_ENABLED 4U
#define UART_BAUDRATE_115200 0x01D7E000U

void tr_console_init(void)
{
    UART_PSELTXD = TR_NRF51_UART_TX_PIN;
    UART_PSELRXD = TR_NRF51_UART_RX_PIN;
    UART_BAUDRATE = UART_BAUDRATE_115200;
    UART_ENABLE = UART_ENABLE_ENABLED;
    UART_TASKS_STARTTX = 1U;
    UART_TASKS_STARTRX = 1U;
}

void tr_console_putc(uint8_t c)
{
    UART_EVENTS_TXDRDY = 0U;
    UART_TXD = c;
    while (UART_EVENTS_TXDRDY == 0U) {
    }
}

int32_t tr_console_getc(void)
{
    if (UART_EVENTS_RXDRDY == 0U) {
        return -1;
    }
    UART_EVENTS_RXDRDY = 0U;
    return (int32_t)(UART_RXD & 0xFFU);
}
