# TinyRL STM32F405 (Crazyflie 2.x; QEMU netduinoplus2): Cortex-M4F, hard float. Included by firmware/Makefile.
BOARD_CC := $(ARM_CC)
BOARD_SIZE := $(ARM_SIZE)
BOARD_ARCH := -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard
BOARD_SRCS := $(addprefix $(FW)/targets/cortex-m/,startup.c board.c) $(FW)/targets/stm32f405/uart.c
BOARD_INCLUDES := -I$(FW)/targets/stm32f405 -I$(FW)/targets/cortex-m
BOARD_LDSCRIPT := $(FW)/targets/stm32f405/memory.ld
BOARD_LDFLAGS := -L$(FW)/targets/cortex-m -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,--no-warn-rwx-segments
BOARD_QEMU := $(QEMU) -M netduinoplus2 -nographic -monitor none -serial stdio \
              -semihosting-config enable=on,target=native -icount shift=0
