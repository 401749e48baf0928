#!/usr/bin/env bash
# Export a TinyRL policy into the Crazyflie app and build the firmware image with it (firmware/crazyflie/README.md).
#
#   CRAZYFLIE_BASE=/path/to/crazyflie-firmware scripts/build_crazyflie_app.sh [POLICY [ENV]]
#
# POLICY defaults to policies/obstacle-course and ENV (the scenario it was trained on) to obstacle-course. The
# firmware checkout needs its submodules (git clone --recursive, or git submodule update --init). Writes
# firmware/crazyflie/policy/ (the export) and firmware/crazyflie/build/cf2.{elf,bin}, then prints the image size
# and what the app's own objects take in it. It is `tinyrl deploy --policy POLICY --env ENV` (tinyrl/hil/deploy.py),
# run with this checkout's tinyrl; TINYRL_PYTHON (default: the checkout's .venv, else python3) runs it. The numbers
# also go to firmware/crazyflie/build/sizes.json (scripts/crazyflie_app_sizes.py, which pastes them into the app's
# README); HELLO_WORLD_BIN, the cf2.bin of the firmware's examples/app_hello_world built the same way, adds the
# image's growth over it.
#
# A failed run leaves no firmware/crazyflie/build/cf2.{bin,hex,elf}: `make cload` cannot flash a stale image.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="$ROOT/firmware/crazyflie"
rm -f "$APP/build/cf2.bin" "$APP/build/cf2.hex" "$APP/build/cf2.elf" "$APP/build/sizes.json"
POLICY="${1:-policies/obstacle-course}"
ENV_NAME="${2:-obstacle-course}"
if [[ -z "${TINYRL_PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then TINYRL_PYTHON="$ROOT/.venv/bin/python"; else TINYRL_PYTHON=python3; fi
fi

cd "$ROOT"
# PYTHONPATH first, so an editable install of another checkout loses.
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$TINYRL_PYTHON" -m tinyrl deploy --policy "$POLICY" --env "$ENV_NAME"
arm-none-eabi-size "$APP/build/cf2.elf"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$TINYRL_PYTHON" "$ROOT/scripts/crazyflie_app_sizes.py" measure \
    --app "$APP" --firmware "$CRAZYFLIE_BASE" --policy "$POLICY" --env "$ENV_NAME" \
    ${HELLO_WORLD_BIN:+--hello-world "$HELLO_WORLD_BIN"} -o "$APP/build/sizes.json"
