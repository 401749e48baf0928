# TinyRL MPS2 AN500 (QEMU mps2-an500): Cortex-M7 with DSP extension and double-precision FPU. Included by firmware/Makefile.
BOARD_CC := $(ARM_CC)
BOARD_SIZE := $(ARM_SIZE)
BOARD_ARCH := -mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard
BOARD_SRCS := $(addprefix $(FW)/targets/cortex-m/,startup.c board.c cmsdk_uart.c)
BOARD_INCLUDES := -I$(FW)/targets/mps2-an500 -I$(FW)/targets/cortex-m
BOARD_LDSCRIPT := $(FW)/targets/mps2-an500/memory.ld
BOARD_LDFLAGS := -L$(FW)/targets/cortex-m -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,--no-warn-rwx-segments
BOARD_QEMU := $(QEMU) -M mps2-an500 -nographic -monitor none -serial stdio \
              -semihosting-config enable=on,target=native -icount shift=0
