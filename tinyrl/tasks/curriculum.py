"""Difficulty mix and curriculum of the training courses: which generator level each env slot flies, by progress.

A scenario's ``curriculum`` is a list of stages. Stage ``s`` applies from training progress ``stages[s].progress``
(the fraction of ``train.steps`` done, in [0, 1)) until the next stage starts; one stage is a fixed difficulty mix.
A stage's ``weights`` are each level's share of the env slots: slot ``k`` of ``n`` flies the level whose cumulative
share interval holds ``(k + 0.5) / n`` (levels in the order written). Shares are therefore exact to the nearest
slot, every rollout holds the same mix, and the assignment depends only on ``(stages, progress, n)``; the course a
slot flies within its level is drawn from the slot's own random stream, so runs stay deterministic per seed.
A slot moves to its new level at its next reset, never mid-episode.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from typing import Annotated

import pydantic

from tinyrl.config import StrictModel

ProgressFraction = Annotated[float, pydantic.Field(ge=0, lt=1, allow_inf_nan=False)]
Weight = Annotated[float, pydantic.Field(ge=0, allow_inf_nan=False)]


class CurriculumStage(StrictModel):
    """One stage: from ``progress`` on, env slots fly the generator levels in these shares."""

    progress: ProgressFraction
    """Fraction of ``train.steps`` done when this stage starts (the first stage starts at 0)."""
    weights: dict[str, Weight]
    """Generator level → relative share of the env slots (normalized; a zero share gets no slot)."""

    @pydantic.field_validator("weights")
    @classmethod
    def _check_weights(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or sum(value.values()) <= 0:
            raise ValueError("needs at least one level with a positive share")
        return value


def check_stages(stages: Sequence[CurriculumStage], levels: Sequence[str]) -> None:
    """Raise ``ValueError`` (one line) unless stages start at 0, rise strictly and name only ``levels``."""
    if not stages:
        raise ValueError("needs at least one stage")
    if stages[0].progress != 0:
        raise ValueError(f"the first stage must start at progress 0, not {stages[0].progress}")
    for before, after in itertools.pairwise(stages):
        if after.progress <= before.progress:
            raise ValueError(f"stage progress must rise strictly: {after.progress} follows {before.progress}")
    unknown = sorted({name for s in stages for name in s.weights} - set(levels))
    if unknown:
        raise ValueError(f"unknown difficulty {', '.join(unknown)}; the generator has {', '.join(levels)}")


def stage_at(stages: Sequence[CurriculumStage], progress: float) -> CurriculumStage:
    """The stage in effect at ``progress`` (fraction of training done; below 0 reads as 0, past 1 as the last)."""
    starts = [s.progress for s in stages]
    return stages[max(bisect.bisect_right(starts, progress) - 1, 0)]


def slot_levels(weights: Mapping[str, float], n: int) -> tuple[str, ...]:
    """Level of each of ``n`` slots: slot ``k`` takes the level whose cumulative share holds ``(k + 0.5) / n``."""
    names = [name for name, w in weights.items() if w > 0]
    total = sum(weights[name] for name in names)
    bounds, acc = [], 0.0
    for name in names:
        acc += weights[name] / total
        bounds.append(acc)
    bounds[-1] = float("inf")  # rounding must not leave the last slot without a level
    return tuple(names[bisect.bisect_right(bounds, (k + 0.5) / n)] for k in range(n))


def slot_difficulties(stages: Sequence[CurriculumStage], progress: float, n: int) -> tuple[str, ...]:
    """Level each of ``n`` env slots draws its next course from at training ``progress`` (a pure function)."""
    return slot_levels(stage_at(stages, progress).weights, n)


def curriculum_levels(stages: Sequence[CurriculumStage], order: Sequence[str]) -> tuple[str, ...]:
    """Levels any stage gives a positive share, in ``order`` (the generator's): the pools training needs."""
    used = {name for s in stages for name, w in s.weights.items() if w > 0}
    return tuple(name for name in order if name in used)
