/*
 * TinyRL Cortex-M boards: the console on an Arm CMSDK APB UART (MPS2 and MPS3 FPGA images), polled.
 *
 * board_config.h gives TR_CMSDK_UART_BASE and TR_CMSDK_UART_PCLK_HZ. Receive is polled, not interrupt-driven: the
 * UART holds one byte, and under QEMU the serial backend waits until it is read, so nothing is lost there; on
 * silicon a host must pace its bytes (the STM32F405 target has the interrupt-driven ring buffer for HIL).
 */
#include "board_config.h"
#include "tr_cortex_m.h"

#define UART_DATA TR_REG(TR_CMSDK_UART_BASE + 0x00U)
#define UART_STATE TR_REG(TR_CMSDK_UART_BASE + 0x04U)
#define UART_CTRL TR_REG(TR_CMSDK_UART_BASE + 0x08U)
#define UART_BAUDDIV TR_REG(TR_CMSDK_UART_BASE + 0x10U)
#define UART_STATE_TXFULL (1U << 0)
#define UART_STATE_RXFULL (1U << 1)
#define UART_CTRL_TXEN (1U << 0)
#define UART_CTRL_RXEN (1U << 1)
#define TR_BAUD 115200U

void tr_console_init(void)
{
    UART_BAUDDIV = TR_CMSDK_UART_PCLK_HZ / TR_BAUD; /* the divider must be at least 16 */
    UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN;
}

void tr_console_putc(uint8_t c)
{
    while ((UART_STATE & UART_STATE_TXFULL) != 0U) {
    }
    UART_DATA = c;
}

int32_t tr_console_getc(void)
{
    if ((UART_STATE & UART_STATE_RXFULL) == 0U) {
        return -1;
    }
    return (int32_t)(UART_DATA & 0xFFU);
}
