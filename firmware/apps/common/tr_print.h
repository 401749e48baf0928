/*
 * TinyRL apps: tiny console formatting on top of tr_board_puts (no printf: it would cost ~10 KB of flash).
 */
#ifndef TR_PRINT_H
#define TR_PRINT_H

#include <stdint.h>

/** Print a signed decimal. */
void tr_print_i32(int32_t value);

/** Print an unsigned decimal. */
void tr_print_u64(uint64_t value);

/** Print "key=value" followed by a space. */
void tr_print_kv(const char *key, int32_t value);

#endif /* TR_PRINT_H */
