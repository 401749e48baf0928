"""Distillation: train a small student MLP to imitate the teacher with DAgger on the batched simulator.

DAgger (Ross et al., 2011): iteration 0 flies the teacher and records ``(observation, teacher action)``; every later
iteration ``i`` flies the *student* — mixed with the teacher: each drone, each step, takes the teacher's action with
probability ``beta ** i`` — while the teacher labels every observation the drones visit. The dataset aggregates over
iterations and the student is refit on all of it after each iteration (warm start, MSE on continuous actions,
cross-entropy on discrete ones). So the student learns what the teacher would do in the states the *student*
reaches, not only in the teacher's.

Rollouts use many drones with domain randomization on and the scenario's training course pool; each drone's episode
runs on across iterations (see :class:`RolloutCollector`), so the data covers whole episodes. The per-iteration
closed-loop success is measured on unseen evaluation courses (domain randomization off, as ``tinyrl eval``).
Everything is seeded: the same seed gives the same dataset and bit-identical student weights.

Output folder::

    student.keras      the float student (ReLU hidden, linear output layer ``head_clip`` or ``head_argmax``)
    distill.json       settings, dataset size, per-iteration loss, agreement and success
    calibration.npz    the aggregated observations (+ teacher actions, iteration), the quantizer's calibration set
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyrl.common.policy import Head, Policy, PolicyError
from tinyrl.common.tensorflow_env import quiet_tensorflow
from tinyrl.compress.options import DistillOptions
from tinyrl.io import atomic_write_bytes, atomic_write_text
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.tasks.core import BatchedTask

if TYPE_CHECKING:
    import keras

    from tinyrl.sim.course import Course

__all__ = [
    "DistillOptions",
    "DistillResult",
    "RolloutCollector",
    "action_agreement",
    "check_policy_fits",
    "collect_rollouts",
    "distill",
    "load_calibration",
    "save_calibration",
    "write_distill_outputs",
]

#: Episode seeds of distillation rollouts: ``seed * SEED_STRIDE + episode counter`` (disjoint per seed).
SEED_STRIDE = 10_000_000
#: Continuous actions "agree" when they are within this of the teacher's (actions live in [-1, 1]).
AGREEMENT_TOLERANCE = 0.05


@dataclass
class DistillResult:
    """What :func:`distill` returns."""

    model: keras.Model
    head: Head
    observations: np.ndarray  # (N, obs_dim) float32, the aggregated dataset
    actions: np.ndarray  # (N, 4) float32 or (N,) int64 teacher labels
    iteration_of: np.ndarray  # (N,) int16: the iteration that collected each row
    history: list[dict[str, Any]] = field(default_factory=list)
    teacher_success: float | None = None


# ---------------------------------------------------------------------------------------------------------------------
# Rollouts.
# ---------------------------------------------------------------------------------------------------------------------


def _check_actions(actions: np.ndarray, discrete: bool, n: int, who: str) -> None:
    a = np.asarray(actions)
    if discrete and a.shape != (n,):
        raise PolicyError(f"the scenario has discrete actions but the {who} returns actions of shape {a.shape[1:]}")
    if not discrete and a.shape != (n, 4):
        raise PolicyError(f"the scenario has 4 continuous actions but the {who} returns shape {a.shape[1:]}")


def check_policy_fits(policy: Policy, config: ScenarioConfig, who: str = "policy") -> None:
    """Check a policy's observation width and action shape against the scenario (one probe on zeros).

    Raises:
        PolicyError: The policy takes another observation width, or returns continuous actions for a discrete
            scenario (or the other way round).
    """
    from tinyrl.tasks.features import observation_size

    obs_dim = observation_size(config)
    if policy.obs_dim != obs_dim:
        raise PolicyError(f"the {who} takes {policy.obs_dim} observations but {config.name} gives {obs_dim}")
    _check_actions(
        np.asarray(policy.act(np.zeros((2, obs_dim), dtype=np.float32))), config.action.mode == "discrete", 2, who
    )


class RolloutCollector:
    """Drones that keep flying between calls: episodes run on across :meth:`collect` calls (and actor changes).

    DAgger collects a few hundred steps per drone per iteration, fewer than an obstacle-course episode; restarting
    every drone at each iteration would only ever record the first seconds of flight. Here each drone continues its
    episode, so the data covers whole episodes. Episode ``k`` (counted over the collector's life) uses the random
    stream ``seed + k``.

    Args:
        config: The scenario.
        n_drones: Drones simulated at once.
        seed: Seed of the episode streams and of the beta mixing.
        randomize: Domain randomization (on for distillation data).
        courses: Courses to fly; the scenario's training pool (with a ``curriculum``, its last stage's mix) if None.
    """

    def __init__(
        self,
        config: ScenarioConfig,
        n_drones: int = 128,
        *,
        seed: int = 0,
        randomize: bool = True,
        courses: Sequence[Course] | None = None,
    ) -> None:
        self.task = BatchedTask(config, max(1, n_drones), courses, randomize=randomize)
        # With a curriculum, the student learns on the mix the teacher finished on (its last stage).
        self.task.set_progress(1.0)
        self.config, self.n, self.seed = config, self.task.n, seed
        self.rng = np.random.default_rng([seed, 1])
        self.episodes_started = 0
        self.obs = self._start(np.arange(self.n))

    def _start(self, slots: np.ndarray) -> np.ndarray:
        k = self.episodes_started
        self.task.seed_slots(slots.tolist(), [self.seed + k + i for i in range(len(slots))])
        self.episodes_started += len(slots)
        return self.task.reset_slots(slots)

    def collect(
        self, steps: int, actor: Policy, labeler: Policy | None = None, beta: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray | None, dict[str, int]]:
        """Fly ``actor`` (mixed with ``labeler``) for ``steps`` env steps and record what the drones observe.

        Args:
            steps: Env steps to record in total (rounded up to a multiple of the drone count, then cut).
            actor: The policy that flies.
            labeler: Labels every observation (the teacher); None records observations only.
            beta: Probability, per drone and step, of flying the labeler's action instead of the actor's.

        Returns:
            ``(observations (S, obs_dim) float32, labels (S, 4) float32 or (S,) int64 or None, stats)``; ``stats``
            counts the ``episodes`` that ended during the call and their ``successes``.

        Raises:
            PolicyError: The actor's or labeler's observation or action size does not fit the scenario.
        """
        task, n = self.task, self.n
        for who, policy in (("policy", actor), ("teacher", labeler)):
            if policy is not None and policy.obs_dim != task.obs_dim:
                raise PolicyError(
                    f"the {who} takes {policy.obs_dim} observations but {self.config.name} gives {task.obs_dim}"
                )
        n_steps = -(-steps // n)
        obs_buf = np.empty((n_steps, n, task.obs_dim), dtype=np.float32)
        label_buf: np.ndarray | None = None
        stats = {"episodes": 0, "successes": 0}
        obs = self.obs
        for t in range(n_steps):
            obs_buf[t] = obs
            acted = np.asarray(actor.act(obs))
            if t == 0:
                _check_actions(acted, task.discrete, n, "policy")
            if labeler is not None:
                labels = np.asarray(labeler.act(obs))
                if t == 0:
                    _check_actions(labels, task.discrete, n, "teacher")
                    label_buf = np.empty((n_steps, *labels.shape), dtype=np.int64 if task.discrete else np.float32)
                assert label_buf is not None
                label_buf[t] = labels
                if beta > 0:
                    mix = self.rng.random(n) < beta
                    acted = np.where(mix if task.discrete else mix[:, None], labels, acted)
            result = task.step(acted)
            obs = result.obs.copy()
            done = np.flatnonzero(result.terminated | result.truncated)
            stats["episodes"] += len(done)
            stats["successes"] += int(result.is_success[done].sum())
            if len(done):
                obs[done] = self._start(done)
        self.obs = obs
        observations = obs_buf.reshape(-1, task.obs_dim)[:steps]
        labels_out = None if label_buf is None else label_buf.reshape(-1, *label_buf.shape[2:])[:steps]
        return observations, labels_out, stats

    def close(self) -> None:
        """Release the simulator."""
        self.task.close()

    def __enter__(self) -> RolloutCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def collect_rollouts(
    config: ScenarioConfig,
    steps: int,
    *,
    actor: Policy,
    labeler: Policy | None = None,
    beta: float = 0.0,
    n_drones: int = 128,
    seed: int = 0,
    randomize: bool = True,
    courses: Sequence[Course] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, dict[str, int]]:
    """One-shot :meth:`RolloutCollector.collect` from fresh episodes (at most ``steps`` drones).

    Args:
        config: The scenario.
        steps: Env steps to record in total.
        actor: The policy that flies.
        labeler: Labels every observation (the teacher); None records observations only.
        beta: Probability, per drone and step, of flying the labeler's action instead of the actor's.
        n_drones: Drones simulated at once.
        seed: Seed of the episode streams and of the beta mixing.
        randomize: Domain randomization.
        courses: Courses to fly; the scenario's training pool if None.

    Returns:
        See :meth:`RolloutCollector.collect`.
    """
    collector = RolloutCollector(config, min(n_drones, steps), seed=seed, randomize=randomize, courses=courses)
    try:
        return collector.collect(steps, actor, labeler, beta)
    finally:
        collector.close()


def action_agreement(student: np.ndarray, teacher: np.ndarray, discrete: bool) -> dict[str, float]:
    """How closely actions agree with the teacher's on the same observations.

    Args:
        student: Actions ``(S, 4)`` in [-1, 1], or ``(S,)`` discrete indices.
        teacher: The teacher's actions, same shape.
        discrete: Discrete indices (compare exactly) or continuous actions.

    Returns:
        Discrete: ``{"same_action": fraction}``. Continuous: ``{"within_0.05": fraction of action components within
        0.05, "mean_abs_diff": mean |Δ| over components, "max_abs_diff": largest |Δ|}``.
    """
    s, t = np.asarray(student), np.asarray(teacher)
    if s.shape != t.shape:
        raise ValueError(f"student actions {s.shape} and teacher actions {t.shape} differ in shape")
    if discrete:
        return {"same_action": float(np.mean(s == t))}
    diff = np.abs(s.astype(np.float64) - t.astype(np.float64))
    return {
        f"within_{AGREEMENT_TOLERANCE:g}": float(np.mean(diff <= AGREEMENT_TOLERANCE + 1e-9)),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_diff": float(diff.max(initial=0.0)),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Training.
# ---------------------------------------------------------------------------------------------------------------------


def _compile(model: keras.Model, discrete: bool, learning_rate: float) -> None:
    import keras

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True) if discrete else keras.losses.MeanSquaredError()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, jit_compile=False)


def _fit(
    model: keras.Model, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, rng: np.random.Generator
) -> float:
    """``epochs`` passes in a seeded NumPy order (Keras' own shuffle would draw from TF's stateful RNG)."""
    loss = float("nan")
    for _ in range(epochs):
        perm = rng.permutation(len(x))
        history = model.fit(x[perm], y[perm], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        loss = float(history.history["loss"][-1])
    return loss


def distill(
    config: ScenarioConfig,
    teacher: Policy,
    options: DistillOptions | None = None,
    on_iteration: Callable[[dict[str, Any]], None] | None = None,
) -> DistillResult:
    """Distil ``teacher`` into a small Keras student with DAgger (see the module docstring).

    Args:
        config: The scenario (domain randomization is forced on for the rollouts).
        teacher: The policy to imitate; its observation and action sizes must fit the scenario.
        options: Settings; defaults if None.
        on_iteration: Called with each iteration's history entry (e.g. to print progress).

    Returns:
        The student, its head, the aggregated dataset and the per-iteration history.

    Raises:
        PolicyError: The teacher does not fit the scenario, or the settings are invalid.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tinyrl.common.evaluate import evaluate
    from tinyrl.compress.student import build_student, configure_determinism, student_to_mlp
    from tinyrl.tasks.features import observation_size

    opt = options or DistillOptions()
    if opt.iterations < 1 or opt.steps_per_iteration < 1 or opt.epochs < 1 or opt.batch_size < 1:
        raise PolicyError("iterations, steps_per_iteration, epochs and batch_size must be at least 1")
    if not 0.0 <= opt.beta <= 1.0:
        raise PolicyError(f"beta must lie in [0, 1], got {opt.beta}")
    check_policy_fits(teacher, config, "teacher")
    obs_dim = observation_size(config)
    discrete = config.action.mode == "discrete"
    head: Head = "argmax" if discrete else "clip"
    out_dim = len(config.action.discrete_actions) if discrete else 4
    randomized = config.model_copy(update={"randomization": config.randomization.model_copy(update={"enabled": True})})

    configure_determinism(opt.seed)
    model = build_student(obs_dim, out_dim, opt.arch, head, seed=opt.seed)
    _compile(model, discrete, opt.learning_rate)
    shuffle_rng = np.random.default_rng([opt.seed, 2])

    teacher_success = None
    if opt.eval_episodes:
        teacher_success = evaluate(teacher, config, None, opt.eval_episodes, seed=opt.seed).success_rate
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    its: list[np.ndarray] = []
    history: list[dict[str, Any]] = []
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), TimeElapsedColumn())
    collector = RolloutCollector(randomized, opt.n_drones, seed=opt.seed * SEED_STRIDE)
    with collector, Progress(*columns, disable=not opt.progress, transient=True) as bar:
        task_id = bar.add_task("distilling", total=opt.iterations)
        for it in range(opt.iterations):
            t0 = time.perf_counter()
            beta = 1.0 if it == 0 else opt.beta**it
            actor = teacher if it == 0 else student_to_mlp(model)
            obs, labels, stats = collector.collect(opt.steps_per_iteration, actor, teacher, 0.0 if it == 0 else beta)
            assert labels is not None
            entry: dict[str, Any] = {"iteration": it, "beta": beta, "new_samples": len(obs)}
            if it > 0:  # how the current student does in the states it reaches itself
                entry["agreement_before_fit"] = action_agreement(actor.act(obs), labels, discrete)
            xs.append(obs)
            ys.append(labels)
            its.append(np.full(len(obs), it, dtype=np.int16))
            x, y = np.concatenate(xs), np.concatenate(ys)
            entry["dataset_size"] = len(x)
            entry["rollout_success_rate"] = stats["successes"] / stats["episodes"] if stats["episodes"] else None
            entry["loss"] = _fit(model, x, y, opt.epochs, opt.batch_size, shuffle_rng)
            student = student_to_mlp(model)
            if opt.eval_episodes:
                report = evaluate(student, config, None, opt.eval_episodes, seed=opt.seed)
                entry["success_rate"] = report.success_rate
            entry["seconds"] = round(time.perf_counter() - t0, 2)
            history.append(entry)
            if on_iteration is not None:
                on_iteration(entry)
            success = entry.get("success_rate")
            bar.update(
                task_id,
                advance=1,
                description=f"DAgger iteration {it + 1}/{opt.iterations}: {len(x):,} samples, loss {entry['loss']:.4f}"
                + ("" if success is None else f", student success {success:.0%}"),
            )
    return DistillResult(
        model=model,
        head=head,
        observations=np.concatenate(xs),
        actions=np.concatenate(ys),
        iteration_of=np.concatenate(its),
        history=history,
        teacher_success=teacher_success,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Artefacts.
# ---------------------------------------------------------------------------------------------------------------------


def save_calibration(
    path: str | Path, observations: np.ndarray, actions: np.ndarray | None = None, iteration: np.ndarray | None = None
) -> Path:
    """Write the calibration set as ``.npz`` (plain numeric arrays, no pickle), atomically.

    Args:
        path: Destination.
        observations: ``(N, obs_dim)`` float observations.
        actions: The teacher's actions for them, ``(N, 4)`` or ``(N,)`` (optional; quantization-aware fine-tuning
            uses them as targets).
        iteration: ``(N,)`` DAgger iteration of each row (optional).
    """
    arrays: dict[str, Any] = {"observations": np.asarray(observations, dtype=np.float32)}
    if actions is not None:
        arrays["teacher_actions"] = np.asarray(actions)
    if iteration is not None:
        arrays["iteration"] = np.asarray(iteration, dtype=np.int16)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def load_calibration(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read ``(observations (N, obs_dim) float32, teacher actions or None)`` from a calibration ``.npz``.

    Raises:
        PolicyError: Missing file, not an ``.npz``, or no ``observations`` array.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            obs = np.asarray(data["observations"], dtype=np.float32)
            actions = np.asarray(data["teacher_actions"]) if "teacher_actions" in data.files else None
    except FileNotFoundError:
        raise PolicyError(f"{path}: calibration file not found") from None
    except (OSError, ValueError, KeyError) as exc:
        raise PolicyError(f"{path}: not a calibration .npz with an 'observations' array ({exc})") from None
    if obs.ndim != 2 or not len(obs):
        raise PolicyError(f"{path}: observations must be a non-empty (N, obs_dim) array, got {obs.shape}")
    return obs, actions


def write_distill_outputs(
    result: DistillResult, out_dir: str | Path, options: DistillOptions, info: dict[str, Any]
) -> dict[str, Any]:
    """Write ``student.keras``, ``distill.json`` and ``calibration.npz`` into ``out_dir``.

    Args:
        result: What :func:`distill` returned.
        out_dir: Output folder (created).
        options: The settings used.
        info: Extra entries for ``distill.json`` (e.g. ``env``, ``teacher``).

    Returns:
        The ``distill.json`` contents.
    """
    from tinyrl.compress.student import STUDENT_FILE, save_student, student_to_mlp

    quiet_tensorflow()
    import tensorflow as tf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_student(result.model, out / STUDENT_FILE)
    save_calibration(out / "calibration.npz", result.observations, result.actions, result.iteration_of)
    mlp = student_to_mlp(result.model)
    summary: dict[str, Any] = {
        **info,
        "arch": list(options.arch),
        "layer_sizes": mlp.layer_sizes,
        "parameters": mlp.n_parameters,
        "head": result.head,
        "iterations": options.iterations,
        "dataset_size": len(result.observations),
        "seed": options.seed,
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(options).items()},
        "teacher_success_rate": result.teacher_success,
        "success_rate": result.history[-1].get("success_rate") if result.history else None,
        "per_iteration": result.history,
        "tensorflow": tf.__version__,
    }
    atomic_write_text(out / "distill.json", json.dumps(summary, indent=2) + "\n")
    return summary
