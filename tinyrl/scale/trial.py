"""One sweep trial inside a Ray worker: an ordinary :func:`tinyrl.train.trainer.train` run, reported to Tune.

Trial folder (``SWEEP/trials/TRIAL_ID/``)::

    attempts.json   every start of the trial: process id, host, the step it started from
    train.log       what ``train`` printed
    run/            the run folder (config.yaml, state.json, checkpoints/, best/, metrics.json, ...)

Each validation evaluation is reported to Tune together with a checkpoint (the SB3 checkpoint of that step,
``state.json``, ``config.yaml`` and ``best/``). When a worker dies, Tune starts the trial again elsewhere with
that checkpoint: the run folder is rebuilt from it and training resumes where the checkpoint left off.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyrl import provenance
from tinyrl.io import atomic_write_text
from tinyrl.scale.space import SearchSpace, overrides
from tinyrl.tasks.config import ScenarioConfig

#: Files of a run folder that make up a Tune checkpoint (besides the SB3 checkpoint itself).
CHECKPOINT_FILES = ("config.yaml", "state.json", "best/teacher.npz")


@dataclass(frozen=True)
class TrialSetup:
    """Everything a trial needs, sent once to the cluster (no scenario files are read on workers)."""

    base: ScenarioConfig
    """The scenario before the trial's sampled values are applied."""
    space: SearchSpace
    trials_dir: str
    """``SWEEP/trials``: must be on storage every node sees when the cluster spans machines."""
    final_eval_episodes: int


def trial_dir(setup: TrialSetup, trial_id: str) -> Path:
    """``SWEEP/trials/TRIAL_ID``."""
    return Path(setup.trials_dir) / trial_id


def run_trial(sampled: dict[str, Any], setup: TrialSetup) -> None:
    """Tune function trainable: train the scenario with the sampled values, resuming from Tune's checkpoint.

    Reports ``steps``, ``success_rate`` (validation), ``collision_rate`` and ``wall_time_s`` (s) at each
    evaluation, and finally ``final_success_rate`` (unseen courses) with ``finished: True``.
    """
    from ray import tune
    from rich.console import Console

    from tinyrl.train.run import RunOptions
    from tinyrl.train.trainer import train

    folder = trial_dir(setup, tune.get_context().get_trial_id())
    run_dir = folder / "run"
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as saved:
            _restore_run(Path(saved), run_dir)
        options = RunOptions(resume=run_dir)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)  # a start that died before its first checkpoint
        # One learner per trial: the sweep itself compares the trials (a scenario's train.learners is for one run).
        trial = {"train.learners": 1, **setup.space.decode(sampled)}
        options = RunOptions(env=setup.base, overrides=overrides(trial), run_dir=run_dir)
    _record_attempt(folder, run_dir)
    options.progress = False
    options.final_eval_episodes = setup.final_eval_episodes
    options.on_evaluation = _report_evaluation
    with open(folder / "train.log", "a", encoding="utf-8") as log:
        train(options, Console(file=log, width=120))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    last = metrics["learning_curve"][-1] if metrics["learning_curve"] else {}
    tune.report(
        {
            "steps": metrics["steps"],
            "success_rate": last.get("success_rate", 0.0),
            "collision_rate": last.get("collision_rate", 0.0),
            "wall_time_s": metrics["wall_time_s"],
            "final_success_rate": metrics["evaluation"]["success_rate"],
            "final_episodes": metrics["evaluation"]["episodes"],
            "finished": True,
        }
    )


def _report_evaluation(run_dir: Path, entry: dict[str, Any], checkpoint: Path) -> None:
    from ray import tune

    from tinyrl.train.run import replay_path

    with tempfile.TemporaryDirectory(prefix="tinyrl-ckpt-") as tmp:
        saved = Path(tmp)
        (saved / "checkpoints").mkdir()
        for path in (checkpoint, replay_path(checkpoint)):
            for part in (path, provenance.signature_path(path)):  # the signature travels with its pickle
                if part.is_file():
                    shutil.copy2(part, saved / "checkpoints" / part.name)
        for name in CHECKPOINT_FILES:
            if (run_dir / name).is_file():
                (saved / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(run_dir / name, saved / name)
        metrics = {
            "steps": entry["steps"],
            "success_rate": entry["success_rate"],
            "collision_rate": entry["collision_rate"],
            "wall_time_s": entry["wall_time_s"],
            "finished": False,
        }
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def _restore_run(saved: Path, run_dir: Path) -> None:
    """Rebuild the run folder from a Tune checkpoint; later SB3 checkpoints of the dead attempt are dropped."""
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    shutil.rmtree(run_dir / "best", ignore_errors=True)
    (run_dir / "checkpoints").mkdir(parents=True)
    for path in (saved / "checkpoints").iterdir():
        shutil.copy2(path, run_dir / "checkpoints" / path.name)
    for name in CHECKPOINT_FILES:
        if (saved / name).is_file():
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(saved / name, run_dir / name)


def _record_attempt(folder: Path, run_dir: Path) -> None:
    from tinyrl.train.run import load_state

    path = folder / "attempts.json"
    attempts = json.loads(path.read_text()) if path.is_file() else []
    attempts.append(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "from_steps": load_state(run_dir).num_timesteps if run_dir.is_dir() else 0,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(attempts, indent=2) + "\n")
