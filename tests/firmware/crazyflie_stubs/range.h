/* Stub of the Crazyflie firmware's src/modules/interface/range.h (see README.md). */
#pragma once

typedef enum {
    rangeFront = 0,
    rangeBack,
    rangeLeft,
    rangeRight,
    rangeUp,
    rangeDown,
    RANGE_T_END,
} rangeDirection_t;

/* The header says metres; range.c returns its uint16_t millimetres (rangeSet stores range_m * 1000). */
float rangeGet(rangeDirection_t direction);
