/*
 * TinyRL Crazyflie app: the observation vector and the hover setpoint, in plain C99 (no Crazyflie headers), so the
 * same code is checked on the host against the simulator (tests/firmware/test_crazyflie_app.py).
 *
 * The layout and scales come from tinyrl_obs_layout.h, written by `tinyrl export --env NAME` from the scenario YAML
 * the policy was trained on (tinyrl.tasks.features.observation_layout).
 */
#ifndef TINYRL_OBS_H
#define TINYRL_OBS_H

#include <stdint.h>

#include "tinyrl_obs_layout.h"

#if TINYRL_ACTION_DISCRETE
#error "discrete action sets are not supported by the Crazyflie app yet; train with action.mode: continuous"
#endif

/** One policy step of sensor readings, in the simulator's units and frames (tinyrl.tasks.features.SensorFrame). */
typedef struct {
    float ranges_m[5];        /**< Multi-ranger front, back, left, right, up (m). */
    float down_m;             /**< Flow deck down range (m). */
    float flow_m_s[2];        /**< Velocity vx, vy in the heading frame (m/s). */
    float gyro_z_rad_s;       /**< Yaw rate, positive counter-clockwise seen from above (rad/s). */
    float goal_heading_m[3];  /**< Goal minus estimated position, heading frame (x forward, y left, z up) (m). */
    float light[2];           /**< Light sensors left, right (source seeking only). */
    float prev_action[4];     /**< The previous action as fed back (continuous, in [-1, 1]). */
    float geofence_m[4];      /**< Distance to the arena edge along heading front, back, left, right (m). */
    float action_ema[4];      /**< Moving average of the fed-back actions (TINYRL_ACTION_EMA_ALPHA). */
    float ranges_ema_m[4];    /**< Moving average of ranges_m[0..3] (TINYRL_RANGES_EMA_ALPHA) (m). */
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

/** Map a continuous action (4 values, clipped to [-1, 1]) to a hover setpoint, as TaskCore.setpoints. */
void tinyrl_action_to_hover(const float *action, tinyrl_hover *hover);

/** One policy step of a 4-value low-pass, ema += alpha * (x - ema), as TaskCore: action_ema takes the fed-back
 *  (clipped) action and TINYRL_ACTION_EMA_ALPHA; ranges_ema the step's ranges_m[0..3] and TINYRL_RANGES_EMA_ALPHA,
 *  starting from the episode's first reading. */
void tinyrl_ema_update(float ema[4], const float x[4], float alpha);

/** World-frame (x, y) offset to the heading frame of a drone with yaw yaw_rad (counter-clockwise from x). */
void tinyrl_world_to_heading(float dx, float dy, float yaw_rad, float *hx, float *hy);

/** Distances (m) from (x, y) to the edge of the box [x_min, x_max] x [y_min, y_max] along heading front, back,
 *  left, right of a drone yawed yaw_rad; 0 outside the box (tinyrl.tasks.core._box_exit_distances). */
void tinyrl_geofence(float x, float y, float yaw_rad, const float lo[2], const float hi[2], float out[4]);

#endif /* TINYRL_OBS_H */
