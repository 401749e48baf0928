#!/usr/bin/env bash
# Export a TinyRL policy into the Crazyflie app and build the firmware image with it (firmware/crazyflie/README.md).
#
#   CRAZYFLIE_BASE=/path/to/crazyflie-firmware scripts/build_crazyflie_app.sh [POLICY [ENV]]
#
# POLICY defaults to policies/obstacle-course and ENV (the scenario it was trained on) to obstacle-course. The
# firmware checkout needs its submodules (git clone --recursive, or git submodule update --init). Writes
# firmware/crazyflie/policy/ (the export) and firmware/crazyflie/build/cf2.{elf,bin}, then prints the image size
# and what the app's own objects take in it. It is `tinyrl deploy --policy POLICY --env ENV` (tinyrl/hil/deploy.py),
# run with this checkout's tinyrl; TINYRL_PYTHON (default: the checkout's .venv, else python3) runs it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POLICY="${1:-policies/obstacle-course}"
ENV_NAME="${2:-obstacle-course}"
if [[ -z "${TINYRL_PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then TINYRL_PYTHON="$ROOT/.venv/bin/python"; else TINYRL_PYTHON=python3; fi
fi

cd "$ROOT"
# PYTHONPATH first, so an editable install of another checkout loses.
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$TINYRL_PYTHON" -m tinyrl deploy --policy "$POLICY" --env "$ENV_NAME"
arm-none-eabi-size "$ROOT/firmware/crazyflie/build/cf2.elf"
