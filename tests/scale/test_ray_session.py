"""A local Ray instance stops on every way out of :func:`~tinyrl.scale.cluster.ray_session`, SIGTERM included."""

import signal

import pytest
import ray

from tinyrl.errors import Terminated
from tinyrl.processes import sigterm_as_interrupt
from tinyrl.scale.cluster import ray_session


def test_sigterm_in_a_ray_session_raises_terminated_and_stops_ray():
    assert not ray.is_initialized()  # else ray_session would reuse that instance and never call ray.init
    # ray.init puts in a SIGTERM handler of its own (exit 1 at once); the session keeps the command's.
    with sigterm_as_interrupt(), pytest.raises(Terminated), ray_session(None) as session:
        assert session.cpus >= 1
        signal.raise_signal(signal.SIGTERM)  # runs the handler before it returns
    assert not ray.is_initialized()
