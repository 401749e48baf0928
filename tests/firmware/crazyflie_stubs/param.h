/* Stub of the Crazyflie firmware's src/modules/interface/param.h (see README.md): the table macros, expanding to the
 * same initializers as the real ones. */
#pragma once

#include <stdint.h>

#define PARAM_1BYTE 0x00
#define PARAM_4BYTES 0x02
#define PARAM_TYPE_INT (0x00 << 2)
#define PARAM_TYPE_FLOAT (0x01 << 2)
#define PARAM_SIGNED (0x00 << 3)
#define PARAM_UNSIGNED (0x01 << 3)
#define PARAM_START 1
#define PARAM_STOP 0
#define PARAM_GROUP 0x80

/* param_logic.h (included by param.h): the read API. */
typedef struct paramVarId_s {
    uint16_t id;
    uint16_t index;
} __attribute__((packed)) paramVarId_t;
#define PARAM_VARID_IS_VALID(varId) (varId.id != 0xffffu)
paramVarId_t paramGetVarId(const char *group, const char *name);
unsigned int paramGetUint(paramVarId_t varid);

#define PARAM_UINT8 (PARAM_1BYTE | PARAM_TYPE_INT | PARAM_UNSIGNED)
#define PARAM_FLOAT (PARAM_4BYTES | PARAM_TYPE_FLOAT | PARAM_SIGNED)

struct param_s {
    uint8_t type;
    uint8_t extended_type;
    char *name;
    void *address;
    void (*callback)(void);
    void *(*getter)(void);
};

#define PARAM_ADD_FULL(TYPE, NAME, ADDRESS, CALLBACK, DEFAULT_GETTER)                                             \
    {.type = TYPE, .name = #NAME, .address = (void *)(ADDRESS), .callback = CALLBACK, .getter = DEFAULT_GETTER},
#define PARAM_ADD(TYPE, NAME, ADDRESS) PARAM_ADD_FULL(TYPE, NAME, ADDRESS, 0, 0)
#define PARAM_ADD_GROUP(TYPE, NAME, ADDRESS)                                                                      \
    {.type = TYPE, .name = #NAME, .address = (void *)(ADDRESS), .callback = 0, .getter = 0},
#define PARAM_GROUP_START(NAME)                                                                                   \
    static struct param_s __params_##NAME[] __attribute__((section(".param." #NAME), used)) = {                  \
        PARAM_ADD_GROUP(PARAM_GROUP | PARAM_START, NAME, 0x0)
#define PARAM_GROUP_STOP(NAME) PARAM_ADD_GROUP(PARAM_GROUP | PARAM_STOP, stop_##NAME, 0x0)};
