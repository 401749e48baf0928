"""The fault hook itself: inert unless set, loud when malformed, and an interrupt that cannot be ignored."""

import signal

import pytest

from tinyrl.errors import ConfigError
from tinyrl.train.faults import TRAIN_ACTIONS, TRAIN_FAULT_VAR, Fault, interrupt, parse_fault


def test_fault_is_inert_unless_set_and_loud_when_malformed():
    assert parse_fault(TRAIN_FAULT_VAR, TRAIN_ACTIONS, {}) is None
    assert parse_fault(TRAIN_FAULT_VAR, TRAIN_ACTIONS, {TRAIN_FAULT_VAR: " "}) is None
    assert parse_fault(TRAIN_FAULT_VAR, TRAIN_ACTIONS, {TRAIN_FAULT_VAR: "kill@2048"}) == Fault("kill", 2048)
    for bad in ("kill", "kill@", "kill@0", "kill@-5", "kill@1e3", "explode@10", "@10"):
        with pytest.raises(ConfigError, match=r"\$TINYRL_FAULT=.*expected ACTION@STEPS with ACTION one of kill, sig"):
            parse_fault(TRAIN_FAULT_VAR, TRAIN_ACTIONS, {TRAIN_FAULT_VAR: bad})


def test_interrupt_raises_keyboard_interrupt_even_where_sigint_was_ignored():
    # A job started in the background by a non-interactive shell inherits SIGINT ignored.
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(KeyboardInterrupt):
            interrupt()
    finally:
        signal.signal(signal.SIGINT, before)
