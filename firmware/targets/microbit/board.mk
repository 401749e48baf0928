# TinyRL micro:bit v1 (nRF51822; QEMU microbit, a Cortex-M0): built for the Cortex-M0+, the same ARMv6-M instruction set, soft float. Included by firmware/Makefile.
BOARD_CC := $(ARM_CC)
BOARD_SIZE := $(ARM_SIZE)
BOARD_ARCH := -mcpu=cortex-m0plus -mthumb
BOARD_SRCS := $(addprefix $(FW)/targets/cortex-m/,startup.c board.c nrf51_uart.c)
BOARD_INCLUDES := -I$(FW)/targets/microbit -I$(FW)/targets/cortex-m
BOARD_LDSCRIPT := $(FW)/targets/microbit/memory.ld
BOARD_LDFLAGS := -L$(FW)/targets/cortex-m -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,--no-warn-rwx-segments
BOARD_QEMU := $(QEMU) -M microbit -nographic -monitor none -serial stdio \
              -semihosting-config enable=on,target=native -icount shift=0
