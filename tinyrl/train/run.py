"""A training run folder: config, TensorBoard logs, checkpoints, best policy, metrics and plots; resumable.

The folder is ``runs/NAME/YYYYmmdd-HHMMSS/``; it survives a crash or Ctrl-C.

Run folder::

    config.yaml            effective scenario + training settings (flags applied)
    state.json             progress: steps, wall time, evaluations, latest checkpoint
    tb/                    TensorBoard logs
    checkpoints/step_*.zip the last few SB3 checkpoints (+ replay buffer for off-policy algorithms)
    best/teacher.npz       best policy by validation success rate (weights only; see tinyrl.common.policy)
    average/               with ``train.average_from``: the validation snapshots from that fraction of the steps
                           on (step_*.npz) and their mean (teacher.npz), the policy the run ships
    learners/K/            with ``train.learners`` > 1: learner K's own run folder; the run's teachers and
                           metrics are then those of the learner that flew best on the selection courses
    teacher.npz            the final policy
    metrics.json           final evaluation on unseen courses
    trajectories.png       top-down view of evaluation flights
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tinyrl import provenance
from tinyrl.common.policy import TEACHER_FILE
from tinyrl.config import read_data_file
from tinyrl.errors import ConfigError
from tinyrl.io import atomic_write_bytes, atomic_write_text, fsync_path
from tinyrl.tasks.config import ScenarioConfig, load_scenario, scenario_from_data
from tinyrl.tasks.features import observation_size
from tinyrl.train import algos

CHECKPOINT_RE = re.compile(r"step_(\d+)\.zip$")
#: Validation courses (for picking ``best/``) and final test courses come from different generator seeds.
VALIDATION_SEED = 2_000_000
#: The courses that pick among a run's learners (``train.learners``), again others.
SELECTION_SEED = 3_000_000
#: Folder of a run's averaged snapshots and their mean (``train.average_from``).
AVERAGE_DIR = "average"


@dataclass
class RunOptions:
    """What ``scripts/train.py`` / ``tinyrl train`` accept; ``None`` means the scenario's default."""

    env: str | ScenarioConfig = "obstacle-course"
    """Scenario name, YAML path, or an already loaded config (e.g. sent to a Ray worker)."""
    algo: str | None = None
    steps: int | None = None
    seed: int | None = None
    n_envs: int | None = None
    out: Path = Path("runs")
    resume: Path | None = None
    keep_checkpoints: int = 3
    final_eval_episodes: int = 200
    progress: bool = True
    overrides: dict[str, Any] | None = None
    """Nested values deep-merged into the scenario before the flags, e.g. a sweep trial's hyperparameters."""
    run_dir: Path | None = None
    """Use this (new or empty) folder instead of ``out/NAME/YYYYmmdd-HHMMSS``."""
    background_eval: bool = True
    """Run validation evaluations in a second process while training goes on (off: evaluate in place; always
    off with ``on_evaluation``)."""
    on_evaluation: Callable[[Path, dict[str, Any], Path], None] | None = None
    """Called after each validation evaluation with ``(run_dir, entry, checkpoint)``; a checkpoint at the same
    step is saved first, so a scheduler (Ray Tune) can report the metrics together with a resumable state."""


@dataclass
class RunState:
    """Persistent progress of a run (``state.json``)."""

    num_timesteps: int = 0
    wall_time_s: float = 0.0
    last_checkpoint: str | None = None
    best_success_rate: float = -1.0
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    commands: list[str] = field(default_factory=list)
    """Command lines that started and resumed the run."""
    learners: list[dict[str, Any]] = field(default_factory=list)
    """With ``train.learners`` > 1, once all are trained: each learner's seed, folder, steps, wall time, best
    validation and selection success, and whether the run kept it."""
    average: dict[str, Any] = field(default_factory=dict)
    """With ``train.average_from``, once the steps are done: ``from_steps``, the averaged ``snapshot_steps`` and the
    mean's ``validation_success_rate``."""


def effective_config(options: RunOptions) -> ScenarioConfig:
    """The scenario with the flags applied to its ``train`` section (``--algo``: see :func:`resolve_config`)."""
    return resolve_config(options)[0]


def resolve_config(options: RunOptions) -> tuple[ScenarioConfig, list[str]]:
    """The effective config, and the scenario settings that switching algorithm with ``--algo`` left out.

    ``--algo`` naming another algorithm than the scenario's keeps those of the scenario's ``train.hyperparameters``
    and ``train.policy_kwargs`` that the new algorithm takes with the same meaning, and leaves out the rest (e.g.
    PPO's ``n_steps``, a rollout, for SAC, whose ``n_steps`` is an n-step return; ``log_std_init`` for TD3's
    deterministic policy): they were set for the scenario's algorithm, and SB3 would refuse or misread them. The
    left-out names come back as ``train.hyperparameters.NAME`` / ``train.policy_kwargs.NAME``.

    Raises:
        ConfigError: A bad scenario or flag, or an algorithm that cannot drive the scenario's actions.
    """
    scenario = load_scenario(options.env, options.overrides or None)
    left_out: list[str] = []
    t = scenario.train
    if options.algo in algos.DEFAULTS and options.algo != t.algo:
        takes = {
            "hyperparameters": algos.carried_arguments(t.algo, options.algo),
            "policy_kwargs": algos.policy_arguments(options.algo),
        }
        kept: dict[str, Any] = {}
        for section, names in takes.items():
            values: dict[str, Any] = getattr(t, section)
            kept[section] = {k: v for k, v in values.items() if k in names}
            left_out += [f"train.{section}.{k}" for k in values if k not in names]
        if t.critic_features and options.algo != "ppo":  # only PPO's critic takes them
            kept["critic_features"] = ()
            left_out.append("train.critic_features")
        scenario = scenario.model_copy(update={"train": t.model_copy(update=kept)})
    flags = {
        k: v
        for k, v in {
            "algo": options.algo,
            "steps": options.steps,
            "seed": options.seed,
            "n_envs": options.n_envs,
        }.items()
        if v is not None
    }
    config = load_scenario(scenario, {"train": flags} if flags else None)
    algos.check_algo(config.train.algo, config.action.mode)
    algos.check_hyperparameters(config.train.algo, config.train.hyperparameters)
    return config, left_out


def new_run_dir(out: Path, name: str) -> Path:
    """``out/name/YYYYmmdd-HHMMSS`` (suffixed ``-1``, ``-2``, ... when other runs started in the same second)."""
    base = out / name / time.strftime("%Y%m%d-%H%M%S")
    base.parent.mkdir(parents=True, exist_ok=True)
    path, k = base, 1
    # mkdir is the claim: checking first and creating after would let two processes starting together (parallel
    # seeds, a user's second terminal) pick the same folder.
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            path, k = base.with_name(f"{base.name}-{k}"), k + 1


def save_state(run_dir: Path, state: RunState) -> None:
    """Write ``state.json`` atomically."""
    atomic_write_text(run_dir / "state.json", json.dumps(asdict(state), indent=2) + "\n")


def load_state(run_dir: Path) -> RunState:
    """Read ``state.json`` (a fresh state if there is none yet)."""
    path = run_dir / "state.json"
    if not path.is_file():
        return RunState()
    try:
        return RunState(**json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
        raise ConfigError(f"{path}: not a run's state ({type(exc).__name__}: {exc})") from None


def checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    found = [
        (int(m.group(1)), p)
        for p in (run_dir / "checkpoints").glob("step_*.zip")
        if (m := CHECKPOINT_RE.search(p.name))
    ]
    return [p for _, p in sorted(found)]


def checkpoint_steps(path: Path) -> int:
    """Env steps of a checkpoint file ``step_000000001024.zip`` (-1 if the name does not match)."""
    m = CHECKPOINT_RE.search(path.name)
    return int(m.group(1)) if m else -1


def save_checkpoint(model: Any, run_dir: Path, keep: int) -> Path:
    """Save the model (and an off-policy replay buffer) atomically, keeping only the last ``keep``."""
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{model.num_timesteps:012d}.zip"
    tmp = folder / f".{path.name}.tmp.zip"
    model.save(tmp)
    # Each pickle's signature lands before the pickle takes its name, so every named checkpoint is signed.
    if hasattr(model, "replay_buffer") and model.replay_buffer is not None:
        buffer_tmp = folder / ".replay_buffer.tmp.pkl"
        model.save_replay_buffer(buffer_tmp)
        fsync_path(buffer_tmp)
        provenance.sign(buffer_tmp, signed_as=replay_path(path))
        os.replace(buffer_tmp, replay_path(path))
    fsync_path(tmp)  # on disk before it takes the checkpoint's name: a power cut cannot leave a named, empty file
    provenance.sign(tmp, signed_as=path)
    os.replace(tmp, path)  # the checkpoint appears only once complete
    fsync_path(folder)
    for old in checkpoints(run_dir)[:-keep]:
        for stale in (old, replay_path(old)):
            stale.unlink(missing_ok=True)
            provenance.signature_path(stale).unlink(missing_ok=True)
    return path


def replay_path(checkpoint: Path) -> Path:
    """The replay buffer saved with an off-policy checkpoint (``step_N.replay.pkl`` beside ``step_N.zip``)."""
    return checkpoint.with_name(checkpoint.name.replace(".zip", ".replay.pkl"))


def write_config(run_dir: Path, config: ScenarioConfig) -> None:
    """Write the effective config as YAML (atomically)."""
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))


def read_config(run_dir: Path) -> ScenarioConfig:
    """Read a run's ``config.yaml``."""
    return scenario_from_data(read_data_file(run_dir / "config.yaml"), str(run_dir / "config.yaml"))


def best_teacher_path(run_dir: Path) -> Path:
    """Where the run keeps its best validated teacher (written when validation success beats the best so far)."""
    return run_dir / "best" / TEACHER_FILE


def average_teacher_path(run_dir: Path) -> Path:
    """Where a run with ``train.average_from`` keeps the mean of its last snapshots (:mod:`tinyrl.train.averaging`)."""
    return run_dir / AVERAGE_DIR / TEACHER_FILE


def shipped_teacher(run_dir: Path) -> Path:
    """The teacher a run ships: its snapshots' mean if it averages, else its best validated one, else the final one."""
    for path in (average_teacher_path(run_dir), best_teacher_path(run_dir)):
        if path.is_file():
            return path
    return run_dir / TEACHER_FILE


def make_model(config: ScenarioConfig, env: Any, run_dir: Path) -> Any:
    """A fresh SB3 model for the scenario's training settings."""
    import torch

    from tinyrl.train.asymmetric import AsymmetricActorCriticPolicy

    t = config.train
    kwargs = algos.resolve_schedules({**algos.DEFAULTS[t.algo], **t.hyperparameters})
    policy_kwargs = {"net_arch": list(t.net_arch), "activation_fn": torch.nn.ReLU, **t.policy_kwargs}
    policy: Any = "MlpPolicy"
    if t.critic_features:  # env was made with critic_inputs: the critic's columns follow the observation
        policy = AsymmetricActorCriticPolicy
        policy_kwargs["actor_inputs"] = observation_size(config)
    return algos.algo_class(t.algo)(
        policy,
        env,
        policy_kwargs=policy_kwargs,
        seed=t.seed,
        device="cpu",
        tensorboard_log=str(run_dir / "tb"),
        verbose=0,
        **kwargs,
    )


def plot_evaluation(run_dir: Path, config: ScenarioConfig, report: Any, courses: list, name: str) -> None:
    """Top-down views of the first recorded evaluation flights."""
    from tinyrl.common.plots import plot_flights

    flights = [
        (courses[e.course], report.trajectories[j], e.outcome)
        for j, e in enumerate(report.episode_results)
        if j in report.trajectories
    ]
    if flights:
        atomic_write_bytes(run_dir / name, plot_flights(flights))


def json_bytes(data: Any) -> bytes:
    """Pretty JSON bytes."""
    return (json.dumps(data, indent=2, default=_json_default) + "\n").encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value)}")


def learner_seed(seed: int, learner: int) -> int:
    """The seed of a run's learner ``learner``: the run's own for the first, derived from it for the others.

    Derived, not ``seed + learner``, so the learners of seed 0 are not those of seed 1.
    """
    if learner == 0:
        return seed
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, learner]).generate_state(1)[0] % 2**31)


def learner_dir(run_dir: Path, learner: int) -> Path:
    """Learner ``learner``'s run folder inside a run of several learners."""
    return run_dir / "learners" / str(learner)


def learner_config(config: ScenarioConfig, learner: int) -> ScenarioConfig:
    """The config learner ``learner`` of a run trains with: one learner, its own seed."""
    t = config.train
    update = {"learners": 1, "seed": learner_seed(t.seed, learner)}
    return config.model_copy(update={"train": t.model_copy(update=update)})


def resume_dir(path: Path) -> Path:
    """Validate ``--resume RUN_DIR``."""
    if not (path / "config.yaml").is_file():
        raise ConfigError(f"{path}: not a run folder (no config.yaml)")
    return path
