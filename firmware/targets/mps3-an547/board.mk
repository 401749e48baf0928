# TinyRL MPS3 AN547 (QEMU mps3-an547): Cortex-M55 with DSP extension, FPU and Helium (MVE), secure state. Included by firmware/Makefile.
BOARD_CC := $(ARM_CC)
BOARD_SIZE := $(ARM_SIZE)
BOARD_ARCH := -mcpu=cortex-m55 -mthumb -mfloat-abi=hard
BOARD_SRCS := $(addprefix $(FW)/targets/cortex-m/,startup.c board.c cmsdk_uart.c)
BOARD_INCLUDES := -I$(FW)/targets/mps3-an547 -I$(FW)/targets/cortex-m
BOARD_LDSCRIPT := $(FW)/targets/mps3-an547/memory.ld
BOARD_LDFLAGS := -L$(FW)/targets/cortex-m -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,--no-warn-rwx-segments
BOARD_QEMU := $(QEMU) -M mps3-an547 -nographic -monitor none -serial stdio \
              -semihosting-config enable=on,target=native -icount shift=0
