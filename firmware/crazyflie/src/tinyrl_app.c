/*
 * TinyRL Crazyflie app: run the exported int8 policy at the scenario's rate and fly its hover setpoints.
 *
 * Every period: read the multi-ranger (rangeGet, millimetres), the flow deck's down range, the Kalman filter's
 * body-frame velocity, the gyro and the position estimate; build the same observation vector as the simulator
 * (tinyrl_obs.c, layout from tinyrl_obs_layout.h); run tinyrl_policy_run; send a hover setpoint (body vx, vy,
 * yaw rate in deg/s, absolute z) with commanderSetSetpoint. The drone's own PID stabilizer flies it, exactly the
 * inner loop the simulator models.
 *
 * Off by default: set the parameter tinyrl.enable = 1 (cfclient or cflib) with the drone hovering under another
 * commander; setting it back to 0 stops sending, so the firmware's setpoint watchdog (500 ms level, 2 s motors
 * off) or a higher-priority commander takes over.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "app.h"
#include "commander.h"
#include "FreeRTOS.h"
#include "log.h"
#include "param.h"
#include "range.h"
#include "task.h"
#include "usec_time.h"

#define DEBUG_MODULE "TINYRL"
#include "debug.h"

#include "tinyrl_obs.h"
#include "tinyrl_policy.h"

#if TINYRL_OBS_SIZE != TINYRL_POLICY_INPUT_SIZE
#error "tinyrl_obs_layout.h and tinyrl_policy.h disagree: export the policy with the --env it was trained on"
#endif
#if TINYRL_POLICY_OUTPUT_SIZE != 4
#error "the app flies continuous hover actions: vx, vy, yaw rate, z"
#endif

/* One above the client's CRTP setpoints (COMMANDER_PRIORITY_CRTP = 2), so the policy wins while enabled; equal to
 * COMMANDER_PRIORITY_EXTRX, so an external RC receiver, if fitted, would compete with it. */
#define TINYRL_COMMANDER_PRIORITY (COMMANDER_PRIORITY_CRTP + 1)
#define TINYRL_MM_TO_M 0.001f
#define TINYRL_DEG_TO_RAD (3.14159265358979f / 180.0f)
/* Status logged when a log variable the app reads is missing from the firmware build (the runtime's are -1, -2). */
#define TINYRL_STATUS_MISSING_LOG_VAR (-100)

static uint8_t enable;                        /* param: 1 = fly the policy */
static float goal_x, goal_y, goal_z = 1.0f;   /* param: goal in the positioning system's world frame (m) */
/* param: the arena (geofence), world frame (m); defaults to the medium generated course's 6 m x 3 m. */
static float arena_x_min = -3.0f, arena_x_max = 3.0f, arena_y_min = -1.5f, arena_y_max = 1.5f;
static uint32_t infer_us;                     /* log: time of the last tinyrl_policy_run (us) */
static int32_t policy_status;                 /* log: its return value (0 = ok), or TINYRL_STATUS_* */
static float action[TINYRL_POLICY_OUTPUT_SIZE];
static float action_ema[4];
static float ranges_ema_m[4];
static tinyrl_hover hover;

typedef struct {
    logVarId_t x, y, z, yaw, vx_body, vy_body, gyro_z;
} tinyrl_log_ids;

static float tinyrl_range_m(rangeDirection_t direction)
{
    /* rangeGet returns millimetres although range.h says metres (range.c keeps uint16_t millimetres: rangeSet
     * stores range_m * 1000); the multi-ranger reports 32767 mm when out of range. 0 means no reading, which the
     * simulator never sees: read it as "nothing within range". */
    const float mm = rangeGet(direction);
    const float m = mm * TINYRL_MM_TO_M;
    return (m <= 0.0f || m > TINYRL_MAX_RANGE_M) ? TINYRL_MAX_RANGE_M : m;
}

static void tinyrl_read_sensors(const tinyrl_log_ids *ids, tinyrl_sensors *s)
{
    s->ranges_m[0] = tinyrl_range_m(rangeFront);
    s->ranges_m[1] = tinyrl_range_m(rangeBack);
    s->ranges_m[2] = tinyrl_range_m(rangeLeft);
    s->ranges_m[3] = tinyrl_range_m(rangeRight);
    s->ranges_m[4] = tinyrl_range_m(rangeUp);
    s->down_m = rangeGet(rangeDown) * TINYRL_MM_TO_M;
    /* The Kalman filter's body-frame velocity: the heading frame of the simulator while flying level. */
    s->flow_m_s[0] = logGetFloat(ids->vx_body);
    s->flow_m_s[1] = logGetFloat(ids->vy_body);
    s->gyro_z_rad_s = logGetFloat(ids->gyro_z) * TINYRL_DEG_TO_RAD; /* gyro.z is deg/s, counter-clockwise + */
    const float yaw_rad = logGetFloat(ids->yaw) * TINYRL_DEG_TO_RAD;  /* stateEstimate.yaw is degrees */
    tinyrl_world_to_heading(goal_x - logGetFloat(ids->x), goal_y - logGetFloat(ids->y), yaw_rad,
                            &s->goal_heading_m[0], &s->goal_heading_m[1]);
    s->goal_heading_m[2] = goal_z - logGetFloat(ids->z);
    {
        /* The geofence: the arena the policy was trained in, set through the arena* params. */
        const float lo[2] = {arena_x_min, arena_y_min};
        const float hi[2] = {arena_x_max, arena_y_max};
        tinyrl_geofence(logGetFloat(ids->x), logGetFloat(ids->y), yaw_rad, lo, hi, s->geofence_m);
    }
    s->light[0] = s->light[1] = 0.0f; /* no light sensor on a stock Crazyflie */
    memcpy(s->prev_action, action, sizeof(s->prev_action));
    memcpy(s->action_ema, action_ema, sizeof(s->action_ema));
}

static void tinyrl_send(const tinyrl_hover *h)
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

void appMain(void)
{
    const tinyrl_log_ids ids = {
        logGetVarId("stateEstimate", "x"),  logGetVarId("stateEstimate", "y"),
        logGetVarId("stateEstimate", "z"),  logGetVarId("stateEstimate", "yaw"),
        logGetVarId("kalman", "statePX"),   logGetVarId("kalman", "statePY"),
        logGetVarId("gyro", "z"),
    };
    float obs[TINYRL_OBS_SIZE];
    tinyrl_sensors sensors;
    bool was_enabled = false;
    /* The firmware's eprintf knows no precision for %s (and hangs on "%.16s"): print the hash prefix from a copy. */
    char sha[17];
    memcpy(sha, TINYRL_POLICY_SHA256, 16);
    sha[16] = '\0';

    policy_status = tinyrl_policy_init();
    {
        /* Every log variable the app reads must exist in this firmware build (logGetFloat ASSERTs on an invalid id,
         * e.g. a log group renamed or compiled out): refuse to fly instead. */
        const logVarId_t all[] = {ids.x, ids.y, ids.z, ids.yaw, ids.vx_body, ids.vy_body, ids.gyro_z};
        for (uint32_t i = 0; i < sizeof(all) / sizeof(all[0]); ++i) {
            if (!logVarIdIsValid(all[i])) {
                policy_status = TINYRL_STATUS_MISSING_LOG_VAR;
            }
        }
    }
    DEBUG_PRINT("policy %d -> %d, sha256 %s, status %d\n", TINYRL_POLICY_INPUT_SIZE, TINYRL_POLICY_OUTPUT_SIZE, sha,
                (int)policy_status);

    TickType_t last_wake = xTaskGetTickCount();
    while (1) {
        vTaskDelayUntil(&last_wake, M2T(TINYRL_POLICY_PERIOD_MS));
        if (!enable || policy_status != 0) {
            if (was_enabled) {
                commanderRelaxPriority(); /* hand the drone back to lower-priority setpoints at once */
                was_enabled = false;
            }
            continue;
        }
        const bool starting = !was_enabled;
        if (starting) {
            /* The simulator starts an episode with the previous action holding the current height. */
            memset(action, 0, sizeof(action));
            const float z = logGetFloat(ids.z);
            action[3] = 2.0f * (z - TINYRL_Z_MIN_M) / (TINYRL_Z_MAX_M - TINYRL_Z_MIN_M) - 1.0f;
            action[3] = action[3] < -1.0f ? -1.0f : (action[3] > 1.0f ? 1.0f : action[3]);
            memcpy(action_ema, action, sizeof(action_ema)); /* the average starts at that action too */
            was_enabled = true;
        }
        tinyrl_read_sensors(&ids, &sensors);
        if (starting) {
            memcpy(ranges_ema_m, sensors.ranges_m, sizeof(ranges_ema_m)); /* the first reading, as the simulator */
        } else {
            tinyrl_ema_update(ranges_ema_m, sensors.ranges_m, TINYRL_RANGES_EMA_ALPHA);
        }
        memcpy(sensors.ranges_ema_m, ranges_ema_m, sizeof(sensors.ranges_ema_m));
        tinyrl_build_observation(&sensors, obs);
        const uint64_t t0 = usecTimestamp();
        policy_status = tinyrl_policy_run(obs, action);
        infer_us = (uint32_t)(usecTimestamp() - t0);
        if (policy_status != 0) {
            DEBUG_PRINT("tinyrl_policy_run failed (%d), stopping\n", (int)policy_status);
            continue;
        }
        tinyrl_action_to_hover(action, &hover);
        for (int32_t i = 0; i < 4; ++i) { /* feed back the clipped action, as the simulator does */
            action[i] = action[i] < -1.0f ? -1.0f : (action[i] > 1.0f ? 1.0f : action[i]);
        }
        tinyrl_ema_update(action_ema, action, TINYRL_ACTION_EMA_ALPHA);
        tinyrl_send(&hover);
    }
}

/**
 * TinyRL policy control.
 */
PARAM_GROUP_START(tinyrl)
/** @brief Nonzero: run the policy and send its hover setpoints. */
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
 * TinyRL policy outputs and timing.
 */
LOG_GROUP_START(tinyrl)
/** @brief Duration of the last inference, quantize to dequantize (us). */
LOG_ADD(LOG_UINT32, inferUs, &infer_us)
/** @brief 0 = ok; else the last tinyrl_policy_init/run error (-1, -2) or -100 (a log variable is missing). */
LOG_ADD(LOG_INT32, status, &policy_status)
/** @brief Commanded body vx (m/s). */
LOG_ADD(LOG_FLOAT, vx, &hover.vx_m_s)
/** @brief Commanded body vy (m/s). */
LOG_ADD(LOG_FLOAT, vy, &hover.vy_m_s)
/** @brief Commanded yaw rate (deg/s, counter-clockwise positive). */
LOG_ADD(LOG_FLOAT, yawRate, &hover.yaw_rate_deg_s)
/** @brief Commanded height (m). */
LOG_ADD(LOG_FLOAT, z, &hover.z_m)
LOG_GROUP_STOP(tinyrl)
