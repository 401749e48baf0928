/* Stub of the Crazyflie firmware's src/utils/interface/debug.h (see README.md). DEBUG_PRINT goes to the firmware's
 * own eprintf (consolePrintf), which handles only %d %i %u %x %X %l(l)d/u/x %f %s %c %% (precision: one digit, %f
 * only); test_crazyflie_app.py checks the app's format strings against that, gcc's printf check does the rest. */
#pragma once

int consolePrintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef DEBUG_MODULE
#define DEBUG_FMT(fmt) DEBUG_MODULE ": " fmt
#else
#define DEBUG_FMT(fmt) fmt
#endif
#define DEBUG_PRINT(fmt, ...) consolePrintf(DEBUG_FMT(fmt), ##__VA_ARGS__)
