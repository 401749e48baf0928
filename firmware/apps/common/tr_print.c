/*
 * TinyRL apps: console formatting (see tr_print.h).
 */
#include "tr_print.h"

#include "tr_board.h"

void tr_print_u64(uint64_t value)
{
    char buf[21];
    int32_t i = (int32_t)sizeof(buf) - 1;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + (int32_t)(value % 10U));
        value /= 10U;
    } while (value != 0U);
    tr_board_puts(&buf[i]);
}

void tr_print_i32(int32_t value)
{
    if (value < 0) {
        tr_board_puts("-");
        tr_print_u64((uint64_t)(-(int64_t)value));
    } else {
        tr_print_u64((uint64_t)value);
    }
}

void tr_print_kv(const char *key, int32_t value)
{
    tr_board_puts(key);
    tr_board_puts("=");
    tr_print_i32(value);
    tr_board_puts(" ");
}
