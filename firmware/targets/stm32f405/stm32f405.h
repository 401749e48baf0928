/*
 * TinyRL STM32F405 target: the few peripheral registers we touch (RM0090); the core's are in
 * targets/cortex-m/tr_cortex_m.h.
 */
#ifndef TR_STM32F405_H
#define TR_STM32F405_H

#include "tr_cortex_m.h"

/* RCC: clock enables. QEMU ignores them; silicon needs them. */
#define RCC_AHB1ENR TR_REG(0x40023830U)
#define RCC_APB2ENR TR_REG(0x40023844U)
#define RCC_AHB1ENR_GPIOAEN (1U << 0)
#define RCC_APB2ENR_USART1EN (1U << 4)

/* GPIOA: PA9 = USART1_TX, PA10 = USART1_RX, alternate function 7. */
#define GPIOA_MODER TR_REG(0x40020000U)
#define GPIOA_AFRH TR_REG(0x40020024U)

/* USART1 (QEMU netduinoplus2 maps -serial here). */
#define USART1_SR TR_REG(0x40011000U)
#define USART1_DR TR_REG(0x40011004U)
#define USART1_BRR TR_REG(0x40011008U)
#define USART1_CR1 TR_REG(0x4001100CU)
#define USART_SR_RXNE (1U << 5)
#define USART_SR_TXE (1U << 7)
#define USART_CR1_RE (1U << 2)
#define USART_CR1_TE (1U << 3)
#define USART_CR1_RXNEIE (1U << 5)
#define USART_CR1_UE (1U << 13)
#define USART1_IRQN 37U

/* NVIC interrupt set-enable registers (ARMv7-M). */
#define NVIC_ISER(n) TR_REG(0xE000E100U + 4U * (n))

#endif /* TR_STM32F405_H */
