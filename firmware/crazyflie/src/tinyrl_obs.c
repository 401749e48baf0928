/*
 * TinyRL Crazyflie app: observation, action and sensor math (see tinyrl_obs.h). Mirrors tinyrl/tasks/features.py
 * feature by feature; a feature the scenario does not use has no TINYRL_OBS_*_OFFSET and compiles away.
 */
#include "tinyrl_obs.h"

#include <math.h>

/* Every block of the layout must be one this file builds: the widths of the known blocks must add up to the
 * observation, or a feature new to tinyrl.tasks.features would be left uninitialised (tinyrl export refuses such a
 * scenario too). A block the scenario does not observe counts 0. */
#ifndef TINYRL_OBS_RANGES_WIDTH
#define TINYRL_OBS_RANGES_WIDTH 0
#endif
#ifndef TINYRL_OBS_UP_RANGE_WIDTH
#define TINYRL_OBS_UP_RANGE_WIDTH 0
#endif
#ifndef TINYRL_OBS_HEIGHT_WIDTH
#define TINYRL_OBS_HEIGHT_WIDTH 0
#endif
#ifndef TINYRL_OBS_FLOW_WIDTH
#define TINYRL_OBS_FLOW_WIDTH 0
#endif
#ifndef TINYRL_OBS_YAW_RATE_WIDTH
#define TINYRL_OBS_YAW_RATE_WIDTH 0
#endif
#ifndef TINYRL_OBS_GOAL_WIDTH
#define TINYRL_OBS_GOAL_WIDTH 0
#endif
#ifndef TINYRL_OBS_HOVER_ERROR_WIDTH
#define TINYRL_OBS_HOVER_ERROR_WIDTH 0
#endif
#ifndef TINYRL_OBS_LIGHT_WIDTH
#define TINYRL_OBS_LIGHT_WIDTH 0
#endif
#ifndef TINYRL_OBS_LIGHT_BEARING_WIDTH
#define TINYRL_OBS_LIGHT_BEARING_WIDTH 0
#endif
#ifndef TINYRL_OBS_LIGHT_SIDE_WIDTH
#define TINYRL_OBS_LIGHT_SIDE_WIDTH 0
#endif
#ifndef TINYRL_OBS_LIGHT_TREND_WIDTH
#define TINYRL_OBS_LIGHT_TREND_WIDTH 0
#endif
#ifndef TINYRL_OBS_PREV_ACTION_WIDTH
#define TINYRL_OBS_PREV_ACTION_WIDTH 0
#endif
#ifndef TINYRL_OBS_ACTION_EMA_WIDTH
#define TINYRL_OBS_ACTION_EMA_WIDTH 0
#endif
#ifndef TINYRL_OBS_RANGES_EMA_WIDTH
#define TINYRL_OBS_RANGES_EMA_WIDTH 0
#endif
#ifndef TINYRL_OBS_RANGES_NEAR_WIDTH
#define TINYRL_OBS_RANGES_NEAR_WIDTH 0
#endif
#ifndef TINYRL_OBS_GEOFENCE_WIDTH
#define TINYRL_OBS_GEOFENCE_WIDTH 0
#endif
#if TINYRL_OBS_RANGES_WIDTH + TINYRL_OBS_UP_RANGE_WIDTH + TINYRL_OBS_HEIGHT_WIDTH + TINYRL_OBS_FLOW_WIDTH + \
    TINYRL_OBS_YAW_RATE_WIDTH + TINYRL_OBS_GOAL_WIDTH + TINYRL_OBS_HOVER_ERROR_WIDTH + TINYRL_OBS_LIGHT_WIDTH + \
    TINYRL_OBS_LIGHT_BEARING_WIDTH + TINYRL_OBS_LIGHT_SIDE_WIDTH + TINYRL_OBS_LIGHT_TREND_WIDTH + \
    TINYRL_OBS_PREV_ACTION_WIDTH + TINYRL_OBS_ACTION_EMA_WIDTH + TINYRL_OBS_RANGES_EMA_WIDTH + \
    TINYRL_OBS_RANGES_NEAR_WIDTH + TINYRL_OBS_GEOFENCE_WIDTH != TINYRL_OBS_SIZE
#error "tinyrl_obs_layout.h has an observation feature the Crazyflie app does not build (see tinyrl_obs.c)"
#endif

#define TINYRL_PI_F 3.14159265358979f
/* The flow deck driver's own outlier limit (zranger2.c RANGE_OUTLIER_LIMIT, mm): the Kalman filter ignores these. */
#define TINYRL_DOWN_OUTLIER_MM 5000.0f
/* The height range a continuous action's fourth component spans, [-1, 1] onto [Z_MIN, Z_MAX] (m). */
#define TINYRL_Z_SPAN_M (TINYRL_Z_MAX_M - TINYRL_Z_MIN_M)

static inline float tinyrl_clip(float x, float lo, float hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* The light readings' total, negative (noise in the dark) read as 0. */
static float tinyrl_light_total(const float *light)
{
    float sum = 0.0f;
    for (int32_t i = 0; i < TINYRL_LIGHT_COUNT; ++i) {
        sum += light[i];
    }
    return sum > 0.0f ? sum : 0.0f;
}

#if defined(TINYRL_OBS_LIGHT_OFFSET) || defined(TINYRL_OBS_LIGHT_SIDE_OFFSET)
/* First minus last reading (left minus right for a pair) over the total: the light's side. */
static float tinyrl_light_side(const float *light, float total)
{
    return tinyrl_clip((light[0] - light[TINYRL_LIGHT_COUNT - 1]) / (total + 1e-3f), -1.0f, 1.0f);
}
#endif

float tinyrl_light_log(const float *light)
{
    return logf(tinyrl_light_total(light) + TINYRL_LIGHT_LOG_FLOOR);
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

bool tinyrl_range_m(float mm, float *out_m)
{
    if (!(mm > 0.0f)) {
        return false;
    }
    const float m = mm * 0.001f;
    *out_m = m > TINYRL_MAX_RANGE_M ? TINYRL_MAX_RANGE_M : m;
    return true;
}

float tinyrl_down_range_m(float mm, float z_estimate_m)
{
    const float m = (mm > 0.0f && mm < TINYRL_DOWN_OUTLIER_MM) ? mm * 0.001f : z_estimate_m;
    return tinyrl_clip(m, 0.0f, TINYRL_DOWN_MAX_RANGE_M);
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
        const float max_rad_s = TINYRL_MAX_YAW_RATE_DEG_S * (TINYRL_PI_F / 180.0f);
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
        const float total = tinyrl_light_total(s->light);
        obs[TINYRL_OBS_LIGHT_OFFSET] = total / (1.0f + total);
        obs[TINYRL_OBS_LIGHT_OFFSET + 1] = tinyrl_light_side(s->light, total);
    }
#endif
#ifdef TINYRL_OBS_LIGHT_SIDE_OFFSET
    obs[TINYRL_OBS_LIGHT_SIDE_OFFSET] = tinyrl_light_side(s->light, tinyrl_light_total(s->light));
#endif
#ifdef TINYRL_OBS_LIGHT_TREND_OFFSET
    obs[TINYRL_OBS_LIGHT_TREND_OFFSET] =
        tinyrl_clip(TINYRL_LIGHT_TREND_GAIN * (tinyrl_light_log(s->light) - s->light_log_ema), -1.0f, 1.0f);
#endif
#ifdef TINYRL_OBS_LIGHT_BEARING_OFFSET
    {
        /* Each photodiode votes for its facing direction with its (non-negative) reading. */
        static const float normals[TINYRL_LIGHT_COUNT][2] = TINYRL_LIGHT_NORMALS_XY;
        float total = 0.0f, vx = 0.0f, vy = 0.0f;
        for (int32_t i = 0; i < TINYRL_LIGHT_COUNT; ++i) {
            const float r = s->light[i] > 0.0f ? s->light[i] : 0.0f;
            total += r;
            vx += r * normals[i][0];
            vy += r * normals[i][1];
        }
        const float norm = sqrtf(vx * vx + vy * vy) + 1e-3f;
        obs[TINYRL_OBS_LIGHT_BEARING_OFFSET] = total / (1.0f + total);
        obs[TINYRL_OBS_LIGHT_BEARING_OFFSET + 1] = vx / norm;
        obs[TINYRL_OBS_LIGHT_BEARING_OFFSET + 2] = vy / norm;
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
#ifdef TINYRL_OBS_RANGES_NEAR_OFFSET
    for (int32_t i = 0; i < 4; ++i) {
        obs[TINYRL_OBS_RANGES_NEAR_OFFSET + i] = tinyrl_clip(1.0f - s->ranges_m[i] / TINYRL_NEAR_RANGE_M, 0.0f, 1.0f);
    }
#endif
    /* The simulator clips the whole vector to the observation space's bounds last. */
    for (int32_t i = 0; i < TINYRL_OBS_SIZE; ++i) {
        obs[i] = tinyrl_clip(obs[i], -TINYRL_OBS_LIMIT, TINYRL_OBS_LIMIT);
    }
}

int32_t tinyrl_argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; ++i) {
        if (x[i] > x[best]) {
            best = i;
        }
    }
    return best;
}

void tinyrl_action_to_hover(const float *output, float hold_z_m, tinyrl_hover *hover, float *fed_back)
{
#if TINYRL_ACTION_DISCRETE
    static const float table[TINYRL_ACTION_WIDTH][3] = TINYRL_DISCRETE_ACTIONS;
    const int32_t k = tinyrl_argmax(output, TINYRL_ACTION_WIDTH);
    hover->vx_m_s = table[k][0];
    hover->vy_m_s = table[k][1];
    hover->yaw_rate_deg_s = table[k][2];
    hover->z_m = hold_z_m;
    for (int32_t i = 0; i < TINYRL_ACTION_WIDTH; ++i) {
        fed_back[i] = i == k ? 1.0f : 0.0f;
    }
#else
    (void)hold_z_m; /* continuous actions command the height */
    for (int32_t i = 0; i < 4; ++i) {
        fed_back[i] = tinyrl_clip(output[i], -1.0f, 1.0f);
    }
    hover->vx_m_s = fed_back[0] * TINYRL_MAX_SPEED_M_S;
    hover->vy_m_s = fed_back[1] * TINYRL_MAX_SPEED_M_S;
    hover->yaw_rate_deg_s = fed_back[2] * TINYRL_MAX_YAW_RATE_DEG_S;
    hover->z_m = TINYRL_Z_MIN_M + (fed_back[3] + 1.0f) * 0.5f * TINYRL_Z_SPAN_M;
#endif
}

void tinyrl_action_at_start(float start_z_m, float *fed_back)
{
    for (int32_t i = 0; i < TINYRL_ACTION_WIDTH; ++i) {
        fed_back[i] = 0.0f;
    }
#if !TINYRL_ACTION_DISCRETE
    fed_back[3] = tinyrl_clip(2.0f * (start_z_m - TINYRL_Z_MIN_M) / TINYRL_Z_SPAN_M - 1.0f, -1.0f, 1.0f);
#else
    (void)start_z_m; /* no action taken yet: all zeros */
#endif
}

void tinyrl_ema_update(float *ema, const float *x, int32_t n, float alpha)
{
    for (int32_t i = 0; i < n; ++i) {
        ema[i] += alpha * (x[i] - ema[i]);
    }
}
