/* Stub of the Crazyflie firmware's src/modules/interface/commander.h (see README.md). */
#pragma once

#include "stabilizer_types.h"

#define COMMANDER_PRIORITY_DISABLE 0
#define COMMANDER_PRIORITY_LOWEST 1
#define COMMANDER_PRIORITY_HIGHLEVEL 1
#define COMMANDER_PRIORITY_CRTP 2
#define COMMANDER_PRIORITY_EXTRX 3

/* Not const: the commander stamps setpoint->timestamp. */
void commanderSetSetpoint(setpoint_t *setpoint, int priority);
int commanderGetActivePriority(void);
void commanderRelaxPriority(void);
