/*
 * TinyRL host target: the board API on a POSIX host (stdio console), so apps and kernels run as unit tests.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tr_board.h"

void tr_board_init(void)
{
}

void tr_board_puts(const char *s)
{
    fputs(s, stdout);
}

void tr_board_write(const uint8_t *data, uint32_t size)
{
    fwrite(data, 1, size, stdout);
}

/* Blocks for the next stdin byte. End of input ends the program (status 0), as a closed HIL link would. */
int32_t tr_board_getc(void)
{
    const int c = getchar();
    if (c == EOF) {
        tr_board_exit(0);
    }
    return (int32_t)c;
}

uint64_t tr_board_ticks(void)
{
    return 0; /* Host timing says nothing about the MCU; instruction counts come from QEMU. */
}

uint32_t tr_board_ticks_per_minstr(void)
{
    return 0;
}

void tr_board_exit(int32_t status)
{
    fflush(stdout);
    exit(status == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
