"""``tinyrl sweep``: hyperparameter and seed sweeps with Ray Tune (Optuna search, ASHA early stopping).

Sweep folder (``OUT/NAME-YYYYmmdd-HHMMSS/``)::

    sweep.json                what was asked (env, space, trials, ...) and the scenario it started from
    ended.json                ids of the trials that finished or were stopped early (not merely interrupted)
    tune/                     Ray Tune's experiment state and checkpoints (``--resume`` continues from it)
    trials/TRIAL_ID/          one ordinary training run per trial (see :mod:`tinyrl.scale.trial`)
    results.csv, results.json one row per trial: config, status, success rate, wall time
    best_overrides.yaml       the best trial's values as a scenario override
    best_scenario.yaml        the scenario with them applied: ``tinyrl train --env .../best_scenario.yaml``
    success_vs_wall_time.png  validation success against wall time, one line per trial

Without ``--address`` a local Ray instance sized to this machine runs the trials; with it, the trials go to
that cluster. The code path is the same (:func:`tinyrl.scale.cluster.ray_session`).

``TINYRL_SWEEP_FAULT=ACTION@STEPS`` (inert unless set; the syntax of :mod:`tinyrl.train.faults`) makes the driver
fault itself once, right after Ray Tune has taken in a trial's checkpoint at ``STEPS`` or later, so tests know
exactly where the trial resumes: ``kill-trial@STEPS`` SIGKILLs that trial's worker process (Tune restarts the
trial from that checkpoint); ``sigint@STEPS`` interrupts the sweep as Ctrl-C would (``--resume`` continues it
from that checkpoint); ``sigterm@STEPS`` sends the driver SIGTERM, which stops the sweep the same way (``tinyrl
sweep`` then exits 143 instead of 130).

SIGTERM during the trials is a graceful stop, like Ctrl-C: Tune saves its state, the results so far are written,
and the Ray instance (local) or the trials (on a cluster) are stopped. A second SIGTERM stops at once.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from tinyrl import provenance
from tinyrl.errors import ConfigError, Terminated
from tinyrl.io import atomic_write_text
from tinyrl.processes import sigterm_calls
from tinyrl.scale import results
from tinyrl.scale.cluster import check_reachable, ray_session
from tinyrl.scale.space import SearchSpace, default_space_path, load_space
from tinyrl.scale.trial import TrialSetup, run_trial
from tinyrl.tasks.config import ScenarioConfig, load_scenario, scenario_from_data
from tinyrl.train.faults import Fault, interrupt, parse_fault

#: Trial restarts after a worker dies, before the trial counts as failed.
MAX_FAILURES = 3
#: Ids of the trials that ended (finished, stopped early or failed), kept across ``--resume``.
ENDED_FILE = "ended.json"
#: The driver's fault variable and actions (see the module docstring).
SWEEP_FAULT_VAR = "TINYRL_SWEEP_FAULT"
SWEEP_ACTIONS = ("kill-trial", "sigint", "sigterm")


@dataclass
class SweepOptions:
    """What ``tinyrl sweep`` accepts."""

    env: str = "obstacle-course"
    trials: int = 8
    space: Path | None = None
    """Search space YAML; default: ``sweeps/NAME.yaml`` beside the scenario (see :mod:`tinyrl.scale.space`)."""
    address: str | None = None
    """``HOST:PORT`` of a Ray cluster; ``None`` starts a local instance."""
    max_concurrent: int | None = None
    """Trials at once; default: one per CPU of the cluster."""
    out: Path = Path("runs/sweeps")
    resume: Path | None = None
    """Continue this sweep folder (after Ctrl-C or a crash of the driver)."""
    final_eval_episodes: int = 200
    """Episodes of each trial's final evaluation on unseen courses."""
    max_failures: int = MAX_FAILURES
    progress: bool = True


@dataclass
class SweepResult:
    """What a sweep produced."""

    sweep_dir: Path
    rows: list[dict[str, Any]]
    """One per trial (see :func:`tinyrl.scale.results.rows_from_grid`), best first."""
    complete: bool
    """False when the sweep was interrupted before every trial ended (continue it with ``--resume``)."""

    @property
    def recommended(self) -> dict[str, Any] | None:
        """The trial whose config ``best_scenario.yaml`` holds, or None when every trial failed."""
        return results.best_row(self.rows)


def run_sweep(options: SweepOptions, console: Console | None = None) -> SweepResult:
    """Run (or resume) a sweep and write its results; see the module docstring for the folder.

    Raises:
        ConfigError: Bad scenario, search space or options.
        ClusterError: ``--address`` cannot be reached.
    """
    console = console or Console()
    fault = parse_fault(SWEEP_FAULT_VAR, SWEEP_ACTIONS)  # before any folder is made
    if options.address is not None:
        check_reachable(options.address)
    if options.resume is not None:
        sweep_dir, base, space, options = _load_sweep(options.resume, options)
        # Tune's experiment state is pickled: checked before Ray starts (see tinyrl.provenance).
        provenance.check(provenance.pickles(sweep_dir / "tune"), sweep_dir)
    else:
        if options.trials < 1:
            raise ConfigError(f"--trials must be at least 1, got {options.trials}")
        base = load_scenario(options.env)
        space_path = options.space or default_space_path(options.env)
        space = load_space(space_path, base)
        sweep_dir = _new_sweep_dir(options.out, base.name)
        _save_sweep(sweep_dir, options, base, space, space_path)
    setup = TrialSetup(
        base=base,
        space=space,
        trials_dir=str((sweep_dir / "trials").resolve()),
        final_eval_episodes=options.final_eval_episodes,
    )
    with ray_session(options.address) as session:
        concurrent = min(options.max_concurrent or max(1, session.cpus), options.trials)
        where = options.address or f"a local Ray instance ({session.cpus} CPUs)"
        console.print(
            f"[bold]sweep {base.name}[/]: {options.trials} trials, {concurrent} at once on {where}, "
            f"{len(space.params)} parameter(s) → {sweep_dir}",
            soft_wrap=True,
        )
        grid = _fit(options, setup, sweep_dir, concurrent, console, fault)
        rows = results.rows_from_grid(grid, space, set(read_ended(sweep_dir / ENDED_FILE)))
    complete = len(rows) == options.trials and all(r["status"] in results.ENDED for r in rows)
    results.write_results(sweep_dir, rows, base, space)
    console.print(results.table(rows, title=f"{sweep_dir}: {len(rows)} trial(s)"))
    best = results.best_row(rows)
    if best is not None:
        console.print(f"best: trial {best['trial']} → {sweep_dir / 'best_scenario.yaml'}", soft_wrap=True)
    if not complete:
        console.print(f"sweep not complete; continue it with: tinyrl sweep --resume {sweep_dir}", soft_wrap=True)
    return SweepResult(sweep_dir, rows, complete)


def _fit(
    options: SweepOptions,
    setup: TrialSetup,
    sweep_dir: Path,
    concurrent: int,
    console: Console,
    fault: Fault | None,
) -> Any:
    # Our own progress bar and table replace Tune's console output and its automatic loggers.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    t = setup.base.train
    trainable = tune.with_resources(tune.with_parameters(run_trial, setup=setup), {"cpu": 1})
    progress = _SweepProgress(options.trials, t.steps, options.progress, console, sweep_dir / ENDED_FILE)
    run_config = tune.RunConfig(
        name="tune",
        storage_path=str(sweep_dir.resolve()),
        verbose=0,
        failure_config=tune.FailureConfig(max_failures=options.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        # CSV/JSON results only (no TensorBoard logger: it pulls in TensorFlow; trials keep their own tb/).
        callbacks=[progress.callback, JsonLoggerCallback(), CSVLoggerCallback()]
        + ([_fault_callback(fault)] if fault is not None else []),
    )
    experiment = sweep_dir / "tune"
    try:
        with progress, sigterm_calls(_stop_like_ctrl_c):
            if options.resume is not None and tune.Tuner.can_restore(str(experiment.resolve())):
                tuner = tune.Tuner.restore(
                    str(experiment.resolve()), trainable, resume_unfinished=True, resume_errored=True
                )
                # Tune restores the saved run config, whose callbacks were left out; give it the live ones again.
                internal = getattr(tuner, "_local_tuner", None)
                if internal is not None:
                    internal._run_config.callbacks = list(run_config.callbacks or [])
            else:
                tuner = _new_tuner(trainable, setup, options.trials, run_config, concurrent)
            return tuner.fit()
    finally:
        # Ray has stopped writing here: sign its pickles (a driver killed before this cannot be resumed untrusted).
        if experiment.is_dir():
            provenance.trust(experiment)


def _new_tuner(trainable: Any, setup: TrialSetup, trials: int, run_config: Any, concurrent: int) -> Any:
    """A fresh Tune run: Optuna's TPE sampler (seeded, ``first_trials`` first) under ASHA early stopping."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t = setup.base.train
    grace = min(setup.space.scheduler.grace_evaluations * t.eval_every_steps, t.steps)
    # stop_last_trials=False: a trial that reaches its step budget still runs its final evaluation.
    scheduler = ASHAScheduler(
        time_attr="steps",
        max_t=t.steps,
        grace_period=grace,
        reduction_factor=setup.space.scheduler.reduction_factor,
        stop_last_trials=False,
    )
    sampler = optuna.samplers.TPESampler(seed=setup.space.sampler_seed)
    first = setup.space.tune_first_trials() or None
    searcher = ConcurrencyLimiter(OptunaSearch(sampler=sampler, points_to_evaluate=first), max_concurrent=concurrent)
    return tune.Tuner(
        trainable,
        param_space=setup.space.tune_space(),
        tune_config=tune.TuneConfig(
            metric="success_rate",
            mode="max",
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=trials,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=run_config,
    )


def _stop_like_ctrl_c() -> None:
    """SIGTERM during ``tuner.fit``: what Ctrl-C does there (Tune's handler saves and stops), else ``Terminated``."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, None)
        return
    raise Terminated()


def read_ended(path: Path) -> list[str]:
    """Trial ids that finished or were stopped by the scheduler (``ended.json``; not those merely interrupted)."""
    return json.loads(path.read_text()) if path.is_file() else []


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)


def _fault_callback(fault: Fault) -> Any:
    """A Tune callback that does ``fault`` once, after Tune has recorded a trial checkpoint at ``fault.steps``+."""
    from ray import tune

    class _Fault(tune.Callback):
        def __init__(cb) -> None:  # noqa: N805
            cb.pending: Fault | None = fault

        # Called once the checkpoint is the trial's latest: a restart or --resume starts from it.
        def on_trial_save(cb, iteration: int, trials: list, trial: Any, **info: Any) -> None:  # noqa: N805
            if cb.pending is None or int(trial.last_result.get("steps", 0)) < cb.pending.steps:
                return
            action, cb.pending = cb.pending.action, None
            if action == "kill-trial":
                os.kill(int(trial.last_result["pid"]), signal.SIGKILL)
            elif action == "sigterm":
                signal.raise_signal(signal.SIGTERM)
            else:
                interrupt()

        def __reduce__(cb) -> tuple:  # noqa: N805
            # Tune saves its run config for --resume; a fault belongs to the process that was asked for it.
            return (tune.Callback, ())

    return _Fault()


class _SweepProgress:
    """A Tune callback that drives a rich progress bar (env steps over all trials, trials ended, best so far)."""

    def __init__(self, trials: int, steps: int, enabled: bool, console: Console, ended_file: Path) -> None:
        from ray import tune

        class _Callback(tune.Callback):
            def on_trial_result(cb, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:  # noqa: N805
                self.update(trial.trial_id, result)

            # Called when a trial finishes or the scheduler stops it, not when Ctrl-C interrupts the sweep.
            def on_trial_complete(cb, iteration: int, trials: list, trial: Any, **info: Any) -> None:  # noqa: N805
                self.end(trial.trial_id)

            def on_trial_error(cb, iteration: int, trials: list, trial: Any, **info: Any) -> None:  # noqa: N805
                self.end(trial.trial_id)

            def __reduce__(cb) -> tuple:  # noqa: N805
                # Tune saves its run config for --resume; the live bar stays out of that file.
                return (tune.Callback, ())

        self.callback = _Callback()
        self.trials, self.steps = trials, steps
        self.progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self.task = self.progress.add_task("sweep", total=trials * steps, info="")
        self.done: dict[str, int] = {}
        self.ended_file = ended_file
        self.ended: set[str] = set(read_ended(ended_file))
        self.best = -1.0

    def end(self, trial_id: str) -> None:
        self.ended.add(trial_id)
        atomic_write_text(self.ended_file, json.dumps(sorted(self.ended)) + "\n")
        self.update(trial_id, {})

    def update(self, trial_id: str, result: dict) -> None:
        if "steps" in result:
            self.done[trial_id] = int(result["steps"])
            self.best = max(self.best, float(result.get("success_rate", -1.0)))
        completed = sum(self.steps if t in self.ended else s for t, s in self.done.items())
        completed += sum(self.steps for t in self.ended if t not in self.done)
        best = f"{self.best:.1%}" if self.best >= 0 else "-"
        info = f"trials ended {len(self.ended)}/{self.trials}  best validation success {best}"
        self.progress.update(self.task, completed=completed, info=info)

    def __enter__(self) -> _SweepProgress:
        self.progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.progress.__exit__(exc_type, exc, traceback)


def _new_sweep_dir(out: Path, name: str) -> Path:
    base = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 1
    while path.exists():
        path, k = base.with_name(f"{base.name}-{k}"), k + 1
    path.mkdir(parents=True)
    return path


def _save_sweep(sweep_dir: Path, options: SweepOptions, base: ScenarioConfig, space: SearchSpace, path: Path) -> None:
    data = {
        "env": str(options.env),
        "space_file": str(path),
        "trials": options.trials,
        "max_concurrent": options.max_concurrent,
        "final_eval_episodes": options.final_eval_episodes,
        "max_failures": options.max_failures,
        "space": space.model_dump(mode="json"),
        "scenario": base.model_dump(mode="json"),
    }
    atomic_write_text(sweep_dir / "sweep.json", json.dumps(data, indent=2) + "\n")


def _load_sweep(sweep_dir: Path, options: SweepOptions) -> tuple[Path, ScenarioConfig, SearchSpace, SweepOptions]:
    from tinyrl.scale.space import parse_space

    sweep_dir = Path(sweep_dir)
    path = sweep_dir / "sweep.json"
    if not path.is_file():
        raise ConfigError(f"{sweep_dir}: not a sweep folder (no sweep.json)")
    data = json.loads(path.read_text())
    base = scenario_from_data(data["scenario"], str(path))
    space = parse_space(data["space"], str(path))
    resumed = SweepOptions(
        env=data["env"],
        trials=data["trials"],
        space=Path(data["space_file"]),
        address=options.address,
        max_concurrent=options.max_concurrent or data["max_concurrent"],
        out=sweep_dir.parent,
        resume=sweep_dir,
        final_eval_episodes=data["final_eval_episodes"],
        max_failures=data["max_failures"],
        progress=options.progress,
    )
    return sweep_dir, base, space, resumed
