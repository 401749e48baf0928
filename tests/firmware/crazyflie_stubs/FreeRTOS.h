/* Stub of FreeRTOS.h as the Crazyflie firmware configures it (see README.md): 32-bit ticks of 1 ms. */
#pragma once

#include <stdint.h>

typedef uint32_t TickType_t; /* configUSE_16_BIT_TICKS 0 */

/* src/config/FreeRTOSConfig.h: milliseconds to ticks (configTICK_RATE_HZ 1000). */
#define M2T(X) ((unsigned int)(X))
#define T2M(X) ((unsigned int)(X))
