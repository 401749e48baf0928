"""Gymnasium tasks: hover, obstacle course and source seeking, single and batched.

Importing :mod:`tinyrl` registers ``tinyrl/Hover-v0``, ``tinyrl/ObstacleCourse-v0`` and
``tinyrl/SourceSeeking-v0``; each is made from its ``envs/NAME.yaml`` (pass ``config=`` to use another).
"""

from __future__ import annotations

import gymnasium as gym

#: Gymnasium id → scenario name (``envs/NAME.yaml``). Bump ``-vN`` when dynamics or reward change.
GYM_IDS = {
    "tinyrl/Hover-v0": "hover",
    "tinyrl/ObstacleCourse-v0": "obstacle-course",
    "tinyrl/SourceSeeking-v0": "source-seeking",
}


def register_envs() -> None:
    """Register the Gymnasium ids (idempotent)."""
    for gym_id, scenario in GYM_IDS.items():
        if gym_id not in gym.registry:
            gym.register(id=gym_id, entry_point="tinyrl.tasks.env:TinyRLEnv", kwargs={"config": scenario})
