"""``train()``: the main job. Builds the batched env and the SB3 model, watches the run, evaluates, saves."""

from __future__ import annotations

import collections
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from tinyrl import provenance
from tinyrl.common.evaluate import EvalReport, eval_courses, evaluate
from tinyrl.common.policy import TEACHER_FILE, MlpPolicy
from tinyrl.errors import ConfigError
from tinyrl.processes import sigterm_as_interrupt
from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.train import averaging, faults
from tinyrl.train import run as runs
from tinyrl.train.algos import argmax_offsets, mlp_from_sb3
from tinyrl.train.background import BackgroundEvaluator, Evaluator, InlineEvaluator, Snapshot


class _Monitor:
    """Bookkeeping shared by the SB3 callback: rolling episode stats, checkpoints, evaluations, progress."""

    def __init__(
        self,
        config: ScenarioConfig,
        run_dir: Path,
        state: runs.RunState,
        total_steps: int,
        keep_checkpoints: int,
        progress: Progress,
        evaluator: Evaluator,
        fault: faults.Fault | None = None,
        label: str = "training",
    ) -> None:
        self.config, self.run_dir, self.state = config, run_dir, state
        self.offsets = argmax_offsets(config)  # part of every policy validated and shipped
        self.total_steps, self.keep = total_steps, keep_checkpoints
        self.progress = progress
        self.bar = progress.add_task(
            label, total=total_steps, completed=state.num_timesteps, succ="-", rew="-", sps="-"
        )
        self.successes: collections.deque[bool] = collections.deque(maxlen=256)
        self.returns: collections.deque[float] = collections.deque(maxlen=256)
        self.episode_return = np.zeros(config.train.n_envs)
        self.started = time.perf_counter()
        self.start_steps = state.num_timesteps
        self.wall_before_s = state.wall_time_s
        t = config.train
        self.next_checkpoint = (state.num_timesteps // t.checkpoint_every_steps + 1) * t.checkpoint_every_steps
        self.next_eval = (state.num_timesteps // t.eval_every_steps + 1) * t.eval_every_steps
        self.evaluator = evaluator
        self.average_from = averaging.average_from_steps(config)
        self.last_submitted: int | None = None
        self.checkpoint_due = self.submit_due = False
        self.last_bar_update = 0.0
        self.on_evaluation: Any = None
        # A run resumed at or past the fault's step is left alone, so the variable may stay set for it.
        pending = fault is not None and fault.action in faults.STEP_ACTIONS and fault.steps > state.num_timesteps
        self.fault = fault if pending else None

    def wall_time_s(self) -> float:
        return self.wall_before_s + time.perf_counter() - self.started

    def steps_per_s(self, steps: int) -> float:
        return (steps - self.start_steps) / max(time.perf_counter() - self.started, 1e-9)

    def on_step(self, model: Any, rewards: np.ndarray, dones: np.ndarray, infos: list[dict]) -> None:
        self.episode_return += rewards
        for i in np.flatnonzero(dones):
            self.successes.append(bool(infos[i].get("is_success", False)))
            self.returns.append(float(self.episode_return[i]))
            self.episode_return[i] = 0.0
        steps = model.num_timesteps
        # While an overlapped update runs, the model's weights are moving: save and copy them at the rollout's end.
        now_settles = not getattr(model, "overlap_update", False)
        if steps >= self.next_checkpoint:
            self.next_checkpoint += self.config.train.checkpoint_every_steps
            self.checkpoint_due = True
        if steps >= self.next_eval:
            self.next_eval += self.config.train.eval_every_steps
            self.submit_due = True
        if now_settles:
            self.write_due_checkpoint(model)  # before a fault at this step: "kill@N" dies right after N's checkpoint
        if self.fault is not None and steps >= self.fault.steps:
            fault, self.fault = self.fault, None
            faults.fire_signal_fault(fault)
        if now_settles:
            self.settle(model)
        now = time.perf_counter()
        if now - self.last_bar_update > 0.25:
            self.last_bar_update = now
            self.progress.update(self.bar, completed=steps, **self.fields(steps))

    def write_due_checkpoint(self, model: Any) -> None:
        """Write the checkpoint the steps made due, if any (after the averaged snapshot of the same step)."""
        if self.checkpoint_due:
            self.checkpoint_due = False
            if self.submit_due:
                self.keep_snapshot(model)
            self.checkpoint(model)

    def keep_snapshot(self, model: Any, policy: MlpPolicy | None = None) -> None:
        """Keep a validation snapshot the run's mean takes in (``train.average_from``).

        ``policy`` is the model's actor when the caller has already converted it.
        """
        if self.average_from is not None and model.num_timesteps >= self.average_from:
            policy = policy if policy is not None else mlp_from_sb3(model, self.offsets)
            averaging.keep_snapshot(self.run_dir, model.num_timesteps, policy)

    def settle(self, model: Any) -> None:
        """Write the checkpoint and hand over the snapshot that are due, and record the reports that are back."""
        self.write_due_checkpoint(model)
        if self.submit_due:
            self.submit_due = False
            self.submit(model)
        for snapshot, report in self.evaluator.ready():
            self.record_evaluation(model, snapshot, report)

    def on_rollout_end(self, model: Any) -> None:
        """Settle what the rollout's steps left due; log the rollout's statistics."""
        self.settle(model)
        self.record(model)

    def fields(self, steps: int) -> dict[str, Any]:
        succ = f"{np.mean(self.successes):5.1%}" if self.successes else "  -  "
        rew = f"{np.mean(self.returns):7.2f}" if self.returns else "   -   "
        return {"succ": succ, "rew": rew, "sps": f"{self.steps_per_s(steps):6.0f}"}

    def record(self, model: Any) -> None:
        if self.successes:
            model.logger.record("rollout/success_rate", float(np.mean(self.successes)))
        model.logger.record("time/env_steps_per_s", self.steps_per_s(model.num_timesteps))

    def checkpoint(self, model: Any) -> Path:
        path = runs.save_checkpoint(model, self.run_dir, self.keep)
        self.state.num_timesteps = model.num_timesteps
        self.state.wall_time_s = self.wall_time_s()
        self.state.last_checkpoint = str(path.relative_to(self.run_dir))
        runs.save_state(self.run_dir, self.state)
        return path

    def submit(self, model: Any) -> None:
        """Hand the current weights to the evaluator."""
        self.last_submitted = model.num_timesteps
        policy = mlp_from_sb3(model, self.offsets)
        self.keep_snapshot(model, policy)
        self.evaluator.submit(Snapshot(model.num_timesteps, round(self.wall_time_s(), 2), policy))

    def final_evaluations(self, model: Any) -> None:
        """Evaluate the final weights (unless already done) and wait for every outstanding report."""
        last_recorded = self.state.evaluations[-1]["steps"] if self.state.evaluations else None
        if model.num_timesteps not in (self.last_submitted, last_recorded):
            self.submit(model)
        for snapshot, report in self.evaluator.drain():
            self.record_evaluation(model, snapshot, report)

    def record_evaluation(self, model: Any, snapshot: Snapshot, report: EvalReport) -> None:
        """Log a validation report of ``snapshot`` (taken at or before the model's current step)."""
        model.logger.record("eval/success_rate", report.success_rate)
        model.logger.record("eval/collision_rate", report.collision_rate)
        model.logger.record("eval/mean_reward", report.mean_reward)
        entry = {
            "steps": snapshot.steps,
            "wall_time_s": snapshot.wall_time_s,
            "success_rate": report.success_rate,
            "collision_rate": report.collision_rate,
        }
        self.state.evaluations.append(entry)
        if report.success_rate > self.state.best_success_rate:
            self.state.best_success_rate = report.success_rate
            best = runs.best_teacher_path(self.run_dir)
            snapshot.policy.save(best, {"steps": snapshot.steps, "success_rate": report.success_rate})
        runs.save_state(self.run_dir, self.state)
        if self.on_evaluation is not None:
            # A checkpoint at this very step, so the hook can hand a scheduler a resumable state with this entry
            # (runs with a hook evaluate inline, so the model is still at the snapshot's step).
            found = runs.checkpoints(self.run_dir)
            at_step = found and runs.checkpoint_steps(found[-1]) == model.num_timesteps
            self.on_evaluation(self.run_dir, entry, found[-1] if at_step else self.checkpoint(model))
        self.progress.console.print(
            f"eval @ {snapshot.steps:,} steps ({snapshot.wall_time_s:.0f} s): "
            f"success {report.success_rate:.1%}, collisions {report.collision_rate:.1%}"
        )


def progress_callback(env: Any, total_steps: int) -> Any:
    """An SB3 callback telling ``env`` the training progress ``num_timesteps / total_steps`` at each rollout start.

    A curriculum (:mod:`tinyrl.tasks.curriculum`) therefore changes levels only between rollouts, at step counts
    fixed by the run's settings: the same for every run of a seed.
    """
    from stable_baselines3.common.callbacks import BaseCallback

    class ProgressCallback(BaseCallback):
        """Sets the env's training progress at each rollout start."""

        def _on_rollout_start(self) -> None:
            env.set_progress(self.model.num_timesteps / total_steps)

        def _on_step(self) -> bool:
            return True

    return ProgressCallback()


def _callback(monitor: _Monitor) -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class TinyRLCallback(BaseCallback):
        """Feeds SB3's per-step locals to the monitor; logs namespaced stats at each rollout end."""

        def _on_step(self) -> bool:
            monitor.on_step(self.model, self.locals["rewards"], self.locals["dones"], self.locals["infos"])
            return True

        def _on_rollout_end(self) -> None:
            monitor.on_rollout_end(self.model)

    return TinyRLCallback()


def validation_courses(config: ScenarioConfig) -> list[Course]:
    """The courses whose success picks the best checkpoint.

    ``train.eval_episodes`` unseen courses of ``train.eval_difficulty`` (the scenario's ``difficulty`` when unset),
    never the training pool's nor ``tinyrl eval``'s.
    """
    t = config.train
    return eval_courses(config, t.eval_episodes, runs.VALIDATION_SEED, difficulty=t.eval_difficulty)


def train(options: runs.RunOptions, console: Console | None = None) -> Path:
    """Train (or resume) a run; returns the run folder. Ctrl-C or SIGTERM saves a checkpoint and re-raises.

    ``$TINYRL_FAULT`` (:mod:`tinyrl.train.faults`) makes the run kill or interrupt itself at a given step.

    Raises:
        KeyboardInterrupt: re-raised after the checkpoint is saved, so callers can exit with 130 (143 for
            :class:`~tinyrl.errors.Terminated`, i.e. SIGTERM).
        ConfigError: a malformed ``$TINYRL_FAULT``.
    """
    with sigterm_as_interrupt():
        console = console or Console()
        fault = faults.parse_fault(faults.TRAIN_FAULT_VAR, faults.TRAIN_ACTIONS)  # before any folder is made
        run = _open_run(options, console)
        if run.state.finished:
            console.print(f"{run.run_dir} has already finished")
            return run.run_dir
        if run.config.train.learners > 1:
            return _train_learners(run, options, console, fault)
        return _train_run(run, options, console, fault)


class OpenRun(NamedTuple):
    """A run folder opened for training, with its config and state."""

    run_dir: Path
    config: ScenarioConfig
    state: runs.RunState


def _open_run(options: runs.RunOptions, console: Console) -> OpenRun:
    """The run folder, config and state of a new run, or of the one ``options.resume`` names.

    A new run's folder holds its config and state before anything else happens; the command line is recorded unless
    the run has finished.

    Raises:
        ConfigError: several learners (``train.learners`` > 1) under a sweep's ``on_evaluation`` hook, whose trial
            trains one; refused before a new run's folder is made.
    """
    if options.resume is not None:
        run_dir = runs.resume_dir(options.resume)
        config = runs.read_config(run_dir)
        _refuse_learners_in_a_trial(config, options)
        state = runs.load_state(run_dir)
        if state.finished:
            return OpenRun(run_dir, config, state)
    else:
        config, left_out = runs.resolve_config(options)
        _refuse_learners_in_a_trial(config, options)
        if left_out:
            console.print(
                f"--algo {config.train.algo} leaves out {', '.join(left_out)}: set for the scenario's algorithm",
                soft_wrap=True,
            )
        run_dir = options.run_dir or runs.new_run_dir(options.out, config.name)
        run_dir.mkdir(parents=True, exist_ok=True)
        runs.write_config(run_dir, config)
        state = runs.RunState()
    state.commands.append(" ".join(["python", *sys.argv]))
    runs.save_state(run_dir, state)
    return OpenRun(run_dir, config, state)


def _refuse_learners_in_a_trial(config: ScenarioConfig, options: runs.RunOptions) -> None:
    if config.train.learners > 1 and options.on_evaluation is not None:
        raise ConfigError("train.learners > 1 cannot run as a sweep's trial: each trial trains one learner")


def _train_run(
    run: OpenRun, options: runs.RunOptions, console: Console, fault: faults.Fault | None, label: str = "training"
) -> Path:
    """Train (or resume) one learner in its open, unfinished run folder; SIGTERM is already an interrupt."""
    import torch

    from tinyrl.tasks.vec_env import TinyRLVecEnv

    # One torch thread (docs/design.md, "Training": 2 threads train 3x slower): the simulator and the learner take
    # turns on one core, and the validation evaluations run on the other (tinyrl.train.background).
    torch.set_num_threads(1)
    run_dir, config, state = run
    t = config.train
    env = TinyRLVecEnv(config, n_envs=t.n_envs, seed=t.seed + state.num_timesteps, critic_inputs=True)
    env.set_progress(state.num_timesteps / t.steps)  # the first reset (of a resumed run too) flies its stage
    model = _load_or_create(config, env, run_dir, state, console)
    console.print(
        f"[bold]{config.name}[/]: {t.algo.upper()} {list(t.net_arch)}, {t.n_envs} drones, {t.steps:,} steps, "
        f"seed {t.seed} → {run_dir}"
    )
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("succ {task.fields[succ]}  rew {task.fields[rew]}  {task.fields[sps]} steps/s"),
        TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=console, disable=not options.progress, refresh_per_second=4)
    validation = validation_courses(config)
    # A scheduler's hook needs each report with a checkpoint at its step, and a sweep already fills every core.
    inline = options.on_evaluation is not None or not options.background_eval
    evaluator_cls = InlineEvaluator if inline else BackgroundEvaluator
    evaluator = evaluator_cls(config, validation, runs.VALIDATION_SEED)
    try:  # the evaluation worker stops on every way out: done, error, Ctrl-C, SIGTERM
        with progress:
            monitor = _Monitor(
                config, run_dir, state, t.steps, options.keep_checkpoints, progress, evaluator, fault, label
            )
            monitor.on_evaluation = options.on_evaluation
            progress.update(monitor.bar, **monitor.fields(state.num_timesteps))
            try:
                remaining = t.steps - state.num_timesteps
                callbacks = [_callback(monitor), progress_callback(env, t.steps)]
                if remaining > 0:
                    model.learn(remaining, callback=callbacks, reset_num_timesteps=False, tb_log_name="run")
                monitor.checkpoint(model)
                monitor.final_evaluations(model)
            except KeyboardInterrupt:
                for snapshot, report in evaluator.ready():  # keep the reports that are already back
                    monitor.record_evaluation(model, snapshot, report)
                path = monitor.checkpoint(model)
                console.print(f"\ninterrupted: saved {path}; continue with --resume {run_dir}")
                env.close()
                raise
    finally:
        evaluator.close()
    mlp_from_sb3(model, monitor.offsets).save(run_dir / TEACHER_FILE, {"steps": model.num_timesteps})
    _average(run_dir, config, state, validation, console)
    chosen = MlpPolicy.load(runs.shipped_teacher(run_dir))
    finish(run_dir, config, chosen, state, monitor.wall_time_s(), options.final_eval_episodes, console, fault)
    env.close()
    return run_dir


def _average(
    run_dir: Path, config: ScenarioConfig, state: runs.RunState, validation: list[Course], console: Console
) -> None:
    """With ``train.average_from``: save the mean of the kept snapshots as the run's shipped teacher, validated once.

    Nothing when the scenario does not average, or no snapshot fell in the stretch (the best validated one ships).
    """
    from_steps = averaging.average_from_steps(config)
    if from_steps is None:
        return
    kept = averaging.kept_snapshots(run_dir, from_steps)
    if not kept:
        console.print(f"no validation snapshot from step {from_steps:,} on to average: the best validated one ships")
        return
    policy = averaging.average_policies([MlpPolicy.load(path) for _, path in kept])
    report = evaluate(policy, config, validation, len(validation), seed=runs.VALIDATION_SEED)
    steps = [n for n, _ in kept]
    state.average = {"from_steps": from_steps, "snapshot_steps": steps, "validation_success_rate": report.success_rate}
    policy.save(runs.average_teacher_path(run_dir), state.average)
    runs.save_state(run_dir, state)
    console.print(
        f"mean of {len(steps)} snapshots ({steps[0]:,}-{steps[-1]:,} steps): validation success "
        f"{report.success_rate:.1%} (best snapshot {max(state.best_success_rate, 0.0):.1%})"
    )


def _train_learners(run: OpenRun, options: runs.RunOptions, console: Console, fault: faults.Fault | None) -> Path:
    """Train (or resume) the ``train.learners`` learners of an open, unfinished run one after another; keep the best.

    Each learner is a run of its own in ``RUN/learners/K/`` (resumed where it stopped, skipped once finished). The
    best validated policy of each then flies the same ``train.selection_episodes`` courses (generator seed
    :data:`runs.SELECTION_SEED`), and the run takes the teachers of the one that succeeds most often (the first of
    equals).
    """
    run_dir, config, state = run
    t = config.train
    console.print(
        f"[bold]{config.name}[/]: {t.learners} learners of {t.steps:,} steps each; the one that flies best on "
        f"{t.selection_episodes:,} selection courses is kept → {run_dir}"
    )
    for k in range(t.learners):
        folder = runs.learner_dir(run_dir, k)
        if runs.load_state(folder).finished:
            continue
        if (folder / "config.yaml").is_file():
            learner = replace(options, resume=folder, run_dir=None)
        else:
            learner = replace(
                options,
                env=runs.learner_config(config, k),
                algo=None,
                steps=None,
                seed=None,
                n_envs=None,
                overrides=None,
                resume=None,
                run_dir=folder,
            )
        try:
            _train_run(_open_run(learner, console), learner, console, fault, label=f"learner {k + 1}/{t.learners}")
        except KeyboardInterrupt:
            console.print(f"the run of {t.learners} learners continues with --resume {run_dir}")
            raise
    started = time.perf_counter()
    courses = eval_courses(config, t.selection_episodes, runs.SELECTION_SEED, difficulty=t.eval_difficulty)
    entries: list[dict[str, Any]] = []
    curves: list[list[dict[str, Any]]] = []
    for k in range(t.learners):
        folder = runs.learner_dir(run_dir, k)
        learned = runs.load_state(folder)
        curves.append(learned.evaluations)
        report = evaluate(
            MlpPolicy.load(runs.shipped_teacher(folder)),
            config,
            courses,
            t.selection_episodes,
            seed=runs.SELECTION_SEED,
            progress=options.progress,
        )
        entries.append(
            {
                "learner": k,
                "seed": runs.read_config(folder).train.seed,
                "folder": folder.relative_to(run_dir).as_posix(),
                "steps": learned.num_timesteps,
                "wall_time_s": round(learned.wall_time_s, 2),
                "best_validation_success": max((e["success_rate"] for e in learned.evaluations), default=None),
                "selection_success": report.success_rate,
            }
        )
        console.print(
            f"learner {k + 1}/{t.learners} (seed {entries[-1]['seed']}): success {report.success_rate:.1%} on "
            f"{t.selection_episodes:,} selection courses"
        )
    chosen = max(range(t.learners), key=lambda k: entries[k]["selection_success"])
    for entry in entries:
        entry["kept"] = entry["learner"] == chosen
    _take_learner(run_dir, state, entries, curves, chosen)
    wall_time_s = sum(e["wall_time_s"] for e in entries) + time.perf_counter() - started
    console.print(f"keeping learner {chosen + 1}/{t.learners}")
    policy = MlpPolicy.load(runs.shipped_teacher(run_dir))
    finish(run_dir, config, policy, state, wall_time_s, options.final_eval_episodes, console)
    return run_dir


def _take_learner(
    run_dir: Path,
    state: runs.RunState,
    entries: list[dict[str, Any]],
    curves: list[list[dict[str, Any]]],
    chosen: int,
) -> None:
    """Copy learner ``chosen``'s teachers into the run and record every learner's evaluations in its state.

    ``curves`` holds each learner's evaluations. The learning curve runs through the learners in turn: each
    evaluation's steps and wall time count from the run's start, with the learner it belongs to.
    """
    folder = runs.learner_dir(run_dir, chosen)
    note = {"learner": chosen, "selection_success": entries[chosen]["selection_success"]}
    MlpPolicy.load(runs.shipped_teacher(folder)).save(runs.best_teacher_path(run_dir), note)
    MlpPolicy.load(folder / TEACHER_FILE).save(run_dir / TEACHER_FILE, note)
    steps, wall_s, curve = 0, 0.0, []
    for entry, evaluations in zip(entries, curves, strict=True):
        for e in evaluations:
            at = {"steps": e["steps"] + steps, "wall_time_s": round(e["wall_time_s"] + wall_s, 2)}
            curve.append({**e, **at, "learner": entry["learner"]})
        steps, wall_s = steps + entry["steps"], wall_s + entry["wall_time_s"]
    state.learners, state.evaluations, state.num_timesteps = entries, curve, steps
    best = entries[chosen]["best_validation_success"]
    state.best_success_rate = -1.0 if best is None else best
    runs.save_state(run_dir, state)


def _load_or_create(config: ScenarioConfig, env: Any, run_dir: Path, state: runs.RunState, console: Console) -> Any:
    found = runs.checkpoints(run_dir)
    if not found:
        return runs.make_model(config, env, run_dir)
    cls = runs.algos.algo_class(config.train.algo)
    damaged, untrusted = [], []
    for checkpoint in reversed(found):  # newest first: a crash can only have damaged the newest writes
        replay = runs.replay_path(checkpoint)
        # Checked before anything is unpickled (see tinyrl.provenance).
        reason = next(filter(None, (provenance.problem(p) for p in (checkpoint, replay) if p.is_file())), None)
        if reason is not None:
            untrusted.append(f"{checkpoint.name} ({reason})")
            continue
        try:
            model = cls.load(checkpoint, env=env, device="cpu", tensorboard_log=str(run_dir / "tb"))
            if replay.is_file():
                model.load_replay_buffer(replay)
        except Exception as exc:  # a truncated or corrupt zip fails in zipfile, torch or pickle alike
            damaged.append(f"{checkpoint.name} ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})")
            continue
        if untrusted or damaged:
            console.print(f"[yellow]checkpoint(s) skipped:[/] {'; '.join(untrusted + damaged)}", soft_wrap=True)
        state.num_timesteps = model.num_timesteps
        console.print(f"resuming from {checkpoint.name} at {model.num_timesteps:,} steps")
        return model
    if untrusted:
        raise provenance.UntrustedFileError(
            f"{run_dir}: no checkpoint signed with your key: {'; '.join(untrusted + damaged)}; "
            + provenance.refusal(run_dir)
        )
    raise ConfigError(f"{run_dir}: no intact checkpoint to resume from: {'; '.join(damaged)}")


def finish(
    run_dir: Path,
    config: ScenarioConfig,
    policy: MlpPolicy,
    state: runs.RunState,
    wall_time_s: float,
    episodes: int,
    console: Console,
    fault: faults.Fault | None = None,
) -> EvalReport:
    """Final evaluation on unseen courses → ``metrics.json``, ``trajectories.png``, ``learning_curve.png``.

    The run is marked finished only after all of them are written.
    """
    from tinyrl.common.plots import plot_learning_curve

    courses = eval_courses(config, episodes, seed=0)
    report = evaluate(policy, config, courses, episodes, seed=0, record_trajectories=8, progress=True)
    state.wall_time_s = wall_time_s
    metrics = {
        "env": config.name,
        "algo": config.train.algo,
        "steps": state.num_timesteps,
        "wall_time_s": round(wall_time_s, 1),
        "evaluation": report.to_dict(),
        "learning_curve": state.evaluations,
    }
    runs.atomic_write_bytes(run_dir / "metrics.json", runs.json_bytes(metrics))
    runs.plot_evaluation(run_dir, config, report, courses, "trajectories.png")
    if state.evaluations:
        runs.atomic_write_bytes(run_dir / "learning_curve.png", plot_learning_curve(state.evaluations))
    if fault is not None and fault.action == "kill-finishing" and state.num_timesteps >= fault.steps:
        faults.fire_signal_fault(fault)
    # Last: a run killed before this line is not finished, so --resume redoes the final evaluation and ship refuses it.
    state.finished = True
    runs.save_state(run_dir, state)
    lo, hi = report.success_ci95
    console.print(
        f"final: success {report.success_rate:.1%} (95 % CI {lo:.1%}–{hi:.1%}) on {episodes} unseen courses, "
        f"collisions {report.collision_rate:.1%}, timeouts {report.timeout_rate:.1%} — {run_dir}"
    )
    return report
