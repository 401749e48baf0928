/* Stub of FreeRTOS task.h (vendor/FreeRTOS in the Crazyflie firmware, see README.md). */
#pragma once

#include "FreeRTOS.h"

TickType_t xTaskGetTickCount(void);
void vTaskDelayUntil(TickType_t *const pxPreviousWakeTime, const TickType_t xTimeIncrement);
