/* Stub of the Crazyflie firmware's src/hal/interface/usec_time.h (see README.md). */
#pragma once

#include <stdint.h>

uint64_t usecTimestamp(void);
