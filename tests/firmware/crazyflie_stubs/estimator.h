/* Stub of the Crazyflie firmware's src/modules/interface/estimator/estimator.h (see README.md). */
#pragma once

#include "autoconf.h"

typedef enum {
    StateEstimatorTypeAutoSelect = 0,
    StateEstimatorTypeComplementary,
#ifdef CONFIG_ESTIMATOR_KALMAN_ENABLE
    StateEstimatorTypeKalman,
#endif
    StateEstimatorType_COUNT,
} StateEstimatorType;

StateEstimatorType stateEstimatorGetType(void);
