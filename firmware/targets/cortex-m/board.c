/*
 * TinyRL Cortex-M boards: the board API (tr_board.h) on SysTick, the board's console UART and ARM semihosting.
 *
 * Time: SysTick on the core clock. QEMU clocks it at a fixed rate per machine (micro:bit 16 MHz, MPS2 25 MHz,
 * AN505 20 MHz, AN547 32 MHz, netduinoplus2 168 MHz, whatever RCC is set to); with -icount shift=0 virtual time
 * advances 1 ns per instruction, so the calibration loop measures ticks per million instructions exactly and tick
 * differences are repeatable instruction counts. No board here touches the clock tree: the STM32F405 runs on the
 * 16 MHz HSI it resets to, and on a Crazyflie the firmware sets up the PLL.
 */
#include "tr_board.h"

#include "tr_cortex_m.h"

void SysTick_Handler(void);

#define TR_SYSTICK_RELOAD 0xFFFFFFU /* 24-bit counter, counts down */

static volatile uint32_t systick_wraps;
static uint32_t ticks_per_minstr;

void SysTick_Handler(void)
{
    systick_wraps = systick_wraps + 1U;
}

uint64_t tr_board_ticks(void)
{
    /* Re-read the wrap count around the counter so a wrap between the two reads is never missed. */
    uint32_t wraps;
    uint32_t value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return (uint64_t)wraps * (TR_SYSTICK_RELOAD + 1U) + (TR_SYSTICK_RELOAD - value);
}

/*
 * Runs exactly 2 * n + (setup) instructions: SUBS + BNE per iteration, both 16-bit Thumb instructions that every
 * Cortex-M has. Under QEMU -icount every instruction advances virtual time by the same amount.
 */
static void tr_board_spin(uint32_t n)
{
    __asm__ volatile(".syntax unified\n"
                     "1:\n\t"
                     "subs %0, %0, #1\n\t"
                     "bne 1b"
                     : "+l"(n)
                     :
                     : "cc");
}

static uint32_t tr_board_calibrate(void)
{
    const uint32_t iterations = 500000U; /* 1,000,000 instructions */
    const uint64_t t0 = tr_board_ticks();
    tr_board_spin(iterations);
    const uint64_t t1 = tr_board_ticks();
    return (uint32_t)(t1 - t0);
}

void tr_board_init(void)
{
    SYST_RVR = TR_SYSTICK_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    /* The counter loads RVR on its first clock edge after enabling, without a wrap; until then it reads 0, which
     * tr_board_ticks would take for a full period. On slow SysTick clocks (16 MHz against QEMU's 1 GHz of
     * instructions) that edge can come after the calibration has started, so wait for it. */
    while (SYST_CVR == 0U) {
    }
    tr_console_init();
    ticks_per_minstr = tr_board_calibrate();
}

uint32_t tr_board_ticks_per_minstr(void)
{
    return ticks_per_minstr;
}

void tr_board_puts(const char *s)
{
    while (*s != '\0') {
        tr_console_putc((uint8_t)*s++);
    }
}

void tr_board_write(const uint8_t *data, uint32_t size)
{
    for (uint32_t i = 0; i < size; ++i) {
        tr_console_putc(data[i]);
    }
}

int32_t tr_board_getc(void)
{
    return tr_console_getc();
}

/*
 * ARM semihosting SYS_EXIT (0x18). On AArch32 the argument is the reason code itself; QEMU exits with status 0 for
 * ADP_Stopped_ApplicationExit and 1 for any other reason. Without a debugger or QEMU attached, BKPT faults, so this
 * is for emulation and debug sessions only.
 */
#define TR_SYS_EXIT 0x18U
#define TR_ADP_STOPPED_APPLICATION_EXIT 0x20026U
#define TR_ADP_STOPPED_RUNTIME_ERROR_UNKNOWN 0x20023U

void tr_board_exit(int32_t status)
{
    register uint32_t r0 __asm__("r0") = TR_SYS_EXIT;
    register uint32_t r1 __asm__("r1") =
        status == 0 ? TR_ADP_STOPPED_APPLICATION_EXIT : TR_ADP_STOPPED_RUNTIME_ERROR_UNKNOWN;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    for (;;) {
        /* Not under QEMU/debugger: stop here. */
    }
}
