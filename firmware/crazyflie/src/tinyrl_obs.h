/*
 * TinyRL Crazyflie app: the observation vector, the action map and the sensor sanitising, in plain C99 (no
 * Crazyflie headers), so the same code is checked on the host against the simulator
 * (tests/firmware/test_crazyflie_app.py).
 *
 * The layout, scales and discrete action table come from tinyrl_obs_layout.h, written by `tinyrl export --env NAME`
 * from the scenario YAML the policy was trained on (tinyrl.tasks.features.observation_layout,
 * tinyrl.tasks.actions).
 */
#ifndef TINYRL_OBS_H
#define TINYRL_OBS_H

#include <stdbool.h>
#include <stdint.h>

#include "tinyrl_obs_layout.h"

/* What the policy outputs: 4 continuous values, or one logit per discrete action. */
#if TINYRL_ACTION_DISCRETE
#define TINYRL_ACTION_OUTPUTS TINYRL_ACTION_WIDTH
#else
#define TINYRL_ACTION_OUTPUTS 4
#endif

/** One policy step of sensor readings, in the simulator's units and frames (tinyrl.tasks.features.SensorFrame). */
typedef struct {
    float ranges_m[5];                       /**< Multi-ranger front, back, left, right, up (m). */
    float down_m;                            /**< Flow deck down range (m). */
    float flow_m_s[2];                       /**< Velocity vx, vy in the heading frame (m/s). */
    float gyro_z_rad_s;                      /**< Yaw rate, positive counter-clockwise seen from above (rad/s). */
    float goal_heading_m[3];                 /**< Goal minus estimated position, heading frame (m). */
    float light[TINYRL_LIGHT_COUNT];         /**< Light sensor readings (intensity units), sensors.light order. */
    float prev_action[TINYRL_ACTION_WIDTH];  /**< The previous action as fed back ([-1, 1], or one-hot). */
    float geofence_m[4];                     /**< Distance to the arena edge ahead, behind, left, right (m). */
    float action_ema[TINYRL_ACTION_WIDTH];   /**< Moving average of the fed-back actions (TINYRL_ACTION_EMA_ALPHA). */
    float ranges_ema_m[4];                   /**< Moving average of ranges_m[0..3] (TINYRL_RANGES_EMA_ALPHA) (m). */
    float light_log_ema;                     /**< Moving average of tinyrl_light_log(light) (TINYRL_LIGHT_EMA_ALPHA). */
} tinyrl_sensors;

/** A hover setpoint: what the app hands to commanderSetSetpoint (body-frame velocity, yaw rate, absolute height). */
typedef struct {
    float vx_m_s;
    float vy_m_s;
    float yaw_rate_deg_s; /**< Positive = counter-clockwise, as setpoint_t.attitudeRate.yaw and the simulator. */
    float z_m;
} tinyrl_hover;

/** Build the observation (TINYRL_OBS_SIZE floats) exactly as tinyrl.tasks.features.build_observation. */
void tinyrl_build_observation(const tinyrl_sensors *s, float *obs);

/** The policy's output (TINYRL_ACTION_OUTPUTS floats) as the simulator's action map flies it
 *  (tinyrl.tasks.actions): continuous, clipped to [-1, 1] and scaled; discrete, the argmax's entry of
 *  TINYRL_DISCRETE_ACTIONS (first of equal logits, as numpy.argmax) at hold_z_m, the episode's start height (m).
 *  Writes the hover setpoint and the action as fed back (TINYRL_ACTION_WIDTH: clipped, or one-hot). */
void tinyrl_action_to_hover(const float *output, float hold_z_m, tinyrl_hover *hover, float *fed_back);

/** What is fed back before an episode's first action (ActionMap.at_start), for a drone at start_z_m (m):
 *  continuous, the action holding that height; discrete, zeros. */
void tinyrl_action_at_start(float start_z_m, float *fed_back);

/** Index of the largest of n values, the first of equal ones (numpy.argmax). */
int32_t tinyrl_argmax(const float *x, int32_t n);

/** One policy step of an n-value low-pass, ema += alpha * (x - ema), as TaskCore: action_ema takes the fed-back
 *  action and TINYRL_ACTION_EMA_ALPHA; ranges_ema the step's ranges_m[0..3] and TINYRL_RANGES_EMA_ALPHA;
 *  light_log_ema the step's tinyrl_light_log and TINYRL_LIGHT_EMA_ALPHA; the last two start from the episode's
 *  first reading. */
void tinyrl_ema_update(float *ema, const float *x, int32_t n, float alpha);

/** log(total + TINYRL_LIGHT_LOG_FLOOR) of the TINYRL_LIGHT_COUNT light readings, a negative total read as 0
 *  (tinyrl.tasks.features.light_log): what the light_trend feature compares with its low-passed copy. */
float tinyrl_light_log(const float *light);

/** World-frame (x, y) vector to the heading frame of a drone with yaw yaw_rad (counter-clockwise from x). */
void tinyrl_world_to_heading(float dx, float dy, float yaw_rad, float *hx, float *hy);

/** Distances (m) from (x, y) to the edge of the box [x_min, x_max] x [y_min, y_max] along heading front, back,
 *  left, right of a drone yawed yaw_rad; 0 outside the box (tinyrl.tasks.core._box_exit_distances). */
void tinyrl_geofence(float x, float y, float yaw_rad, const float lo[2], const float hi[2], float out[4]);

/** A multi-ranger reading rangeGet (millimetres) in metres as the simulator sees it: beyond TINYRL_MAX_RANGE_M
 *  (the deck reports 32767 mm when out of range) reads TINYRL_MAX_RANGE_M. 0 is no reading at all (a sensor
 *  that never measured, e.g. a missing deck or a failed sensor): returns false, *out_m untouched. */
bool tinyrl_range_m(float mm, float *out_m);

/** The flow deck's down range rangeGet(rangeDown) (millimetres) in metres: 0 (no reading) and outliers at or
 *  beyond the driver's own limit (5 m, which the firmware's Kalman filter ignores too) read the state estimate's
 *  height z_estimate_m instead; the result is clipped to [0, TINYRL_DOWN_MAX_RANGE_M] (the simulator's
 *  out-of-range reading). */
float tinyrl_down_range_m(float mm, float z_estimate_m);

#endif /* TINYRL_OBS_H */
