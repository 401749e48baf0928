/*
 * TinyRL Crazyflie app: run the exported int8 policy at the scenario's rate and fly its hover setpoints.
 *
 * Every period: read the firmware's state (supervisor, commander, decks, estimator) into tinyrl_guard, which says
 * whether to fly the policy, hold a hover in place or send nothing (tinyrl_guard.h). Flying: read the multi-ranger
 * (rangeGet, millimetres), the flow deck's down range, the state estimate and the gyro; build the same observation
 * vector as the simulator (tinyrl_obs.c, layout from tinyrl_obs_layout.h); run tinyrl_policy_run; map its output
 * as the simulator's action map does (continuous values, or the argmax of the logits into the scenario's discrete
 * action table); send the hover setpoint (body vx, vy, yaw rate in deg/s, absolute z) with commanderSetSetpoint.
 * The drone's own PID stabilizer flies it, exactly the inner loop the simulator models.
 *
 * Off by default: set the parameter tinyrl.enable = 1 (cfclient or cflib) with the drone hovering.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "app.h"
#include "commander.h"
#include "crtp_commander_high_level.h"
#include "planner.h"
#include "estimator.h"
#include "FreeRTOS.h"
#include "log.h"
#include "param.h"
#include "range.h"
#include "supervisor.h"
#include "task.h"
#include "usec_time.h"

#define DEBUG_MODULE "TINYRL"
#include "debug.h"

#include "tinyrl_guard.h"
#include "tinyrl_obs.h"
#include "tinyrl_policy.h"

#if TINYRL_OBS_SIZE != TINYRL_POLICY_INPUT_SIZE
#error "tinyrl_obs_layout.h and tinyrl_policy.h disagree: export the policy with the --env it was trained on"
#endif
#if TINYRL_POLICY_OUTPUT_SIZE != TINYRL_ACTION_OUTPUTS
#error "the policy's outputs do not fit the scenario's actions: export the policy with the --env it was trained on"
#endif
#ifndef CONFIG_ESTIMATOR_KALMAN_ENABLE
#error "the app reads the Kalman filter's estimate: build the firmware with CONFIG_ESTIMATOR_KALMAN_ENABLE"
#endif

/* The light sensors (the light, light_bearing, light_side and light_trend features), chosen in app-config
 * (CONFIG_TINYRL_LIGHT_*, turned into these macros by src/Kbuild): TINYRL_LIGHT_LOG_VARS, {"group", "name"} pairs
 * of a deck driver's log variables, or TINYRL_LIGHT_ADC_PINS, &DECK_GPIO_* pins read with analogRead (12-bit
 * counts); one per sensor in the scenario's sensors.light order. Reading = (raw - TINYRL_LIGHT_OFFSET) *
 * TINYRL_LIGHT_SCALE, in the simulator's intensity units. None configured: the app refuses to fly (fault
 * TINYRL_FAULT_LIGHT). */
#if defined(TINYRL_OBS_LIGHT_OFFSET) || defined(TINYRL_OBS_LIGHT_BEARING_OFFSET) || \
    defined(TINYRL_OBS_LIGHT_SIDE_OFFSET) || defined(TINYRL_OBS_LIGHT_TREND_OFFSET)
#define TINYRL_USES_LIGHT 1
#if defined(TINYRL_LIGHT_LOG_VARS) && defined(TINYRL_LIGHT_ADC_PINS)
#error "set one of CONFIG_TINYRL_LIGHT_LOG_VARS and CONFIG_TINYRL_LIGHT_ADC_PINS in app-config"
#endif
#ifndef TINYRL_LIGHT_SCALE
#define TINYRL_LIGHT_SCALE 1.0f
#endif
#ifndef TINYRL_LIGHT_OFFSET
#define TINYRL_LIGHT_OFFSET 0.0f
#endif
#ifdef TINYRL_LIGHT_ADC_PINS
#include "deck.h"
static const deckPin_t *const light_pins[] = {TINYRL_LIGHT_ADC_PINS};
_Static_assert(sizeof(light_pins) / sizeof(light_pins[0]) == TINYRL_LIGHT_COUNT,
               "CONFIG_TINYRL_LIGHT_ADC_PINS needs one pin per light sensor of the scenario");
#endif
#ifdef TINYRL_LIGHT_LOG_VARS
static const char *const light_vars[][2] = {TINYRL_LIGHT_LOG_VARS};
_Static_assert(sizeof(light_vars) / sizeof(light_vars[0]) == TINYRL_LIGHT_COUNT,
               "CONFIG_TINYRL_LIGHT_LOG_VARS needs one variable per light sensor of the scenario");
#endif
#else
#define TINYRL_USES_LIGHT 0
#endif

/* The multi-ranger's features and the flow deck's down range. */
#if defined(TINYRL_OBS_RANGES_OFFSET) || defined(TINYRL_OBS_UP_RANGE_OFFSET) || defined(TINYRL_OBS_RANGES_EMA_OFFSET)
#define TINYRL_USES_RANGER 1
#else
#define TINYRL_USES_RANGER 0
#endif
#ifdef TINYRL_OBS_HEIGHT_OFFSET
#define TINYRL_USES_DOWN_RANGE 1
#else
#define TINYRL_USES_DOWN_RANGE 0
#endif

/* The lowest priority, with the high-level planner disabled (it would otherwise send its null setpoint at this
 * priority): any client setpoint (CRTP, 2), external receiver (3) or high-level command replaces the app's at
 * once, and the commander rejects the app's from then on. */
#define TINYRL_COMMANDER_PRIORITY COMMANDER_PRIORITY_LOWEST
#define TINYRL_DEG_TO_RAD (3.14159265358979f / 180.0f)
/* Bad steps (a fault or a policy error) in a row, half a second's worth, that stop the policy. */
#define TINYRL_MAX_BAD_STEPS ((uint32_t)(TINYRL_POLICY_RATE_HZ / 2.0f + 0.5f))

static uint8_t enable;                        /* param: 1 = fly the policy */
static float goal_x, goal_y, goal_z = 1.0f;   /* param: goal in the positioning system's world frame (m) */
/* param: the arena (geofence), world frame (m); defaults to the medium generated course's 6 m x 3 m. */
static float arena_x_min = -3.0f, arena_x_max = 3.0f, arena_y_min = -1.5f, arena_y_max = 1.5f;
static uint32_t infer_us;                     /* log: time of the last tinyrl_policy_run (us) */
static int32_t policy_status;                 /* log: the last tinyrl_policy_init/run result (0 = ok) */
static uint8_t log_state;                     /* log: tinyrl_state */
static uint8_t log_reason;                    /* log: tinyrl_reason */
static uint32_t log_faults;                   /* log: TINYRL_FAULT_* bits */
static float action[TINYRL_ACTION_WIDTH];     /* the fed-back action */
static float action_ema[TINYRL_ACTION_WIDTH];
static float ranges_ema_m[4];
static float light_log_ema; /* light_trend's average; stays 0 when the scenario does not observe it */
static float hold_z_m;                        /* discrete: the episode's start height; both: the hold's height */
static tinyrl_hover hover;                    /* the last setpoint sent */

typedef struct {
    logVarId_t x, y, z, yaw, vx, vy, gyro_z;
} tinyrl_log_ids;

/* The decks' detection parameters (deck.bc*: 1 when detected and initialised), looked up once: the multi-ranger,
 * then the decks with a down ranger (flow v2, flow v1, z-ranger v2, z-ranger v1). */
static const char *const deck_names[] = {"bcMultiranger", "bcFlow2", "bcFlow", "bcZRanger2", "bcZRanger"};
static paramVarId_t deck_ids[sizeof(deck_names) / sizeof(deck_names[0])];
#if TINYRL_USES_LIGHT && defined(TINYRL_LIGHT_LOG_VARS)
static logVarId_t light_ids[TINYRL_LIGHT_COUNT];
#endif

static bool tinyrl_deck_present(uint32_t i)
{
    return PARAM_VARID_IS_VALID(deck_ids[i]) && paramGetUint(deck_ids[i]) != 0;
}

/* What is wrong with the decks and the estimator this step (TINYRL_FAULT_*), whatever the guard then does. */
static uint32_t tinyrl_check(uint32_t build_faults)
{
    uint32_t faults = build_faults;
    if (stateEstimatorGetType() != StateEstimatorTypeKalman) {
        faults |= TINYRL_FAULT_ESTIMATOR;
    }
#if TINYRL_USES_RANGER
    if (!tinyrl_deck_present(0)) {
        faults |= TINYRL_FAULT_RANGER_DECK;
    }
    for (int32_t d = rangeFront; d <= rangeUp; ++d) {
        float m;
        if (!tinyrl_range_m(rangeGet((rangeDirection_t)d), &m)) {
            faults |= TINYRL_FAULT_RANGER;
        }
    }
#endif
#if TINYRL_USES_DOWN_RANGE
    bool down = false;
    for (uint32_t i = 1; i < sizeof(deck_ids) / sizeof(deck_ids[0]); ++i) {
        down = down || tinyrl_deck_present(i);
    }
    if (!down) {
        faults |= TINYRL_FAULT_DOWN_DECK;
    }
#endif
    return faults;
}

static void tinyrl_read_light(float *light)
{
#if TINYRL_USES_LIGHT && defined(TINYRL_LIGHT_ADC_PINS)
    for (int32_t i = 0; i < TINYRL_LIGHT_COUNT; ++i) {
        light[i] = ((float)analogRead(*light_pins[i]) - TINYRL_LIGHT_OFFSET) * TINYRL_LIGHT_SCALE;
    }
#elif TINYRL_USES_LIGHT && defined(TINYRL_LIGHT_LOG_VARS)
    for (int32_t i = 0; i < TINYRL_LIGHT_COUNT; ++i) {
        light[i] = (logGetFloat(light_ids[i]) - TINYRL_LIGHT_OFFSET) * TINYRL_LIGHT_SCALE;
    }
#else
    for (int32_t i = 0; i < TINYRL_LIGHT_COUNT; ++i) {
        light[i] = 0.0f; /* no light feature observed (with one, no source refuses to fly: tinyrl_build_faults) */
    }
#endif
}

/* Look up the parameters and log variables read every period; return the faults of the build that no reading can
 * change: a missing log variable, no light source. */
static uint32_t tinyrl_build_faults(const tinyrl_log_ids *ids)
{
    uint32_t faults = 0;
    for (uint32_t i = 0; i < sizeof(deck_ids) / sizeof(deck_ids[0]); ++i) {
        deck_ids[i] = paramGetVarId("deck", deck_names[i]); /* a driver left out of the build: never present */
    }
    /* logGetFloat ASSERTs on an invalid id (a log group renamed or compiled out): refuse to fly instead. */
    const logVarId_t all[] = {ids->x, ids->y, ids->z, ids->yaw, ids->vx, ids->vy, ids->gyro_z};
    for (uint32_t i = 0; i < sizeof(all) / sizeof(all[0]); ++i) {
        if (!logVarIdIsValid(all[i])) {
            faults |= TINYRL_FAULT_LOG_VAR;
        }
    }
#if TINYRL_USES_LIGHT && defined(TINYRL_LIGHT_LOG_VARS)
    for (int32_t i = 0; i < TINYRL_LIGHT_COUNT; ++i) {
        light_ids[i] = logGetVarId(light_vars[i][0], light_vars[i][1]);
        if (!logVarIdIsValid(light_ids[i])) {
            faults |= TINYRL_FAULT_LIGHT;
        }
    }
#elif TINYRL_USES_LIGHT && !defined(TINYRL_LIGHT_ADC_PINS)
    faults |= TINYRL_FAULT_LIGHT;
#endif
    return faults;
}

static void tinyrl_read_sensors(const tinyrl_log_ids *ids, tinyrl_sensors *s)
{
    for (int32_t d = rangeFront; d <= rangeUp; ++d) {
        s->ranges_m[d] = TINYRL_MAX_RANGE_M;
        (void)tinyrl_range_m(rangeGet((rangeDirection_t)d), &s->ranges_m[d]); /* no reading: a fault, checked */
    }
    const float z = logGetFloat(ids->z);
    s->down_m = tinyrl_down_range_m(rangeGet(rangeDown), z);
    const float yaw_rad = logGetFloat(ids->yaw) * TINYRL_DEG_TO_RAD; /* stateEstimate.yaw is degrees */
    /* The estimate's world-frame velocity turned into the heading frame: the frame of the hover setpoint's
     * velocity_body (position_controller_pid.c turns the state the same way), level whatever the tilt. */
    tinyrl_world_to_heading(logGetFloat(ids->vx), logGetFloat(ids->vy), yaw_rad, &s->flow_m_s[0], &s->flow_m_s[1]);
    s->gyro_z_rad_s = logGetFloat(ids->gyro_z) * TINYRL_DEG_TO_RAD; /* gyro.z is deg/s, counter-clockwise + */
    const float x = logGetFloat(ids->x);
    const float y = logGetFloat(ids->y);
    tinyrl_world_to_heading(goal_x - x, goal_y - y, yaw_rad, &s->goal_heading_m[0], &s->goal_heading_m[1]);
    s->goal_heading_m[2] = goal_z - z;
    {
        /* The geofence: the arena the policy was trained in, set through the arena* params. */
        const float lo[2] = {arena_x_min, arena_y_min};
        const float hi[2] = {arena_x_max, arena_y_max};
        tinyrl_geofence(x, y, yaw_rad, lo, hi, s->geofence_m);
    }
    tinyrl_read_light(s->light);
    memcpy(s->prev_action, action, sizeof(s->prev_action));
    memcpy(s->action_ema, action_ema, sizeof(s->action_ema));
}

static void tinyrl_send_hover(const tinyrl_hover *h)
{
    setpoint_t setpoint;
    memset(&setpoint, 0, sizeof(setpoint));
    setpoint.mode.z = modeAbs;
    setpoint.position.z = h->z_m;
    setpoint.mode.yaw = modeVelocity;
    setpoint.attitudeRate.yaw = h->yaw_rate_deg_s; /* deg/s, positive counter-clockwise: the simulator's sign */
    setpoint.mode.x = modeVelocity;
    setpoint.mode.y = modeVelocity;
    setpoint.velocity.x = h->vx_m_s;
    setpoint.velocity.y = h->vy_m_s;
    setpoint.velocity_body = true;
    commanderSetSetpoint(&setpoint, TINYRL_COMMANDER_PRIORITY);
}

/* One FLYING step: observation, policy, setpoint. Returns tinyrl_policy_run's status. */
static int tinyrl_policy_step(const tinyrl_log_ids *ids, bool start, float *obs)
{
    tinyrl_sensors sensors;
    if (start) {
        /* A new episode, as the simulator starts one: the discrete actions hold this height, the continuous
         * fed-back action holds it too, the averages start at that action and at the first reading. */
        hold_z_m = logGetFloat(ids->z);
        tinyrl_action_at_start(hold_z_m, action);
        memcpy(action_ema, action, sizeof(action_ema));
    }
    tinyrl_read_sensors(ids, &sensors);
    if (start) {
        memcpy(ranges_ema_m, sensors.ranges_m, sizeof(ranges_ema_m));
    } else {
        tinyrl_ema_update(ranges_ema_m, sensors.ranges_m, 4, TINYRL_RANGES_EMA_ALPHA);
    }
    memcpy(sensors.ranges_ema_m, ranges_ema_m, sizeof(sensors.ranges_ema_m));
#ifdef TINYRL_OBS_LIGHT_TREND_OFFSET
    /* Only light_trend needs the log (and logf's flash). */
    const float light_log = tinyrl_light_log(sensors.light);
    if (start) {
        light_log_ema = light_log;
    } else {
        tinyrl_ema_update(&light_log_ema, &light_log, 1, TINYRL_LIGHT_EMA_ALPHA);
    }
#endif
    sensors.light_log_ema = light_log_ema;
    tinyrl_build_observation(&sensors, obs);
    float output[TINYRL_POLICY_OUTPUT_SIZE];
    const uint64_t t0 = usecTimestamp();
    const int status = tinyrl_policy_run(obs, output);
    infer_us = (uint32_t)(usecTimestamp() - t0);
    if (status == 0) {
        tinyrl_action_to_hover(output, hold_z_m, &hover, action);
        tinyrl_ema_update(action_ema, action, TINYRL_ACTION_WIDTH, TINYRL_ACTION_EMA_ALPHA);
    }
    return status;
}

void appMain(void)
{
    const tinyrl_log_ids ids = {
        logGetVarId("stateEstimate", "x"),  logGetVarId("stateEstimate", "y"),
        logGetVarId("stateEstimate", "z"),  logGetVarId("stateEstimate", "yaw"),
        logGetVarId("stateEstimate", "vx"), logGetVarId("stateEstimate", "vy"),
        logGetVarId("gyro", "z"),
    };
    float obs[TINYRL_OBS_SIZE];
    tinyrl_guard guard;
    tinyrl_guard_init(&guard, TINYRL_MAX_BAD_STEPS);
    /* The firmware's eprintf knows no precision for %s (and hangs on "%.16s"): print the hash prefix from a copy. */
    char sha[17];
    memcpy(sha, TINYRL_POLICY_SHA256, 16);
    sha[16] = '\0';

    policy_status = tinyrl_policy_init();
    const uint32_t build_faults = tinyrl_build_faults(&ids);
    DEBUG_PRINT("policy %d -> %d, sha256 %s, status %d, faults 0x%x\n", TINYRL_POLICY_INPUT_SIZE,
                TINYRL_POLICY_OUTPUT_SIZE, sha, (int)policy_status, (unsigned)build_faults);

    TickType_t last_wake = xTaskGetTickCount();
    while (1) {
        vTaskDelayUntil(&last_wake, M2T(TINYRL_POLICY_PERIOD_MS));
        tinyrl_guard_input in;
        in.enable = enable != 0;
        in.can_fly = supervisorCanFly();
        in.taken_over = commanderGetActivePriority() > TINYRL_COMMANDER_PRIORITY;
        const enum trajectory_state planner = crtpCommanderHighLevelGetPlannerState();
        in.high_level_active = planner == TRAJECTORY_STATE_FLYING || planner == TRAJECTORY_STATE_LANDING;
        in.faults = tinyrl_check(build_faults) | (policy_status != 0 ? TINYRL_FAULT_POLICY_INIT : 0u);
        if (in.enable && (in.faults & TINYRL_FAULT_POLICY_INIT)) {
            /* Enabling retries a failed init: the refusal below reports it if it fails again. */
            policy_status = tinyrl_policy_init();
            in.faults = policy_status != 0 ? in.faults : in.faults & ~(uint32_t)TINYRL_FAULT_POLICY_INIT;
        }
        tinyrl_guard_output out = tinyrl_guard_step(&guard, &in);
        if (out.start) {
            /* Take the commander: silence the high-level planner (stopped, it sends a null setpoint at this
             * priority), then drop any client's priority, so the app's setpoints are the ones flown. */
            crtpCommanderHighLevelDisable();
            commanderRelaxPriority();
        }
        if (out.send == TINYRL_SEND_POLICY) {
            const int status = tinyrl_policy_step(&ids, out.start, obs);
            policy_status = status;
            const tinyrl_guard_output done = tinyrl_guard_policy_done(&guard, status);
            out.send = done.send;
            out.begin_hold = done.begin_hold;
            out.clear_enable = out.clear_enable || done.clear_enable;
        }
        if (out.send == TINYRL_SEND_HOLD) {
            if (out.begin_hold) {
                hold_z_m = logGetFloat(ids.z);
            }
            hover.vx_m_s = 0.0f;
            hover.vy_m_s = 0.0f;
            hover.yaw_rate_deg_s = 0.0f;
            hover.z_m = hold_z_m;
        }
        if (out.send != TINYRL_SEND_NOTHING) {
            tinyrl_send_hover(&hover);
        }
        if (out.clear_enable) {
            enable = 0;
        }
        if (guard.reason != log_reason) {
            DEBUG_PRINT("state %d, reason %d, faults 0x%x\n", (int)guard.state, (int)guard.reason,
                        (unsigned)guard.faults);
        }
        log_state = (uint8_t)guard.state;
        log_reason = (uint8_t)guard.reason;
        log_faults = guard.faults;
    }
}

/**
 * TinyRL policy control.
 */
PARAM_GROUP_START(tinyrl)
/** @brief Nonzero: run the policy and send its hover setpoints; back to 0: hover in place until another commander
 * takes over. The app writes 0 itself when it stops or refuses (see the log tinyrl.reason). */
PARAM_ADD(PARAM_UINT8, enable, &enable)
/** @brief Goal x in the world frame (m). */
PARAM_ADD(PARAM_FLOAT, goalX, &goal_x)
/** @brief Goal y in the world frame (m). */
PARAM_ADD(PARAM_FLOAT, goalY, &goal_y)
/** @brief Goal z in the world frame (m). */
PARAM_ADD(PARAM_FLOAT, goalZ, &goal_z)
/** @brief Arena (geofence) lower x bound in the world frame (m). */
PARAM_ADD(PARAM_FLOAT, arenaXMin, &arena_x_min)
/** @brief Arena upper x bound (m). */
PARAM_ADD(PARAM_FLOAT, arenaXMax, &arena_x_max)
/** @brief Arena lower y bound (m). */
PARAM_ADD(PARAM_FLOAT, arenaYMin, &arena_y_min)
/** @brief Arena upper y bound (m). */
PARAM_ADD(PARAM_FLOAT, arenaYMax, &arena_y_max)
PARAM_GROUP_STOP(tinyrl)

/**
 * TinyRL policy outputs, timing and state.
 */
LOG_GROUP_START(tinyrl)
/** @brief Duration of the last inference, quantize to dequantize (us). */
LOG_ADD(LOG_UINT32, inferUs, &infer_us)
/** @brief The last tinyrl_policy_init/run result: 0 = ok, else the runtime's error (-1, -2). */
LOG_ADD(LOG_INT32, status, &policy_status)
/** @brief 0 idle (sending nothing), 1 flying the policy, 2 holding a hover in place. */
LOG_ADD(LOG_UINT8, state, &log_state)
/** @brief Why the app last stopped or refused: 0 none, 1 disabled, 2 taken over by another setpoint, 3 high-level
 * command, 4 supervisor (disarmed, emergency stop), 5 not ready (see faults), 6 too many bad steps (see faults). */
LOG_ADD(LOG_UINT8, reason, &log_reason)
/** @brief Fault bits: 1 log variable missing, 2 no multi-ranger deck, 4 a ranger without reading, 8 no down-ranger
 * deck, 16 estimator not Kalman, 32 no light sensor, 64 policy init failed, 128 policy run failed. */
LOG_ADD(LOG_UINT32, faults, &log_faults)
/** @brief Commanded body vx (m/s). */
LOG_ADD(LOG_FLOAT, vx, &hover.vx_m_s)
/** @brief Commanded body vy (m/s). */
LOG_ADD(LOG_FLOAT, vy, &hover.vy_m_s)
/** @brief Commanded yaw rate (deg/s, counter-clockwise positive). */
LOG_ADD(LOG_FLOAT, yawRate, &hover.yaw_rate_deg_s)
/** @brief Commanded height (m). */
LOG_ADD(LOG_FLOAT, z, &hover.z_m)
LOG_GROUP_STOP(tinyrl)
