"""Sweep search spaces as data: ``envs/sweeps/NAME.yaml`` validated into :class:`SearchSpace`.

A space names scenario fields by dotted path (``train.hyperparameters.learning_rate``) and says how to sample
each; Optuna samples them, ASHA stops trials whose validation success rate lags. Example::

    params:
      train.hyperparameters.learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0e-3}
      train.net_arch: {type: choice, values: [[64, 64], [128, 128]]}
      train.seed: {type: int, low: 0, high: 9}
    scheduler: {grace_evaluations: 2, reduction_factor: 2}
    first_trials:      # optional: tried first, in this order, before Optuna samples (e.g. a known baseline)
      - {train.hyperparameters.learning_rate: 3.0e-4, train.net_arch: [64, 64], train.seed: 0}

``--env NAME`` looks for ``sweeps/NAME.yaml`` beside the scenario, then falls back to ``sweeps/default.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic

from tinyrl.config import StrictModel, read_data_file, validate
from tinyrl.errors import ConfigError
from tinyrl.tasks.config import ENV_DIRS, ScenarioConfig, load_scenario, resolve_env_path
from tinyrl.train import algos

Finite = Annotated[float, pydantic.Field(allow_inf_nan=False)]


class FloatRange(StrictModel):
    """A float drawn from ``[low, high]``: the fields :class:`Uniform` and :class:`LogUniform` share."""

    low: Finite
    high: Finite

    @pydantic.model_validator(mode="after")
    def _check(self) -> FloatRange:
        if self.low >= self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        return self


class Uniform(FloatRange):
    """A float drawn uniformly from ``[low, high]``."""

    type: Literal["uniform"]


class LogUniform(FloatRange):
    """A positive float drawn uniformly in log space from ``[low, high]`` (e.g. a learning rate)."""

    type: Literal["loguniform"]

    @pydantic.model_validator(mode="after")
    def _positive(self) -> LogUniform:
        if self.low <= 0:
            raise ValueError(f"low {self.low} must be positive on a log scale")
        return self


class IntRange(StrictModel):
    """An integer drawn from ``low..high`` inclusive (e.g. a seed)."""

    type: Literal["int"]
    low: int
    high: int

    @pydantic.model_validator(mode="after")
    def _check(self) -> IntRange:
        if self.low > self.high:
            raise ValueError(f"low {self.low} must not exceed high {self.high}")
        return self


class Choice(StrictModel):
    """One of ``values`` (numbers, strings, or lists such as a ``net_arch``)."""

    type: Literal["choice"]
    values: Annotated[list[Any], pydantic.Field(min_length=1)]


Param = Annotated[Uniform | LogUniform | IntRange | Choice, pydantic.Field(discriminator="type")]
PARAM_TAGS = ("uniform", "loguniform", "int", "choice")


class SchedulerConfig(StrictModel):
    """ASHA early stopping on the validation success rate (one rung per ``grace_evaluations`` evaluations)."""

    grace_evaluations: Annotated[int, pydantic.Field(ge=1)] = 2
    """Evaluations every trial gets before it may be stopped."""
    reduction_factor: Annotated[int, pydantic.Field(ge=2)] = 2
    """Keep the best ``1/reduction_factor`` of trials at each rung."""


class SearchSpace(StrictModel):
    """What a sweep varies (``params``), how it stops poor trials, and the Optuna sampler's seed."""

    params: Annotated[dict[str, Param], pydantic.Field(min_length=1)]
    """Dotted scenario field → distribution."""
    scheduler: SchedulerConfig = SchedulerConfig()
    sampler_seed: int = 0
    """Seed of Optuna's TPE sampler, so a sweep proposes the same configs when run again."""
    first_trials: list[dict[str, Any]] = []
    """Configs (dotted field → value, one per param) that the first trials run, in this order, before Optuna
    proposes its own; each value must lie in its param's distribution."""

    def tune_space(self) -> dict[str, Any]:
        """The Ray Tune search space (lists in a choice are sampled by index: Optuna wants plain values)."""
        from ray import tune

        out: dict[str, Any] = {}
        for key, p in self.params.items():
            if isinstance(p, LogUniform):
                out[key] = tune.loguniform(p.low, p.high)
            elif isinstance(p, Uniform):
                out[key] = tune.uniform(p.low, p.high)
            elif isinstance(p, IntRange):
                out[key] = tune.randint(p.low, p.high + 1)
            else:
                out[key] = tune.choice(list(range(len(p.values))) if _needs_index(p) else p.values)
        return out

    def tune_first_trials(self) -> list[dict[str, Any]]:
        """:attr:`first_trials` as Tune values (a list in a choice as its index, as :meth:`tune_space` samples)."""
        out = []
        for point in self.first_trials:
            encoded = {}
            for key, p in self.params.items():
                value = point[key]
                encoded[key] = p.values.index(value) if isinstance(p, Choice) and _needs_index(p) else value
            out.append(encoded)
        return out

    def decode(self, sampled: dict[str, Any]) -> dict[str, Any]:
        """Sampled Tune values → dotted field → scenario value (a choice index back to its list)."""
        out = {}
        for key, p in self.params.items():
            value = sampled[key]
            if isinstance(p, Choice) and _needs_index(p):
                value = p.values[int(value)]
            elif isinstance(p, IntRange):
                value = int(value)
            elif isinstance(p, FloatRange):
                value = float(value)
            out[key] = value
        return out


def _needs_index(choice: Choice) -> bool:
    return any(not isinstance(v, str | int | float | bool) or v is None for v in choice.values)


def overrides(values: dict[str, Any]) -> dict[str, Any]:
    """Dotted fields → the nested dict :func:`tinyrl.tasks.config.load_scenario` merges.

    ``{"train.seed": 3}`` → ``{"train": {"seed": 3}}``.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def default_space_path(env: str | Path, env_dirs: Sequence[Path] = ENV_DIRS) -> Path:
    """``sweeps/NAME.yaml`` beside the scenario, else the shipped ``envs/sweeps/default.yaml``."""
    scenario = resolve_env_path(env, env_dirs)
    own = scenario.parent / "sweeps" / f"{scenario.stem}.yaml"
    if own.is_file():
        return own
    for d in env_dirs:
        if (d / "sweeps" / "default.yaml").is_file():
            return d / "sweeps" / "default.yaml"
    raise ConfigError(f"no search space for {env}: pass --space FILE or add {own}")


def load_space(path: str | Path, scenario: ScenarioConfig) -> SearchSpace:
    """Read and check a search space against the scenario it sweeps.

    Every field must exist in the scenario (trying each distribution's low end), and names under
    ``train.hyperparameters`` must be arguments of the scenario's SB3 algorithm.

    Raises:
        ConfigError: One line naming the file, the field and the problem.
    """
    space = parse_space(read_data_file(path), str(path))
    algo_args: set[str] | None = None
    for key, p in space.params.items():
        parts = key.split(".")
        if any(not part for part in parts):
            raise ConfigError(f"{path}: params.{key}: not a dotted field name")
        if key in ("name", "task", "gym_id"):
            raise ConfigError(f"{path}: params.{key}: identifies the scenario; it cannot be swept")
        probe = p.values[0] if isinstance(p, Choice) else p.low
        if parts[:2] == ["train", "hyperparameters"] and len(parts) == 3:
            if algo_args is None:
                algo_args = algos.algo_arguments(scenario.train.algo)
            if parts[2] not in algo_args:
                raise ConfigError(
                    f"{path}: params.{key}: {scenario.train.algo} has no hyperparameter {parts[2]!r}"
                    f"; known: {', '.join(sorted(algo_args))}"
                )
        elif parts[:2] != ["train", "policy_kwargs"] and not _field_exists(scenario.model_dump(), parts):
            raise ConfigError(f"{path}: params.{key}: no such field in scenario {scenario.name}")
        try:
            load_scenario(scenario, overrides({key: probe}))
        except ConfigError as exc:
            raise ConfigError(f"{path}: params.{key}: value {probe!r} is invalid ({exc})") from None
    for i, point in enumerate(space.first_trials):
        if set(point) != set(space.params):
            missing, extra = sorted(set(space.params) - set(point)), sorted(set(point) - set(space.params))
            raise ConfigError(f"{path}: first_trials.{i}: missing {missing}, unknown {extra}; name every param once")
        for key, value in point.items():
            problem = _outside(space.params[key], value)
            if problem:
                raise ConfigError(f"{path}: first_trials.{i}.{key}: {value!r} {problem}")
    return space


def _outside(param: Param, value: Any) -> str | None:
    """Why ``value`` cannot be a sample of ``param`` (None when it can)."""
    if isinstance(param, Choice):
        return None if value in param.values else f"is not one of {param.values}"
    if isinstance(param, IntRange):
        if isinstance(value, bool) or not isinstance(value, int):
            return "is not an integer"
    elif isinstance(value, bool) or not isinstance(value, int | float):
        return "is not a number"
    return None if param.low <= value <= param.high else f"is outside [{param.low}, {param.high}]"


def parse_space(data: Any, source: str) -> SearchSpace:
    """Validate parsed YAML into a :class:`SearchSpace` (one-line :class:`ConfigError` naming the field)."""
    try:
        return validate(SearchSpace, data, source)
    except ConfigError as exc:
        # pydantic puts the distribution's type tag after the field name (params.train.seed.int.low); drop it.
        tags = "|".join(PARAM_TAGS)
        raise ConfigError(re.sub(rf"(: params\.[^:]*?)\.(?:{tags})(?=[.:])", r"\1", str(exc), count=1)) from None


def _field_exists(data: Any, parts: list[str]) -> bool:
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True
