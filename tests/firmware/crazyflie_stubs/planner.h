/* Stub of the Crazyflie firmware's src/modules/interface/planner.h (see README.md): the planner's states. */
#pragma once

enum trajectory_state {
    TRAJECTORY_STATE_IDLE = 0,
    TRAJECTORY_STATE_FLYING = 1,
    TRAJECTORY_STATE_LANDING = 3,
    TRAJECTORY_STATE_DISABLED = 4,
};
