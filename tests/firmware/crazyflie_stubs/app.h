/* Stub of the Crazyflie firmware's src/modules/interface/app.h (see README.md): the app-layer entry point. */
#pragma once

void appMain(); /* the firmware declares it without a prototype; the app defines appMain(void) */
