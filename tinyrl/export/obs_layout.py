"""``tinyrl_obs_layout.h``: the observation vector and action scaling of a scenario, as C constants.

The Crazyflie app builds the observation from the real sensors; these constants come from the same scenario
YAML the simulator was trained on (:func:`tinyrl.tasks.features.observation_layout`), so the two cannot drift.
"""

from __future__ import annotations

import re

from tinyrl.export.codegen import STAMP, c_float
from tinyrl.export.errors import ExportError


def obs_layout_header(env: str, in_features: int) -> str:
    """The header for scenario ``env`` (``envs/NAME.yaml`` or a YAML path).

    Args:
        env: Scenario name or path, as ``--env`` elsewhere.
        in_features: The model's input width; must equal the scenario's observation size.

    Raises:
        ExportError: the observation size does not match the model (exported for another scenario).
        ConfigError: the scenario cannot be loaded.
    """
    from tinyrl.tasks.config import load_scenario
    from tinyrl.tasks.features import OBS_LIMIT, ema_alpha, observation_layout, observation_size

    config = load_scenario(env)
    size = observation_size(config)
    if size != in_features:
        raise ExportError(
            f"scenario {env!r} has {size} observation entries but the model takes {in_features}; "
            "pass the --env the policy was trained on"
        )
    a, o = config.action, config.observation
    lines = [
        f"/* {STAMP} Observation layout of scenario {config.name!r} (tinyrl.tasks.features). */",
        "#ifndef TINYRL_OBS_LAYOUT_H",
        "#define TINYRL_OBS_LAYOUT_H",
        "",
        f"#define TINYRL_OBS_SIZE {size}",
        f"#define TINYRL_POLICY_RATE_HZ {c_float(config.policy_rate_hz)}",
        f"#define TINYRL_POLICY_PERIOD_MS {round(1000.0 / config.policy_rate_hz)}",
        f"#define TINYRL_ACTION_DISCRETE {int(a.mode == 'discrete')}",
        "/* Per-step weight of the newest action in the action_ema feature (1 - exp(-period / tau)). */",
        f"#define TINYRL_ACTION_EMA_ALPHA {c_float(ema_alpha(config.policy_rate_hz, o.action_ema_tau_s))}",
        "/* The same for the ranges_ema feature's low-pass over the horizontal ranges. */",
        f"#define TINYRL_RANGES_EMA_ALPHA {c_float(ema_alpha(config.policy_rate_hz, o.ranges_ema_tau_s))}",
        "",
        "/* Feature blocks in observation order: offset and width; absent features are not defined. */",
    ]
    offset = 0
    for name, width, doc in observation_layout(config):
        macro = re.sub(r"[^A-Z0-9]", "_", name.upper())
        lines.append(f"/* {name}: {doc} */")
        lines.append(f"#define TINYRL_OBS_{macro}_OFFSET {offset}")
        lines.append(f"#define TINYRL_OBS_{macro}_WIDTH {width}")
        offset += width
    lo, hi = a.z_range_m
    lines += [
        "",
        "/* Scaling (the simulator's units: m, m/s, deg/s). */",
        f"#define TINYRL_MAX_RANGE_M {c_float(config.sensors.multiranger.max_range_m)}",
        f"#define TINYRL_HEIGHT_SCALE_M {c_float(o.height_scale_m)}",
        f"#define TINYRL_MAX_GOAL_DISTANCE_M {c_float(o.max_goal_distance_m)}",
        f"#define TINYRL_OBS_LIMIT {c_float(OBS_LIMIT)}",
        f"#define TINYRL_MAX_SPEED_M_S {c_float(a.max_speed_m_s)}",
        f"#define TINYRL_MAX_YAW_RATE_DEG_S {c_float(a.max_yaw_rate_deg_s)}",
        f"#define TINYRL_Z_MIN_M {c_float(lo)}",
        f"#define TINYRL_Z_MAX_M {c_float(hi)}",
        "",
        "#endif /* TINYRL_OBS_LAYOUT_H */",
        "",
    ]
    return "\n".join(lines)
