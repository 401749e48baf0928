"""Validation evaluations in a second process, so the learner never waits for them.

Training keeps one core busy (the simulator and a one-thread torch take turns); on a 2-core machine the
evaluations every ``eval_every_steps`` used to stop it for about a fifth of its wall time. The learner now
hands a :class:`Snapshot` of its weights to a worker process and collects the report later. The result is
the same as evaluating in place: an evaluation depends only on the weights, the courses and the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Protocol

from tinyrl import workers
from tinyrl.common.evaluate import EvalReport, evaluate
from tinyrl.common.policy import MlpPolicy
from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig

#: Snapshots in flight before :meth:`BackgroundEvaluator.submit` waits for one: keeps the learning curve at
#: most this many evaluations behind the learner when evaluating is slower than training.
MAX_PENDING = 2


@dataclass(frozen=True)
class Snapshot:
    """The policy at one moment of training."""

    steps: int
    wall_time_s: float
    policy: MlpPolicy


class Evaluator(Protocol):
    """Evaluates snapshots on the validation courses; results come back in submission order."""

    def submit(self, snapshot: Snapshot) -> None:
        """Queue a snapshot."""
        ...

    def ready(self) -> list[tuple[Snapshot, EvalReport]]:
        """Reports finished so far (does not wait)."""
        ...

    def drain(self) -> list[tuple[Snapshot, EvalReport]]:
        """Every outstanding report (waits for them)."""
        ...

    def close(self) -> None:
        """Stop; unfinished evaluations are dropped."""
        ...


class InlineEvaluator:
    """Evaluates at once, in this process (for runs that share the machine with others, e.g. sweep trials)."""

    def __init__(self, config: ScenarioConfig, courses: Sequence[Course], seed: int) -> None:
        self.config, self.courses, self.seed = config, list(courses), seed
        self._done: list[tuple[Snapshot, EvalReport]] = []

    def submit(self, snapshot: Snapshot) -> None:
        """Evaluate ``snapshot`` now."""
        self._done.append((snapshot, _evaluate(self.config, self.courses, self.seed, snapshot)))

    def ready(self) -> list[tuple[Snapshot, EvalReport]]:
        """The reports of every submitted snapshot."""
        done, self._done = self._done, []
        return done

    drain = ready

    def close(self) -> None:
        """Nothing to stop."""


class BackgroundEvaluator:
    """Evaluates in one worker process (:mod:`tinyrl.workers`)."""

    def __init__(self, config: ScenarioConfig, courses: Sequence[Course], seed: int) -> None:
        self._conn, self._process = workers.spawn(_serve, (config, list(courses), seed), "tinyrl-eval")
        self._pending: list[Snapshot] = []
        # Reports that arrived while submit() waited for room; handed out by the next ready().
        self._arrived: list[tuple[Snapshot, EvalReport]] = []

    def submit(self, snapshot: Snapshot) -> None:
        """Queue ``snapshot``; waits first if :data:`MAX_PENDING` are already in flight."""
        while len(self._pending) >= MAX_PENDING:
            self._arrived.append(self._receive_one())
        workers.send(self._conn, self._process, "evaluation", snapshot)
        self._pending.append(snapshot)

    def ready(self) -> list[tuple[Snapshot, EvalReport]]:
        """Reports that have arrived, oldest first."""
        out, self._arrived = self._arrived, []
        while self._pending and self._conn.poll():
            out.append(self._receive_one())
        return out

    def drain(self) -> list[tuple[Snapshot, EvalReport]]:
        """Every outstanding report, oldest first."""
        out = self.ready()
        while self._pending:
            out.append(self._receive_one())
        return out

    def close(self) -> None:
        """Stop the worker (unfinished evaluations are dropped, so a busy worker is not waited for)."""
        workers.stop(self._conn, self._process, patience_s=0.0 if self._pending else 5.0)

    def _receive_one(self) -> tuple[Snapshot, EvalReport]:
        report = workers.receive(self._conn, self._process, "evaluation")
        return self._pending.pop(0), report


def _evaluate(config: ScenarioConfig, courses: list[Course], seed: int, snapshot: Snapshot) -> EvalReport:
    return evaluate(snapshot.policy, config, courses, len(courses), seed=seed)


def _serve(conn: Connection, config: ScenarioConfig, courses: list[Course], seed: int) -> None:
    workers.serve(conn, lambda snapshot: _evaluate(config, courses, seed, snapshot))
