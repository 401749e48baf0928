"""Which shipped policies the HIL tests fly: the continuous obstacle-course one, and the discrete source-seeking one."""

from __future__ import annotations

import pytest

#: The scenario whose shipped policy a test flies unless it asks for another (continuous: 4 outputs).
DEFAULT_ENV = "obstacle-course"
#: The scenario of the shipped discrete policy (3 outputs and an argmax).
DISCRETE_ENV = "source-seeking"
#: Fly the test with both policies: the ``hil_env`` fixture (tests/hil/conftest.py) takes each in turn.
EVERY_HEAD = pytest.mark.parametrize("hil_env", [DEFAULT_ENV, DISCRETE_ENV], indirect=True)
