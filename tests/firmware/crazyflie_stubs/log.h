/* Stub of the Crazyflie firmware's src/modules/interface/log.h (see README.md): the read API and the table macros,
 * which expand to the same initializers as the real ones. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef uint16_t logVarId_t;

logVarId_t logGetVarId(const char *group, const char *name);
static inline bool logVarIdIsValid(logVarId_t varId)
{
    return varId != 0xffffu;
}
float logGetFloat(logVarId_t varid);

#define LOG_UINT8 1
#define LOG_UINT16 2
#define LOG_UINT32 3
#define LOG_INT8 4
#define LOG_INT16 5
#define LOG_INT32 6
#define LOG_FLOAT 7
#define LOG_GROUP 0x80
#define LOG_START 1
#define LOG_STOP 0

struct log_s {
    uint8_t type;
    char *name;
    void *address;
};

#define LOG_ADD(TYPE, NAME, ADDRESS) {.type = TYPE, .name = #NAME, .address = (void *)(ADDRESS)},
#define LOG_ADD_GROUP(TYPE, NAME, ADDRESS) {.type = TYPE, .name = #NAME, .address = (void *)(ADDRESS)},
#define LOG_GROUP_START(NAME)                                                                                     \
    static const struct log_s __logs_##NAME[] __attribute__((section(".log." #NAME), used)) = {                  \
        LOG_ADD_GROUP(LOG_GROUP | LOG_START, NAME, 0x0)
#define LOG_GROUP_STOP(NAME) LOG_ADD_GROUP(LOG_GROUP | LOG_STOP, stop_##NAME, 0x0)};
