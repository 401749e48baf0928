"""Course replay: training flies the pool's courses it fails on more often than the ones it has mastered.

A uniform draw from a pool of 2,000 courses spends most flights on courses the policy already flies; the few it
fails (a wall whose gap lies at the arena's side, a dense forest) come round rarely. With ``course_replay`` a
share of the draws picks, within the slot's level, a course already flown, in proportion to its failure score:
an exponential average of ``1 - success`` over its flights (the first flight's outcome, then each new one weighted
by ``score_alpha``). The rest stay uniform, so unflown courses keep coming in and a score goes stale for no longer
than it takes its course to come round again. Scores live in the training process only (a resumed run starts them
afresh); draws come from the slot's own random stream, so a run stays deterministic per seed. DAgger's rollouts on
the training pool (:mod:`tinyrl.compress.distill`) replay the courses their own flights fail in the same way.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pydantic

from tinyrl.config import StrictModel


class CourseReplayConfig(StrictModel):
    """Scenario key ``course_replay``: how much of training replays the courses it fails."""

    share: Annotated[float, pydantic.Field(ge=0, le=1, allow_inf_nan=False)] = 0.5
    """Fraction of course draws weighted by failure score (among courses already flown); the rest are uniform."""
    score_alpha: Annotated[float, pydantic.Field(gt=0, le=1, allow_inf_nan=False)] = 0.5
    """Weight of a flight's outcome in its course's failure score (1: the last flight alone)."""


class CourseReplay:
    """Failure scores of ``n_courses`` courses and the draws weighted by them.

    Args:
        n_courses: Size of the pool (course indices ``0..n_courses-1``).
        config: Share and score weight.
    """

    def __init__(self, n_courses: int, config: CourseReplayConfig) -> None:
        if n_courses < 1:
            raise ValueError(f"n_courses must be at least 1, got {n_courses}")
        self.config = config
        #: ``(n_courses,)`` exponential average of ``1 - success``; 0 for courses never flown.
        self.failure = np.zeros(n_courses)
        #: ``(n_courses,)`` flights recorded per course.
        self.flights = np.zeros(n_courses, dtype=np.int64)

    def record(self, course_indices: np.ndarray, success: np.ndarray) -> None:
        """Fold finished flights into their courses' scores: ``course_indices`` ``(M,)``, ``success`` ``(M,)``."""
        a = self.config.score_alpha
        for k, ok in zip(np.asarray(course_indices).tolist(), np.asarray(success).tolist(), strict=True):
            outcome = 0.0 if ok else 1.0
            self.failure[k] = outcome if self.flights[k] == 0 else self.failure[k] + a * (outcome - self.failure[k])
            self.flights[k] += 1

    def draw(self, rng: np.random.Generator, first: int, stop: int) -> int:
        """A course index in ``[first, stop)``: failure-weighted with probability ``share``, else uniform.

        Always takes two draws from ``rng`` (the choice, then the course), so the stream does not depend on scores.
        """
        replay = rng.random() < self.config.share
        u = rng.random()
        weights = self.failure[first:stop]
        total = float(weights.sum())
        if not replay or total <= 0.0:
            return first + min(int(u * (stop - first)), stop - first - 1)
        cumulative = np.cumsum(weights)
        return first + min(int(np.searchsorted(cumulative, u * total, side="right")), stop - first - 1)
