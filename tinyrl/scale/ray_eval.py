"""``tinyrl eval --backend ray``: one large evaluation split into shards that Ray runs on every CPU it has.

Episode ``j`` flies course ``j % len(courses)`` with the random stream ``seed + j`` wherever it runs, exactly as
:func:`tinyrl.common.evaluate.evaluate` does (which is batch independent), so the sharded report equals the local
one episode for episode. Shards generate their own slice of the unseen courses (course ``i`` depends only on
the generator seed and ``i``) and receive the policy as file bytes, so workers need no shared folder.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.progress import Progress

from tinyrl.common.episodes import check_obs_dim
from tinyrl.common.evaluate import Episode, EvalReport, check_randomize, eval_courses, evaluate, summarize
from tinyrl.common.policy import PolicyError
from tinyrl.compress.artefacts import FOLDER_ARTEFACTS, load_policy
from tinyrl.scale.cluster import ray_session
from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig

#: Fewest episodes worth a shard (each shard builds its own batched task).
MIN_SHARD_EPISODES = 25


def policy_file(path: str | Path) -> Path:
    """The artefact :func:`tinyrl.compress.artefacts.load_policy` would load for ``path`` (a folder or a file)."""
    path = Path(path)
    if path.is_dir():
        for name in FOLDER_ARTEFACTS:
            if (path / name).is_file():
                return path / name
        raise PolicyError(f"{path}: no policy artefact found (looked for {', '.join(FOLDER_ARTEFACTS)})")
    if not path.is_file():
        raise PolicyError(f"{path}: file not found")
    return path


def shard_bounds(episodes: int, shards: int) -> list[tuple[int, int]]:
    """Split ``range(episodes)`` into at most ``shards`` contiguous ``(start, stop)`` ranges of similar size."""
    shards = max(1, min(shards, episodes))
    size = math.ceil(episodes / shards)
    return [(a, min(a + size, episodes)) for a in range(0, episodes, size)]


def generated_courses(
    config: ScenarioConfig, start: int, stop: int, seed: int, difficulty: str | None = None
) -> list[Course]:
    """Unseen courses ``start..stop-1`` of :func:`tinyrl.common.evaluate.eval_courses` (same seed scheme)."""
    return eval_courses(config, stop - start, seed, difficulty, start=start)


def evaluate_shard(
    policy_name: str,
    policy_bytes: bytes,
    config: ScenarioConfig,
    courses: Sequence[Course] | None,
    start: int,
    stop: int,
    seed: int,
    batch: int,
    difficulty: str | None = None,
    randomize: bool = False,
) -> list[Episode]:
    """Episodes ``start..stop-1`` of an evaluation (run inside a Ray worker; see the module docstring)."""
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="tinyrl-eval-") as tmp:
        path = Path(tmp) / policy_name
        path.write_bytes(policy_bytes)
        policy = load_policy(path)
        if courses is None:
            mine = generated_courses(config, start, stop, seed, difficulty)
            n_courses = None
        else:
            k = start % len(courses)  # rotate so that local episode i flies course (start + i) % len
            mine = [*courses[k:], *courses[:k]]
            n_courses = len(courses)
        report = evaluate(policy, config, mine, stop - start, seed=seed + start, batch=batch, randomize=randomize)
    out = []
    for i, e in enumerate(report.episode_results):
        j = start + i
        out.append(
            Episode(j if n_courses is None else j % n_courses, e.seed, e.outcome, e.time_s, e.path_length_m, e.reward)
        )
    return out


def evaluate_on_ray(
    policy: str | Path,
    config: ScenarioConfig,
    courses: Sequence[Course] | None = None,
    episodes: int = 200,
    seed: int = 0,
    address: str | None = None,
    batch: int = 256,
    progress: bool = False,
    shards: int | None = None,
    difficulty: str | None = None,
    randomize: bool = False,
) -> EvalReport:
    """Like :func:`tinyrl.common.evaluate.evaluate`, sharded over a Ray cluster; returns the same report.

    Args:
        policy: Policy folder or artefact (read here and sent to the workers).
        config: The scenario.
        courses: Courses (episode ``j`` flies ``courses[j % len]``); ``episodes`` unseen generated ones if None.
        episodes: Number of episodes.
        seed: Base seed: episode ``j`` uses ``seed + j``.
        address: ``HOST:PORT`` of a Ray cluster; ``None`` starts a local instance for the evaluation.
        batch: Drones flown at once per shard.
        progress: Show a progress bar (episodes done as shards finish).
        shards: Number of shards; default two per cluster CPU, each of at least ``MIN_SHARD_EPISODES``.
        difficulty: Level of the generated courses, or ``mix`` (see :func:`tinyrl.common.evaluate.eval_courses`).
        randomize: The scenario's training domain randomization on.

    Raises:
        ConfigError: An unknown level, or ``randomize`` for a scenario without randomization (checked first).
        PolicyError: Unreadable policy, or one that does not fit the scenario (checked before sharding).
        ClusterError: ``address`` cannot be reached.
    """
    import ray

    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if courses is None:
        eval_courses(config, 0, seed, difficulty)  # an unknown level fails here, not in every worker
    if randomize:
        check_randomize(config)
    artefact = policy_file(policy)
    loaded = load_policy(artefact)  # fail here, not in every worker
    check_obs_dim(loaded, config)
    data = artefact.read_bytes()
    course_list = list(courses) if courses is not None else None
    with ray_session(address) as session:
        bounds = shard_bounds(episodes, shards or min(2 * session.cpus, max(1, episodes // MIN_SHARD_EPISODES)))
        remote: Any = ray.remote(num_cpus=1)(evaluate_shard)  # Ray's stubs type at most 7 arguments
        config_ref = ray.put(config)
        courses_ref = ray.put(course_list)
        args = (seed, batch, difficulty, randomize)
        pending = {remote.remote(artefact.name, data, config_ref, courses_ref, a, b, *args): (a, b) for a, b in bounds}
        done: dict[int, list[Episode]] = {}
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task(f"evaluating {episodes} episodes in {len(bounds)} shards", total=episodes)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                a, b = pending.pop(ready[0])
                done[a] = ray.get(ready[0])
                bar.advance(task, b - a)
    return summarize([e for a in sorted(done) for e in done[a]])
