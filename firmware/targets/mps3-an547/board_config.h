/* TinyRL MPS3 AN547 (Cortex-M55), secure alias of UART0: the console UART (Arm CMSDK APB UART) and its clock. */
#ifndef TR_BOARD_CONFIG_H
#define TR_BOARD_CONFIG_H

#define TR_CMSDK_UART_BASE 0x59303000U
#define TR_CMSDK_UART_PCLK_HZ 32000000U

#endif /* TR_BOARD_CONFIG_H */
