/*
 * TinyRL STM32F405 (Crazyflie 2.x; QEMU netduinoplus2): the console on USART1 and the interrupt its receive ring
 * buffer takes (see uart.h), for the shared Cortex-M start-up and board code in targets/cortex-m.
 */
#ifndef TR_BOARD_CONFIG_H
#define TR_BOARD_CONFIG_H

#define TR_USART1_PCLK_HZ 16000000U /* APB2 on the HSI the chip resets to */
#define TR_USART1_BAUD 115200U

void USART1_IRQHandler(void);

/* Repeat an initializer (ISO C has no range designators). */
#define TR_REP4(h) h, h, h, h
#define TR_REP8(h) TR_REP4(h), TR_REP4(h)
#define TR_REP16(h) TR_REP8(h), TR_REP8(h)
#define TR_REP32(h) TR_REP16(h), TR_REP16(h)

/* IRQ 0 (WWDG) .. 81 (FPU); the unused ones go to Default_Handler, which reports and exits instead of hanging. */
#define TR_BOARD_NUM_IRQS 82
#define TR_BOARD_IRQ_VECTORS                                                                                        \
    {                                                                                                              \
        TR_REP32(Default_Handler), TR_REP4(Default_Handler), Default_Handler, /* IRQ 0..36 */                      \
            USART1_IRQHandler,                                                /* IRQ 37 */                         \
            TR_REP32(Default_Handler), TR_REP8(Default_Handler), TR_REP4(Default_Handler), /* IRQ 38..81 */        \
    }

#endif /* TR_BOARD_CONFIG_H */
