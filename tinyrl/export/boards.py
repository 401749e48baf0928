"""The "fits on" table: which boards an exported policy fits, from what was measured on each target's emulated core.

Board data (clock, RAM, flash, and which export target runs the same machine code) lives in
``tinyrl/data/boards.yaml``. :func:`fits_on` joins it with the per-target measurements of one export: the policy
module's flash and RAM as compiled for that core, and its instructions per inference under QEMU.

Timing is an estimate, never a measurement: QEMU counts instructions (``-icount``), not cycles, so microseconds are
instructions / clock, i.e. one instruction per cycle (:data:`CPI_ASSUMED`). Boards whose core has no toolchain or
emulator here (Xtensa, ARC) take the sizes and instruction count of a stated verified target, clock-scaled, and are
marked as estimates.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pydantic

from tinyrl.config import StrictModel, load_model
from tinyrl.errors import ConfigError
from tinyrl.export.targets import MCU_TARGETS

BOARDS_FILE = Path(__file__).resolve().parents[1] / "data" / "boards.yaml"

#: Cycles per instruction assumed to turn instruction counts into time (a stated assumption, not a measurement).
CPI_ASSUMED = 1.0
TIMING_NOTE = (
    "microseconds = instructions / clock, assuming 1 instruction per cycle: QEMU counts instructions, not cycles. "
    "Flash wait states and multi-cycle loads, multiplies and branches make real cores slower; the dual-issue "
    "Cortex-M7 can be faster. Flash and RAM are the policy module's (weights, code, activation buffer), without stack."
)


class Board(StrictModel):
    """One board: its MCU and core, clock and memories, and how its numbers are obtained.

    Exactly one of ``target`` (an export target whose emulated core runs the same machine code: measured) and
    ``estimate_from`` (a verified target whose numbers are clock-scaled to this board: estimated, for ``why``) is set.
    """

    board: str
    mcu: str
    core: str
    clock_mhz: float = pydantic.Field(gt=0)
    ram_kb: float = pydantic.Field(gt=0)
    flash_kb: float | None = pydantic.Field(gt=0)
    target: str | None = None
    estimate_from: str | None = None
    why: str | None = None
    note: str | None = None

    @pydantic.model_validator(mode="after")
    def _one_basis(self) -> Board:
        if (self.target is None) == (self.estimate_from is None):
            raise ValueError("give exactly one of target (measured) and estimate_from (estimated)")
        name = self.target or self.estimate_from
        if name not in MCU_TARGETS:
            raise ValueError(f"unknown target {name!r}; one of {', '.join(MCU_TARGETS)}")
        if self.estimate_from is not None and not self.why:
            raise ValueError("an estimated board needs `why` (what is missing to measure it)")
        return self

    @property
    def basis_target(self) -> str:
        """The export target whose numbers the row uses."""
        name = self.target or self.estimate_from
        assert name is not None  # _one_basis
        return name


class BoardTable(StrictModel):
    """``tinyrl/data/boards.yaml``."""

    boards: list[Board] = pydantic.Field(min_length=1)


@cache
def load_boards(path: Path = BOARDS_FILE) -> tuple[Board, ...]:
    """The boards of the table, in file order.

    Raises:
        ConfigError: the file is missing, a board is malformed (names the field), or a board is listed twice.
    """
    boards = load_model(BoardTable, path).boards
    names = [b.board for b in boards]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: boards listed twice: {', '.join(duplicates)}")
    return tuple(boards)


def fits_on(
    targets: dict[str, dict[str, Any]],
    rate_hz: float,
    rate_from: str,
    boards: tuple[Board, ...] | None = None,
) -> dict[str, Any]:
    """The "fits on" table of one export.

    Args:
        targets: Per export target, what was measured (``measured`` True with ``flash_bytes``, ``ram_bytes``,
            ``instructions_per_inference`` and ``kernels``), or ``measured`` False with a ``reason``.
        rate_hz: The policy rate (Hz) for the share of one core.
        rate_from: Where the rate comes from (the scenario), for the report.
        boards: The boards; default :func:`load_boards`.

    Returns:
        ``{"policy_rate_hz", "policy_rate_from", "cpi_assumed", "timing", "boards": [row, ...]}``; each row has the
        board's data, ``basis`` (``"measured"``, ``"estimate"`` or ``"not measured"``), ``target``, and when there are
        numbers: ``policy_flash_bytes``, ``policy_ram_bytes``, ``instructions_per_inference``, ``us_per_inference``,
        ``core_percent`` (of one core at ``rate_hz``), ``flash_percent``, ``ram_percent`` and ``fits``.
    """
    rows = []
    for board in load_boards() if boards is None else boards:
        name = board.basis_target
        row: dict[str, Any] = {
            "board": board.board,
            "mcu": board.mcu,
            "core": board.core,
            "clock_mhz": board.clock_mhz,
            "ram_bytes": round(board.ram_kb * 1024),
            "flash_bytes": None if board.flash_kb is None else round(board.flash_kb * 1024),
            "target": name,
        }
        measured = targets.get(name)
        if measured is None or not measured.get("measured"):
            reason = "not measured in this export" if measured is None else str(measured.get("reason"))
            rows.append({**row, "basis": "not measured", "note": reason, "fits": None})
            continue
        if board.estimate_from is not None:
            basis = "estimate"
            note = f"{board.why}: sizes and instructions of {name} ({measured['kernels']} kernels), clock-scaled"
        else:
            basis = "measured"
            note = f"measured on {name} under QEMU ({measured['kernels']} kernels)"
            if board.note:
                note += f"; {board.note}"
        flash, ram, instructions = (
            measured["flash_bytes"],
            measured["ram_bytes"],
            measured["instructions_per_inference"],
        )
        us = instructions * CPI_ASSUMED / board.clock_mhz
        flash_ok = row["flash_bytes"] is None or flash <= row["flash_bytes"]
        rows.append(
            {
                **row,
                "basis": basis,
                "note": note,
                "kernels": measured["kernels"],
                "policy_flash_bytes": flash,
                "policy_ram_bytes": ram,
                "instructions_per_inference": instructions,
                "us_per_inference": round(us, 2),
                "core_percent": round(us * rate_hz / 1e4, 4),
                "flash_percent": None if row["flash_bytes"] is None else round(100 * flash / row["flash_bytes"], 2),
                "ram_percent": round(100 * ram / row["ram_bytes"], 2),
                "fits": flash_ok and ram <= row["ram_bytes"],
            }
        )
    return {
        "policy_rate_hz": rate_hz,
        "policy_rate_from": rate_from,
        "cpi_assumed": CPI_ASSUMED,
        "timing": TIMING_NOTE,
        "boards": rows,
    }
