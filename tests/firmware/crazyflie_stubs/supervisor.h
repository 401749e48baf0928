/* Stub of the Crazyflie firmware's src/modules/interface/supervisor.h (see README.md). */
#pragma once

#include <stdbool.h>

/* True in the supervisor's ready-to-fly, flying, warning-level-out and landed states: armed, no emergency stop,
 * not locked, not crashed. */
bool supervisorCanFly(void);
