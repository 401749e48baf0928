/* Stub of the firmware build's generated include/generated/autoconf.h: the options the app tests (alldefconfig). */
#pragma once

#define CONFIG_ESTIMATOR_KALMAN_ENABLE 1
