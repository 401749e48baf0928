# TinyRL RISC-V rv32imc (the ESP32-C3's instruction set; QEMU virt), soft float, picolibc. Included by firmware/Makefile.
BOARD_CC := $(RISCV_CC)
BOARD_SIZE := $(RISCV_SIZE)
# -misa-spec=2.2: the ISA version in which the CSR instructions (rdinstret, csrw mtvec) belong to the base ISA; with
# the newer spec they need _zicsr in -march, and no picolibc/libgcc multilib is built for that spelling.
BOARD_ARCH := -march=rv32imc -misa-spec=2.2 -mabi=ilp32 --specs=picolibc.specs
BOARD_SRCS := $(addprefix $(FW)/targets/riscv-virt/,startup.c board.c)
BOARD_INCLUDES :=
BOARD_LDSCRIPT := $(FW)/targets/riscv-virt/virt.ld
BOARD_LDFLAGS := -nostartfiles
BOARD_QEMU := $(RISCV_QEMU) -M virt -bios none -nographic -monitor none -serial stdio -icount shift=0
