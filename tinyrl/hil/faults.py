"""Deterministic faults for ``tinyrl hil``, so tests stop a run at a known step instead of racing a timer.

Inert unless ``TINYRL_HIL_FAULT=ACTION@STEPS`` is set (the syntax of :mod:`tinyrl.train.faults`). The action fires
once, in the main thread, just before the link exchange of simulated step ``STEPS`` (counted over all episodes
from 1), while the device (QEMU, with ``--qemu``) is running:

- ``sigterm``: send this process SIGTERM, as ``kill`` or a job scheduler would (``tinyrl hil`` stops QEMU and
  exits 143);
- ``sigint``: interrupt it as Ctrl-C would (exit 130);
- ``kill``: SIGKILL it, so that no code of ours runs (QEMU then dies by the kernel's hand, see
  :mod:`tinyrl.processes`);
- ``link-lost``: close the host's end of the link, as a pulled cable would: the following exchanges fail and the
  run ends with a link error (exit 2).
"""

from __future__ import annotations

from tinyrl.hil.link import HilLink
from tinyrl.train.faults import Fault, fire_signal_fault, parse_fault

__all__ = ["HIL_ACTIONS", "HIL_FAULT_VAR", "fire_hil_fault", "hil_fault"]

#: The variable ``tinyrl hil`` reads.
HIL_FAULT_VAR = "TINYRL_HIL_FAULT"
#: What it can do.
HIL_ACTIONS = ("sigterm", "sigint", "kill", "link-lost")


def hil_fault() -> Fault | None:
    """The fault ``$TINYRL_HIL_FAULT`` asks for; ``None`` when unset.

    Raises:
        ConfigError: Not ``ACTION@STEPS`` with an action of :data:`HIL_ACTIONS`.
    """
    return parse_fault(HIL_FAULT_VAR, HIL_ACTIONS)


def fire_hil_fault(fault: Fault, link: HilLink) -> None:
    """Do ``fault`` now (SIGKILL never returns; SIGINT and SIGTERM raise through their handlers)."""
    if fault.action == "link-lost":
        link.close()
    else:
        fire_signal_fault(fault)
