/* TinyRL MPS2 AN505 (Cortex-M33), secure alias of UART0: the console UART (Arm CMSDK APB UART) and its clock. */
#ifndef TR_BOARD_CONFIG_H
#define TR_BOARD_CONFIG_H

#define TR_CMSDK_UART_BASE 0x50200000U
#define TR_CMSDK_UART_PCLK_HZ 20000000U

#endif /* TR_BOARD_CONFIG_H */
