# TinyRL STM32F405 (Crazyflie 2.x; QEMU netduinoplus2): Cortex-M4F, hard float. Included by firmware/Makefile.
BOARD_CC := $(ARM_CC)
BOARD_SIZE := $(ARM_SIZE)
BOARD_ARCH := -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard
BOARD_SRCS := $(wildcard $(FW)/targets/stm32f405/*.c)
BOARD_INCLUDES :=
BOARD_LDSCRIPT := $(FW)/targets/stm32f405/stm32f405.ld
BOARD_LDFLAGS := -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,--no-warn-rwx-segments
BOARD_QEMU := $(QEMU) -M netduinoplus2 -nographic -monitor none -serial stdio \
              -semihosting-config enable=on,target=native -icount shift=0
