#!/usr/bin/env bash
# Export a TinyRL policy into the Crazyflie app and build the firmware image with it (firmware/crazyflie/README.md).
#
#   CRAZYFLIE_BASE=/path/to/crazyflie-firmware scripts/build_crazyflie_app.sh [POLICY [ENV]]
#
# POLICY defaults to policies/obstacle-course and ENV (the scenario it was trained on) to obstacle-course. The
# firmware checkout needs its submodules (git clone --recursive, or git submodule update --init). Writes
# firmware/crazyflie/policy/ (the export) and firmware/crazyflie/build/cf2.{elf,bin}, then prints the image size
# and what the app's own objects take in it. TINYRL_PYTHON (default: the checkout's .venv, else python3) runs the
# exporter from this checkout; JOBS (default: nproc) is make's -j.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="$ROOT/firmware/crazyflie"
POLICY="${1:-policies/obstacle-course}"
ENV_NAME="${2:-obstacle-course}"
JOBS="${JOBS:-$(nproc)}"
if [[ -z "${TINYRL_PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then TINYRL_PYTHON="$ROOT/.venv/bin/python"; else TINYRL_PYTHON=python3; fi
fi

if [[ -z "${CRAZYFLIE_BASE:-}" ]]; then
    echo "error: set CRAZYFLIE_BASE to a crazyflie-firmware checkout (git clone --recursive" \
        "https://github.com/bitcraze/crazyflie-firmware)" >&2
    exit 2
fi
CRAZYFLIE_BASE="$(cd "$CRAZYFLIE_BASE" && pwd)"
if [[ ! -f "$CRAZYFLIE_BASE/tools/make/oot.mk" ]]; then
    echo "error: $CRAZYFLIE_BASE has no tools/make/oot.mk: not a crazyflie-firmware checkout" >&2
    exit 2
fi
for sub in vendor/FreeRTOS/include vendor/CMSIS/CMSIS vendor/libdw1000/inc; do
    if [[ ! -d "$CRAZYFLIE_BASE/$sub" ]]; then
        echo "error: $CRAZYFLIE_BASE/$sub is missing: run git submodule update --init there" >&2
        exit 2
    fi
done

# 1. Export with this checkout's tinyrl (PYTHONPATH first, so an editable install of another checkout loses).
cd "$ROOT"
rm -rf "$APP/policy"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$TINYRL_PYTHON" -m tinyrl export "$POLICY" --target cortex-m4 \
    --env "$ENV_NAME" -o "$APP/policy"

# 2. Build: oot.mk configures build/.config (alldefconfig = cf2) on first use and merges app-config into it.
CRAZYFLIE_BASE="$CRAZYFLIE_BASE" make -C "$APP" -j"$JOBS"

# 3. Sizes: the image, and what the app (src/ + policy/, linked as built-in.o) takes in it after --gc-sections.
echo
arm-none-eabi-size "$APP/build/cf2.elf"
ls -l "$APP/build/cf2.bin"
python3 - "$APP/build/cf2.map" "$APP/built-in.o" <<'EOF'
import re
import sys

map_path, obj = sys.argv[1], sys.argv[2]
text = open(map_path, encoding="utf-8").read()
text = text[text.index("Linker script and memory map") :]
text = text.split("Cross Reference Table")[0]
sizes: dict[str, int] = {}
section = None
for line in text.splitlines():
    m = re.match(r"^ (\.\S+)\s*$", line)  # a long section name, its address and size on the next line
    if m:
        section = m.group(1)
        continue
    m = re.match(r"^ (\.\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$", line)
    if m and m.group(4) == obj and int(m.group(2), 16) != 0:
        name = m.group(1) or section or ""
        kind = name.split(".")[1] if name.count(".") >= 1 else name
        if kind in ("text", "rodata", "data", "bss", "log", "param"):
            sizes[kind] = sizes.get(kind, 0) + int(m.group(3), 16)
    section = None
flash = sum(sizes.get(k, 0) for k in ("text", "rodata", "data", "log", "param"))
ram = sizes.get("data", 0) + sizes.get("bss", 0)
print("app in cf2.elf (bytes): " + ", ".join(f"{k} {v}" for k, v in sorted(sizes.items())))
print(f"app flash {flash} B (code+const+log/param tables+data init), RAM {ram} B (data+bss), plus its task stack")
EOF
