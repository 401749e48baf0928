/* Stub of the Crazyflie firmware's src/modules/interface/crtp_commander_high_level.h (see README.md). */
#pragma once

#include <stdbool.h>

#include "stabilizer_types.h"

enum trajectory_state;

/* Planner state: IDLE after a stop, FLYING or LANDING during a command, DISABLED sends no setpoints. */
enum trajectory_state crtpCommanderHighLevelGetPlannerState(void);
int crtpCommanderHighLevelDisable(void);
