# TinyRL MPS2 AN385 (QEMU mps2-an385): Cortex-M3, no DSP extension, soft float. Included by firmware/Makefile.
BOARD_CC := $(ARM_CC)
BOARD_SIZE := $(ARM_SIZE)
BOARD_ARCH := -mcpu=cortex-m3 -mthumb
BOARD_SRCS := $(addprefix $(FW)/targets/cortex-m/,startup.c board.c cmsdk_uart.c)
BOARD_INCLUDES := -I$(FW)/targets/mps2-an385 -I$(FW)/targets/cortex-m
BOARD_LDSCRIPT := $(FW)/targets/mps2-an385/memory.ld
BOARD_LDFLAGS := -L$(FW)/targets/cortex-m -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,--no-warn-rwx-segments
BOARD_QEMU := $(QEMU) -M mps2-an385 -nographic -monitor none -serial stdio \
              -semihosting-config enable=on,target=native -icount shift=0
