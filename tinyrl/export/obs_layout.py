"""``tinyrl_obs_layout.h``: the observation vector and action scaling of a scenario, as C constants.

The Crazyflie app builds the observation from the real sensors; these constants come from the same scenario
YAML the simulator was trained on (:func:`tinyrl.tasks.features.observation_layout`), so the two cannot drift.
A feature the app does not build is refused here (and by a ``#error`` in the app's ``tinyrl_obs.c``), never
left as an uninitialised input.
"""

from __future__ import annotations

import re

import numpy as np

from tinyrl.export.codegen import STAMP, c_float
from tinyrl.export.errors import ExportError

#: The observation features ``firmware/crazyflie/src/tinyrl_obs.c`` builds (one ``TINYRL_OBS_<NAME>_OFFSET``
#: block each; tests/firmware/test_crazyflie_app.py checks the two agree and runs each against the simulator).
APP_FEATURES = frozenset(
    {
        "ranges",
        "up_range",
        "height",
        "flow",
        "yaw_rate",
        "goal",
        "hover_error",
        "light",
        "light_bearing",
        "light_side",
        "light_trend",
        "prev_action",
        "action_ema",
        "ranges_ema",
        "ranges_near",
        "geofence",
    }
)


def feature_macro(name: str) -> str:
    """The C macro stem of feature ``name``: ``TINYRL_OBS_<NAME>`` (``_OFFSET``, ``_WIDTH`` follow)."""
    return "TINYRL_OBS_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def _initializer(rows: np.ndarray) -> str:
    """A C initializer ``{{a, b}, {c, d}}`` of float32 literals for a 2-D array."""
    return "{" + ", ".join("{" + ", ".join(c_float(v) for v in row) + "}" for row in rows) + "}"


def obs_layout_header(env: str, in_features: int, out_features: int | None = None) -> str:
    """The header for scenario ``env`` (``envs/NAME.yaml`` or a YAML path).

    Args:
        env: Scenario name or path, as ``--env`` elsewhere.
        in_features: The model's input width; must equal the scenario's observation size.
        out_features: The model's output width, if known: 4 for continuous actions, the number of
            ``discrete_actions`` (logits) for discrete ones.

    Raises:
        ExportError: the observation size or the action width does not match the model (exported for another
            scenario), or the scenario observes a feature the Crazyflie app does not build.
        ConfigError: the scenario cannot be loaded.
    """
    from tinyrl.tasks.actions import DiscreteActions, action_map
    from tinyrl.tasks.config import load_scenario
    from tinyrl.tasks.features import (
        LIGHT_LOG_FLOOR,
        LIGHT_TREND_GAIN,
        OBS_LIMIT,
        ema_alpha,
        light_normals_xy,
        observation_layout,
        observation_size,
    )

    config = load_scenario(env)
    missing = [name for name in config.observation.features if name not in APP_FEATURES]
    if missing:
        raise ExportError(
            f"scenario {env!r} observes {', '.join(missing)}, which the Crazyflie app does not build "
            "(firmware/crazyflie/src/tinyrl_obs.c): the policy would read an uninitialised input"
        )
    size = observation_size(config)
    if size != in_features:
        raise ExportError(
            f"scenario {env!r} has {size} observation entries but the model takes {in_features}; "
            "pass the --env the policy was trained on"
        )
    a, o = config.action, config.observation
    actions = action_map(a)
    outputs = actions.width if actions.discrete else 4
    if out_features is not None and out_features != outputs:
        raise ExportError(
            f"scenario {env!r} flies {outputs} {'logits' if actions.discrete else 'action values'} but the model "
            f"gives {out_features}; pass the --env the policy was trained on"
        )
    lines = [
        f"/* {STAMP} Observation layout of scenario {config.name!r} (tinyrl.tasks.features). */",
        "#ifndef TINYRL_OBS_LAYOUT_H",
        "#define TINYRL_OBS_LAYOUT_H",
        "",
        f"#define TINYRL_OBS_SIZE {size}",
        f"#define TINYRL_POLICY_RATE_HZ {c_float(config.policy_rate_hz)}",
        f"#define TINYRL_POLICY_PERIOD_MS {round(1000.0 / config.policy_rate_hz)}",
        f"#define TINYRL_ACTION_DISCRETE {int(actions.discrete)}",
        "/* Width of the fed-back action (prev_action, action_ema): 4 continuous values or the one-hot. */",
        f"#define TINYRL_ACTION_WIDTH {actions.width}",
        "/* Per-step weight of the newest action in the action_ema feature (1 - exp(-period / tau)). */",
        f"#define TINYRL_ACTION_EMA_ALPHA {c_float(ema_alpha(config.policy_rate_hz, o.action_ema_tau_s))}",
        "/* The same for the ranges_ema feature's low-pass over the horizontal ranges. */",
        f"#define TINYRL_RANGES_EMA_ALPHA {c_float(ema_alpha(config.policy_rate_hz, o.ranges_ema_tau_s))}",
        "/* The same for the light_trend feature's low-pass over the log light reading. */",
        f"#define TINYRL_LIGHT_EMA_ALPHA {c_float(ema_alpha(config.policy_rate_hz, o.light_ema_tau_s))}",
        "",
        "/* Feature blocks in observation order: offset and width; absent features are not defined. */",
    ]
    offset = 0
    for name, width, doc in observation_layout(config):
        macro = feature_macro(name)
        lines.append(f"/* {name}: {doc} */")
        lines.append(f"#define {macro}_OFFSET {offset}")
        lines.append(f"#define {macro}_WIDTH {width}")
        offset += width
    lo, hi = a.z_range_m
    s = config.sensors
    lines += [
        "",
        "/* Scaling (the simulator's units: m, m/s, deg/s). */",
        f"#define TINYRL_MAX_RANGE_M {c_float(s.multiranger.max_range_m)}",
        "/* The ranges_near feature rises from 0 below this range. */",
        f"#define TINYRL_NEAR_RANGE_M {c_float(o.near_range_m)}",
        "/* The flow deck's down ranger: its out-of-range reading and limit. */",
        f"#define TINYRL_DOWN_MAX_RANGE_M {c_float(s.flow.max_range_m)}",
        f"#define TINYRL_HEIGHT_SCALE_M {c_float(o.height_scale_m)}",
        f"#define TINYRL_MAX_GOAL_DISTANCE_M {c_float(o.max_goal_distance_m)}",
        f"#define TINYRL_OBS_LIMIT {c_float(OBS_LIMIT)}",
        f"#define TINYRL_MAX_SPEED_M_S {c_float(a.max_speed_m_s)}",
        f"#define TINYRL_MAX_YAW_RATE_DEG_S {c_float(a.max_yaw_rate_deg_s)}",
        f"#define TINYRL_Z_MIN_M {c_float(lo)}",
        f"#define TINYRL_Z_MAX_M {c_float(hi)}",
        "",
        "/* Light sensors (sensors.light): one reading each, in the order of offsets_m. */",
        f"#define TINYRL_LIGHT_COUNT {len(s.light.offsets_m)}",
        "/* light_trend: log(total + floor) of the readings, and the gain on its lead over the low-passed copy. */",
        f"#define TINYRL_LIGHT_LOG_FLOOR {c_float(LIGHT_LOG_FLOOR)}",
        f"#define TINYRL_LIGHT_TREND_GAIN {c_float(LIGHT_TREND_GAIN)}",
    ]
    if s.light.normals is not None:
        lines += [
            "/* Their facing directions in the body x-y plane, unit length (light_bearing). */",
            f"#define TINYRL_LIGHT_NORMALS_XY {_initializer(light_normals_xy(config))}",
        ]
    if isinstance(actions, DiscreteActions):
        names = ", ".join(a.discrete_actions)
        lines += [
            "",
            f"/* Discrete actions ({names}): vx, vy (m/s, heading frame), yaw rate (deg/s); the height holds. */",
            f"#define TINYRL_DISCRETE_ACTIONS {_initializer(actions.table)}",
        ]
    lines += ["", "#endif /* TINYRL_OBS_LAYOUT_H */", ""]
    return "\n".join(lines)
