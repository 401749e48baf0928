/*
 * TinyRL Crazyflie app: when the app may fly the policy, when it holds a hover in place, and when it leaves the
 * drone to another commander. Plain C99 (no Crazyflie headers): tinyrl_app.c feeds it one step of firmware state
 * per policy period and does what it returns; tests/firmware/test_crazyflie_app.py drives it step by step.
 *
 * States:
 *   IDLE     the app sends nothing (at boot, after a refusal, or once another commander has taken over);
 *   FLYING   the policy's hover setpoints;
 *   HOLDING  hover in place (zero velocity and yaw rate at the height where the hold began): after
 *            tinyrl.enable = 0, or after too many bad steps, until another commander takes over.
 * The app sends at the lowest commander priority with the high-level planner disabled, so any client setpoint
 * (priority 2: cflib's send_stop_setpoint as much as a hover setpoint), an external receiver's (3) or a
 * high-level command replaces the app's at once and the commander rejects the app's from then on; the guard sees
 * it as taken_over or high_level_active and goes IDLE.
 */
#ifndef TINYRL_GUARD_H
#define TINYRL_GUARD_H

#include <stdbool.h>
#include <stdint.h>

/** Log tinyrl.state. */
typedef enum {
    TINYRL_STATE_IDLE = 0,
    TINYRL_STATE_FLYING = 1,
    TINYRL_STATE_HOLDING = 2,
} tinyrl_state;

/** Log tinyrl.reason: why the app last left FLYING or refused to start (TINYRL_REASON_NONE while it flies). */
typedef enum {
    TINYRL_REASON_NONE = 0,
    TINYRL_REASON_DISABLED = 1,   /**< tinyrl.enable = 0: holding, then whoever takes over. */
    TINYRL_REASON_TAKEN_OVER = 2, /**< another setpoint (a client's, a client stop, an external receiver's). */
    TINYRL_REASON_HIGH_LEVEL = 3, /**< the high-level commander started a command (take-off, land, go-to). */
    TINYRL_REASON_SUPERVISOR = 4, /**< the supervisor forbids flight: disarmed, emergency stop, locked, crashed. */
    TINYRL_REASON_NOT_READY = 5,  /**< enable refused: see tinyrl.faults. */
    TINYRL_REASON_BAD_STEPS = 6,  /**< too many steps in a row with a fault or a policy error: see tinyrl.faults. */
} tinyrl_reason;

/** Log tinyrl.faults: bits of what is wrong with this step's inputs (0: all fine). */
enum {
    TINYRL_FAULT_LOG_VAR = 1u << 0,     /**< a log variable the app reads is missing from the firmware build. */
    TINYRL_FAULT_RANGER_DECK = 1u << 1, /**< the multi-ranger deck is not detected (deck.bcMultiranger). */
    TINYRL_FAULT_RANGER = 1u << 2,      /**< a multi-ranger sensor has no reading (failed or never measured). */
    TINYRL_FAULT_DOWN_DECK = 1u << 3,   /**< no deck with a down ranger (flow deck v1/v2, z-ranger v1/v2). */
    TINYRL_FAULT_ESTIMATOR = 1u << 4,   /**< the state estimator is not the Kalman filter. */
    TINYRL_FAULT_LIGHT = 1u << 5,       /**< no light sensor configured, or its log variable is missing. */
    TINYRL_FAULT_POLICY_INIT = 1u << 6, /**< tinyrl_policy_init failed. */
    TINYRL_FAULT_POLICY = 1u << 7,      /**< tinyrl_policy_run failed (its code is in tinyrl.status). */
};

/** What the app sends this step. */
typedef enum {
    TINYRL_SEND_NOTHING = 0,
    TINYRL_SEND_POLICY = 1, /**< run the policy, send its setpoint (see tinyrl_guard_policy_done). */
    TINYRL_SEND_HOLD = 2,   /**< the hover-in-place setpoint. */
} tinyrl_send;

/** One policy period of firmware state, read by the app. */
typedef struct {
    bool enable;            /**< tinyrl.enable. */
    bool can_fly;           /**< supervisorCanFly(): armed, no emergency stop, not locked, not crashed. */
    bool taken_over;        /**< the active commander priority is above the app's (someone else's setpoint). */
    bool high_level_active; /**< the high-level planner is flying a command (take-off, land, go-to, trajectory). */
    uint32_t faults;        /**< TINYRL_FAULT_* of this step's readings and of the build. */
} tinyrl_guard_input;

/** What the app does this step. */
typedef struct {
    tinyrl_send send;
    bool start;        /**< a new episode: reset the policy's memory (prev_action, the averages) and take the
                            commander (disable the high-level planner, relax the priority). */
    bool begin_hold;   /**< the first hold step of a run: the hover point is the current height estimate. */
    bool clear_enable; /**< write tinyrl.enable = 0 (the app stopped or refused on its own). */
} tinyrl_guard_output;

typedef struct {
    tinyrl_state state;
    tinyrl_reason reason;
    uint32_t faults;        /**< the last step's faults (the policy's included). */
    uint32_t bad_steps;     /**< FLYING steps in a row held because of a fault or a policy error. */
    uint32_t max_bad_steps; /**< that many stop the policy (HOLDING, reason BAD_STEPS). */
    bool held_last;         /**< the last step sent the hold (a run of hold steps keeps its hover point). */
} tinyrl_guard;

/** Start IDLE; max_bad_steps (>= 1) bad steps in a row stop the policy. */
void tinyrl_guard_init(tinyrl_guard *g, uint32_t max_bad_steps);

/** One policy period: decide from in. A SEND_POLICY step ends with tinyrl_guard_policy_done. */
tinyrl_guard_output tinyrl_guard_step(tinyrl_guard *g, const tinyrl_guard_input *in);

/** After a SEND_POLICY step ran the policy with result status (0 ok): SEND_POLICY to send its setpoint, or
 *  SEND_HOLD (a failed run is a bad step: the step holds, and enough in a row stop the policy). */
tinyrl_guard_output tinyrl_guard_policy_done(tinyrl_guard *g, int status);

#endif /* TINYRL_GUARD_H */
