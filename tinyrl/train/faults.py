"""Deterministic fault injection, so tests crash or interrupt a run at a known step instead of racing a timer.

Inert unless its environment variable is set. :func:`tinyrl.train.trainer.train` reads
``TINYRL_FAULT=ACTION@STEPS``:

- ``kill@STEPS``: SIGKILL the training process at the first env step >= ``STEPS``, right after that step's
  checkpoint (if one is due) is on disk: a crash with nothing saved after it;
- ``sigint@STEPS``: raise SIGINT there, as Ctrl-C would: ``train`` saves a checkpoint at that step and
  re-raises ``KeyboardInterrupt`` (``tinyrl train`` exits 130);
- ``sigterm@STEPS``: raise SIGTERM there, as ``kill`` or a job scheduler would: handled like Ctrl-C
  (``tinyrl train`` exits 143);
- ``kill-finishing@STEPS``: SIGKILL a run of at least ``STEPS`` steps in its final evaluation, after
  ``metrics.json`` and the plots are written but before the run is marked finished.

A fault fires at most once per process, and never in a run resumed at or past ``STEPS``, so the same variable
can stay set for the resumed process. ``tinyrl sweep`` reads its own variable (see
:mod:`tinyrl.scale.sweep`) with the same syntax.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tinyrl.errors import ConfigError

#: The trainer's variable.
TRAIN_FAULT_VAR = "TINYRL_FAULT"
#: What the trainer can do to itself.
TRAIN_ACTIONS = ("kill", "sigint", "sigterm", "kill-finishing")
#: Actions that fire at a step of training (``kill-finishing`` fires in the final evaluation instead).
STEP_ACTIONS = ("kill", "sigint", "sigterm")


@dataclass(frozen=True)
class Fault:
    """``action`` at the first env step >= ``steps``."""

    action: str
    steps: int


def parse_fault(variable: str, actions: Sequence[str], environ: Mapping[str, str] | None = None) -> Fault | None:
    """The fault that ``$variable`` (``ACTION@STEPS``) asks for; ``None`` when unset or empty.

    Raises:
        ConfigError: Not ``ACTION@STEPS`` with a known action and an integer ``STEPS`` >= 1.
    """
    value = (os.environ if environ is None else environ).get(variable, "").strip()
    if not value:
        return None
    action, sep, steps = value.partition("@")
    if not sep or action not in actions or not steps.isdigit() or int(steps) < 1:
        raise ConfigError(f"${variable}={value!r}: expected ACTION@STEPS with ACTION one of {', '.join(actions)}")
    return Fault(action, int(steps))


def fire_signal_fault(fault: Fault) -> None:
    """Do it to this process, in the main thread: ``kill`` (and ``kill-finishing``), ``sigterm``, else ``sigint``.

    SIGKILL never returns; SIGINT raises ``KeyboardInterrupt`` here, SIGTERM :class:`~tinyrl.errors.Terminated`
    (through the command's handler). Every fault hook of a signal (training, HIL, ``tinyrl fly``) fires through here.
    """
    if fault.action in ("kill", "kill-finishing"):
        signal.raise_signal(signal.SIGKILL)
    if fault.action == "sigterm":
        signal.raise_signal(signal.SIGTERM)
        return
    interrupt()


def interrupt() -> None:
    """Send this process SIGINT and run its handler at once, as Ctrl-C in a terminal would (main thread only).

    A process started in the background by a non-interactive shell inherits SIGINT ignored, and Python then leaves
    it so: Python's own Ctrl-C handler is put back first, or the fault would pass unnoticed.
    """
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # raise_signal runs the handler before it returns, so the interrupt lands exactly here.
    signal.raise_signal(signal.SIGINT)
