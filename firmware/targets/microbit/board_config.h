/* TinyRL micro:bit v1 (nRF51822, Cortex-M0): console UART and pins. */
#ifndef TR_BOARD_CONFIG_H
#define TR_BOARD_CONFIG_H

#define TR_NRF51_UART_BASE 0x40002000U
#define TR_NRF51_UART_TX_PIN 24U /* P0.24, to the USB interface chip */
#define TR_NRF51_UART_RX_PIN 25U

#endif /* TR_BOARD_CONFIG_H */
