/*
 * TinyRL Crazyflie app: observation and setpoint math (see tinyrl_obs.h). Mirrors tinyrl/tasks/features.py
 * feature by feature; a feature the scenario does not use has no TINYRL_OBS_*_OFFSET and compiles away.
 */
#include "tinyrl_obs.h"

#include <math.h>

static inline float tinyrl_clip(float x, float lo, float hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

void tinyrl_world_to_heading(float dx, float dy, float yaw_rad, float *hx, float *hy)
{
    const float c = cosf(yaw_rad);
    const float s = sinf(yaw_rad);
    *hx = c * dx + s * dy;
    *hy = -s * dx + c * dy;
}

void tinyrl_geofence(float x, float y, float yaw_rad, const float lo[2], const float hi[2], float out[4])
{
    const float c = cosf(yaw_rad);
    const float s = sinf(yaw_rad);
    const float dirs[4][2] = {{c, s}, {-c, -s}, {-s, c}, {s, -c}};
    const float p[2] = {x, y};
    for (int32_t k = 0; k < 4; ++k) {
        float t = HUGE_VALF;
        for (int32_t a = 0; a < 2; ++a) {
            const float d = dirs[k][a];
            if (d > 1e-12f) {
                t = fminf(t, (hi[a] - p[a]) / d);
            } else if (d < -1e-12f) {
                t = fminf(t, (lo[a] - p[a]) / d);
            }
        }
        out[k] = t > 0.0f ? t : 0.0f;
    }
}

void tinyrl_build_observation(const tinyrl_sensors *s, float *obs)
{
#ifdef TINYRL_OBS_RANGES_OFFSET
    for (int32_t i = 0; i < 4; ++i) {
        obs[TINYRL_OBS_RANGES_OFFSET + i] = s->ranges_m[i] / TINYRL_MAX_RANGE_M;
    }
#endif
#ifdef TINYRL_OBS_UP_RANGE_OFFSET
    obs[TINYRL_OBS_UP_RANGE_OFFSET] = s->ranges_m[4] / TINYRL_MAX_RANGE_M;
#endif
#ifdef TINYRL_OBS_HEIGHT_OFFSET
    obs[TINYRL_OBS_HEIGHT_OFFSET] = s->down_m / TINYRL_HEIGHT_SCALE_M;
#endif
#ifdef TINYRL_OBS_FLOW_OFFSET
    obs[TINYRL_OBS_FLOW_OFFSET] = tinyrl_clip(s->flow_m_s[0] / TINYRL_MAX_SPEED_M_S, -2.0f, 2.0f);
    obs[TINYRL_OBS_FLOW_OFFSET + 1] = tinyrl_clip(s->flow_m_s[1] / TINYRL_MAX_SPEED_M_S, -2.0f, 2.0f);
#endif
#ifdef TINYRL_OBS_YAW_RATE_OFFSET
    {
        const float max_rad_s = TINYRL_MAX_YAW_RATE_DEG_S * (3.14159265358979f / 180.0f);
        obs[TINYRL_OBS_YAW_RATE_OFFSET] = tinyrl_clip(s->gyro_z_rad_s / max_rad_s, -2.0f, 2.0f);
    }
#endif
#ifdef TINYRL_OBS_GOAL_OFFSET
    {
        const float *g = s->goal_heading_m;
        const float dist = sqrtf(g[0] * g[0] + g[1] * g[1]);
        const int far = dist > 1e-9f; /* at the goal the bearing is undefined: the simulator reads it as ahead */
        obs[TINYRL_OBS_GOAL_OFFSET] = far ? g[0] / dist : 1.0f;
        obs[TINYRL_OBS_GOAL_OFFSET + 1] = far ? g[1] / dist : 0.0f;
        obs[TINYRL_OBS_GOAL_OFFSET + 2] = tinyrl_clip(dist / TINYRL_MAX_GOAL_DISTANCE_M, -1.0f, 1.0f);
        obs[TINYRL_OBS_GOAL_OFFSET + 3] = tinyrl_clip(g[2] / TINYRL_HEIGHT_SCALE_M, -1.0f, 1.0f);
    }
#endif
#ifdef TINYRL_OBS_HOVER_ERROR_OFFSET
    for (int32_t i = 0; i < 3; ++i) {
        obs[TINYRL_OBS_HOVER_ERROR_OFFSET + i] = tinyrl_clip(s->goal_heading_m[i], -1.0f, 1.0f);
    }
#endif
#ifdef TINYRL_OBS_LIGHT_OFFSET
    {
        const float total = s->light[0] + s->light[1] > 0.0f ? s->light[0] + s->light[1] : 0.0f;
        obs[TINYRL_OBS_LIGHT_OFFSET] = total / (1.0f + total);
        obs[TINYRL_OBS_LIGHT_OFFSET + 1] = tinyrl_clip((s->light[0] - s->light[1]) / (total + 1e-3f), -1.0f, 1.0f);
    }
#endif
#ifdef TINYRL_OBS_GEOFENCE_OFFSET
    for (int32_t i = 0; i < 4; ++i) {
        obs[TINYRL_OBS_GEOFENCE_OFFSET + i] = tinyrl_clip(s->geofence_m[i] / TINYRL_MAX_RANGE_M, 0.0f, 1.0f);
    }
#endif
#ifdef TINYRL_OBS_PREV_ACTION_OFFSET
    for (int32_t i = 0; i < TINYRL_OBS_PREV_ACTION_WIDTH; ++i) {
        obs[TINYRL_OBS_PREV_ACTION_OFFSET + i] = s->prev_action[i];
    }
#endif
#ifdef TINYRL_OBS_ACTION_EMA_OFFSET
    for (int32_t i = 0; i < TINYRL_OBS_ACTION_EMA_WIDTH; ++i) {
        obs[TINYRL_OBS_ACTION_EMA_OFFSET + i] = s->action_ema[i];
    }
#endif
#ifdef TINYRL_OBS_RANGES_EMA_OFFSET
    for (int32_t i = 0; i < 4; ++i) {
        obs[TINYRL_OBS_RANGES_EMA_OFFSET + i] = s->ranges_ema_m[i] / TINYRL_MAX_RANGE_M;
    }
#endif
    /* The simulator clips the whole vector to the observation space's bounds last. */
    for (int32_t i = 0; i < TINYRL_OBS_SIZE; ++i) {
        obs[i] = tinyrl_clip(obs[i], -TINYRL_OBS_LIMIT, TINYRL_OBS_LIMIT);
    }
}

void tinyrl_action_to_hover(const float *action, tinyrl_hover *hover)
{
    float a[4];
    for (int32_t i = 0; i < 4; ++i) {
        a[i] = tinyrl_clip(action[i], -1.0f, 1.0f);
    }
    hover->vx_m_s = a[0] * TINYRL_MAX_SPEED_M_S;
    hover->vy_m_s = a[1] * TINYRL_MAX_SPEED_M_S;
    hover->yaw_rate_deg_s = a[2] * TINYRL_MAX_YAW_RATE_DEG_S;
    hover->z_m = TINYRL_Z_MIN_M + (a[3] + 1.0f) * 0.5f * (TINYRL_Z_MAX_M - TINYRL_Z_MIN_M);
}

void tinyrl_ema_update(float ema[4], const float x[4], float alpha)
{
    for (int32_t i = 0; i < 4; ++i) {
        ema[i] += alpha * (x[i] - ema[i]);
    }
}
