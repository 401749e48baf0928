/* Stub of the Crazyflie firmware's src/modules/interface/stabilizer_types.h (see README.md): setpoint_t with the
 * field types and order of the real one, sub-structures reduced to their fields. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct attitude_s {
    uint32_t timestamp;
    float roll;
    float pitch;
    float yaw;
} attitude_t;

struct vec3_s {
    uint32_t timestamp;
    float x;
    float y;
    float z;
};
typedef struct vec3_s point_t;
typedef struct vec3_s velocity_t;
typedef struct vec3_s acc_t;
typedef struct vec3_s jerk_t;

typedef struct quaternion_s { /* the real one is a union of q0..q3 and x, y, z, w */
    float x;
    float y;
    float z;
    float w;
} quaternion_t;

typedef enum mode_e { modeDisable = 0, modeAbs, modeVelocity } stab_mode_t;

typedef struct {
    stab_mode_t x;
    stab_mode_t y;
    stab_mode_t z;
    stab_mode_t roll;
    stab_mode_t pitch;
    stab_mode_t yaw;
    stab_mode_t quat;
} setpoint_mode_t;

typedef struct setpoint_s {
    uint32_t timestamp;
    attitude_t attitude;     /* deg */
    attitude_t attitudeRate; /* deg/s */
    quaternion_t attitudeQuaternion;
    float thrust;
    point_t position;  /* m */
    velocity_t velocity; /* m/s */
    acc_t acceleration;
    jerk_t jerk;
    bool velocity_body; /* true: velocity in the body (yaw) frame */
    setpoint_mode_t mode;
} setpoint_t;
