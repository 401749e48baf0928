/* TinyRL MPS2 AN500 (Cortex-M7): the console UART (Arm CMSDK APB UART) and its clock. */
#ifndef TR_BOARD_CONFIG_H
#define TR_BOARD_CONFIG_H

#define TR_CMSDK_UART_BASE 0x40004000U
#define TR_CMSDK_UART_PCLK_HZ 25000000U

#endif /* TR_BOARD_CONFIG_H */
