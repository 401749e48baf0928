"""Settings of DAgger distillation (:mod:`tinyrl.compress.distill`).

A module of their own, so ``tinyrl distill``'s flags take their defaults from here without loading the simulator
or TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DistillOptions:
    """Settings of :func:`tinyrl.compress.distill.distill` (``tinyrl distill`` flags and their defaults)."""

    arch: tuple[int, ...] = (32, 32)
    """Hidden widths of the student (ReLU). 16→32→32→4 is 1,764 parameters: ~1.9 KB as int8 + int32 biases."""
    iterations: int = 20
    """DAgger iterations; iteration 0 is behaviour cloning on teacher rollouts. More of the student's own states
    kept lifting it on the obstacle course's hard courses (6: 78.5 %, 12: 81.0 %, 20: 82.5 %; teacher 84.5 %)."""
    n_drones: int = 128
    """Drones simulated at once in the rollouts."""
    steps_per_iteration: int = 25_600
    """Env steps (summed over drones) collected per iteration."""
    beta: float = 0.5
    """Iteration ``i >= 1`` takes the teacher's action with probability ``beta ** i`` (0: pure student)."""
    epochs: int = 10
    """Passes over the aggregated dataset per iteration."""
    batch_size: int = 256
    learning_rate: float = 1e-3
    """Adam learning rate."""
    eval_episodes: int = 50
    """Closed-loop episodes on unseen courses after each iteration (0: skip)."""
    seed: int = 0
    progress: bool = True
    """Show a progress bar (rich)."""
