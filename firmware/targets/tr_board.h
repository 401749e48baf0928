/*
 * TinyRL board API: the little every target provides to the apps (console, time, exit).
 *
 * Implemented by targets/stm32f405 (USART1, SysTick, semihosting) and targets/host (stdio, exit()).
 */
#ifndef TR_BOARD_H
#define TR_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bring up the console (and on the MCU: FPU already on, SysTick running, receive interrupt armed). */
void tr_board_init(void);

/** Write a NUL-terminated string to the console; blocks until queued (polled transmit). */
void tr_board_puts(const char *s);

/** Write raw bytes to the console. */
void tr_board_write(const uint8_t *data, uint32_t size);

/** Next received console byte, or -1 if none is waiting (never blocks). */
int32_t tr_board_getc(void);

/**
 * Monotonic tick counter. On the STM32F405 these are SysTick core-clock ticks; under QEMU with
 * `-icount shift=0` virtual time advances exactly per instruction, so tick differences are repeatable.
 */
uint64_t tr_board_ticks(void);

/**
 * Ticks per one million instructions, measured at init against a loop of known instruction count
 * (exact under QEMU -icount; on silicon it measures that loop's cycles). 0 where unknown (host).
 */
uint32_t tr_board_ticks_per_minstr(void);

/** End the program: under QEMU, exit the emulator with status 0 (pass) or 1 (fail). Never returns. */
void tr_board_exit(int32_t status) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* TR_BOARD_H */
