"""firmware/crazyflie: the app's plain-C observation and setpoint code against the simulator's Python.

The app itself needs the Crazyflie firmware tree to build; its portable part (src/tinyrl_obs.c) is compiled here with
the layout header `tinyrl export --env` writes and compared with tinyrl.tasks.features.build_observation.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from tinyrl.export.errors import ExportError
from tinyrl.export.obs_layout import APP_FEATURES, feature_macro, obs_layout_header
from tinyrl.tasks.actions import action_map
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.features import (
    FEATURES,
    LIGHT_LOG_FLOOR,
    Feature,
    SensorFrame,
    build_observation,
    ema_alpha,
    light_log,
    observation_size,
)

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "firmware" / "crazyflie"
WARN = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wshadow"]
HARNESS = r"""
#include <stdio.h>
#include "tinyrl_obs.h"
static int read_floats(float *x, unsigned n)
{
    for (unsigned i = 0; i < n; ++i) {
        if (scanf("%f", &x[i]) != 1) return 0;
    }
    return 1;
}
static void print_floats(const float *x, int n)
{
    for (int i = 0; i < n; ++i) printf("%.9g ", (double)x[i]);
}
int main(void)
{
    tinyrl_sensors s;
    float obs[TINYRL_OBS_SIZE], output[TINYRL_ACTION_OUTPUTS], hold_z, fed_back[TINYRL_ACTION_WIDTH];
    float start[TINYRL_ACTION_WIDTH];
    tinyrl_hover h;
    while (read_floats((float *)&s, sizeof(s) / sizeof(float)) && read_floats(output, TINYRL_ACTION_OUTPUTS) &&
           read_floats(&hold_z, 1)) {
        tinyrl_build_observation(&s, obs);
        tinyrl_action_to_hover(output, hold_z, &h, fed_back);
        tinyrl_ema_update(s.action_ema, fed_back, TINYRL_ACTION_WIDTH, TINYRL_ACTION_EMA_ALPHA);
        tinyrl_ema_update(s.ranges_ema_m, s.ranges_m, 4, TINYRL_RANGES_EMA_ALPHA);
        const float light_log = tinyrl_light_log(s.light);
        tinyrl_ema_update(&s.light_log_ema, &light_log, 1, TINYRL_LIGHT_EMA_ALPHA);
        tinyrl_action_at_start(hold_z, start);
        print_floats(obs, TINYRL_OBS_SIZE);
        printf("%.9g %.9g %.9g %.9g ", (double)h.vx_m_s, (double)h.vy_m_s, (double)h.yaw_rate_deg_s, (double)h.z_m);
        print_floats(fed_back, TINYRL_ACTION_WIDTH);
        print_floats(s.action_ema, TINYRL_ACTION_WIDTH);
        print_floats(s.ranges_ema_m, 4);
        print_floats(&s.light_log_ema, 1);
        print_floats(start, TINYRL_ACTION_WIDTH);
        printf("\n");
    }
    return 0;
}
"""


def _cc() -> str:
    cc = shutil.which("gcc")
    if cc is None:
        pytest.fail("gcc not found: run `make setup`")
    return cc


def _build_host(tmp_path: Path, env: str, sources: dict[str, str], name: str) -> Path:
    """Compile ``sources`` (name -> C text) with the app's plain-C files and scenario ``env``'s layout header."""
    config = load_scenario(env)
    (tmp_path / "tinyrl_obs_layout.h").write_text(obs_layout_header(env, observation_size(config)))
    paths = []
    for file, text in sources.items():
        (tmp_path / file).write_text(text)
        paths.append(str(tmp_path / file))
    exe = tmp_path / name
    srcs = [*paths, str(APP / "src" / "tinyrl_obs.c"), str(APP / "src" / "tinyrl_guard.c")]
    cmd = [_cc(), "-O2", *WARN, f"-I{tmp_path}", f"-I{APP / 'src'}", *srcs, "-lm", "-o", str(exe)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return exe


def _run_rows(exe: Path, rows: np.ndarray) -> np.ndarray:
    stdin = "\n".join(" ".join(repr(float(v)) for v in row) for row in rows)
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True).stdout
    return np.array([[float(v) for v in line.split()] for line in out.splitlines()])


def _scenario_with_every_feature(tmp_path: Path, mode: str) -> str:
    """A scenario observing every feature of the registry the app builds (light_bearing with 3 photodiodes)."""
    path = tmp_path / f"every-feature-{mode}.yaml"
    data = yaml.safe_load((ROOT / "envs" / "obstacle-course.yaml").read_text())
    features = [name for name in FEATURES if name in APP_FEATURES]
    data["observation"].update(features=features, action_ema_tau_s=2.0)
    data.setdefault("sensors", {})["light"] = {
        "offsets_m": [[0.04, 0.04, 0.0], [0.04, -0.04, 0.0], [-0.04, 0.0, 0.0]],
        "normals": [[1, 1, 0], [1, -1, 0], [-1, 0.2, 0.5]],
    }
    data["action"] = {**data.get("action", {}), "mode": mode}
    if mode == "discrete":
        data["action"]["discrete_actions"] = {
            "forward": {"vx_m_s": 0.4},
            "left": {"vy_m_s": 0.3, "yaw_rate_deg_s": 20},
            "turn": {"yaw_rate_deg_s": -45},
            "back": {"vx_m_s": -0.2, "vy_m_s": -0.1},
        }
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize(
    "env",
    [
        "obstacle-course",
        "hover",
        "source-seeking",
        "source-seeking-paper",
        "every-feature-continuous",
        "every-feature-discrete",
    ],
)
def test_observation_and_setpoint_match_simulator(tmp_path: Path, env: str) -> None:
    """The app's observation, action map (continuous, or argmax into the discrete table), fed-back action, averages
    and episode start against tinyrl.tasks.features / tinyrl.tasks.actions, on random readings."""
    if env.startswith("every-feature-"):
        env = _scenario_with_every_feature(tmp_path, env.removeprefix("every-feature-"))
    config = load_scenario(env)
    amap = action_map(config.action)
    exe = _build_host(tmp_path, env, {"harness.c": HARNESS}, "harness")

    rng = np.random.default_rng(0)
    n = 500
    width, n_light = amap.width, len(config.sensors.light.offsets_m)
    frame = SensorFrame(
        ranges_m=rng.uniform(0.05, config.sensors.multiranger.max_range_m, (n, 5)),
        flow=np.column_stack((rng.uniform(0, 3, n), rng.uniform(-3, 3, (n, 2)))),
        gyro_rad_s=rng.uniform(-5, 5, (n, 3)),
        light=rng.uniform(-0.5, 5, (n, n_light)),
        goal_heading_m=rng.uniform(-10, 10, (n, 3)),
        prev_action=rng.uniform(-1.2, 1.2, (n, width)),
        geofence_m=rng.uniform(0.0, 6.0, (n, 4)),
        action_ema=rng.uniform(-1.0, 1.0, (n, width)),
        ranges_ema=rng.uniform(0.05, config.sensors.multiranger.max_range_m, (n, 4)),
        light_log_ema=rng.uniform(np.log(LIGHT_LOG_FLOOR), 2.0, n),
        trail_m=np.zeros((n, 2)),  # not built by the app (the export refuses it)
        panorama_m=np.zeros((n, config.observation.panorama_sectors)),  # nor is this
    )
    frame.goal_heading_m[0, :2] = 0.0  # at the goal: bearing reads "ahead"
    frame.light[1] = 0.0  # in the dark: light_bearing's vector is 0
    if amap.discrete:
        # Logits, some rows with equal maxima (the first one wins, as numpy.argmax) as int8 outputs would give.
        output = rng.integers(-3, 3, (n, width)).astype(float) * 0.25
        actions = np.argmax(output, axis=1)
    else:
        output = rng.uniform(-1.5, 1.5, (n, 4))
        actions = output
    hold_z = rng.uniform(0.0, 2.5, (n, 1))
    # tinyrl_sensors' fields in order (the harness reads the struct as floats), as float32 like the C.
    fields = {
        "ranges_m": frame.ranges_m,
        "down_m": frame.flow[:, :1],
        "flow_m_s": frame.flow[:, 1:],
        "gyro_z_rad_s": frame.gyro_rad_s[:, 2:],
        "goal_heading_m": frame.goal_heading_m,
        "light": frame.light,
        "prev_action": frame.prev_action,
        "geofence_m": frame.geofence_m,
        "action_ema": frame.action_ema,
        "ranges_ema_m": frame.ranges_ema,
        "light_log_ema": frame.light_log_ema[:, None],
    }
    fields = {k: v.astype(np.float32).astype(np.float64) for k, v in fields.items()}
    got = _run_rows(exe, np.column_stack([*fields.values(), output, hold_z]))
    f32 = {k: np.asarray(getattr(frame, k), dtype=np.float32).astype(np.float64) for k in ("flow", "gyro_rad_s")}
    want = build_observation(
        SensorFrame(
            ranges_m=fields["ranges_m"],
            flow=f32["flow"],
            gyro_rad_s=f32["gyro_rad_s"],
            light=fields["light"],
            goal_heading_m=fields["goal_heading_m"],
            prev_action=fields["prev_action"],
            geofence_m=fields["geofence_m"],
            action_ema=fields["action_ema"],
            ranges_ema=fields["ranges_ema_m"],
            light_log_ema=fields["light_log_ema"][:, 0],
            trail_m=frame.trail_m,
            panorama_m=frame.panorama_m,
        ),
        config,
    )
    size = observation_size(config)
    cols = np.cumsum([size, 4, width, width, 4, 1, width])
    np.testing.assert_allclose(got[:, : cols[0]], want, rtol=2e-6, atol=2e-6)
    hold = hold_z[:, 0].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(got[:, cols[0] : cols[1]], amap.setpoints(actions, hold), rtol=2e-6, atol=2e-5)
    fed_back = amap.fed_back(actions, n)
    np.testing.assert_allclose(got[:, cols[1] : cols[2]], fed_back, rtol=2e-6, atol=2e-6)
    ema = fields["action_ema"]
    alpha = ema_alpha(config.policy_rate_hz, config.observation.action_ema_tau_s)
    np.testing.assert_allclose(got[:, cols[2] : cols[3]], ema + alpha * (fed_back - ema), rtol=2e-6, atol=2e-6)
    ema = fields["ranges_ema_m"]
    alpha = ema_alpha(config.policy_rate_hz, config.observation.ranges_ema_tau_s)
    want_ema = ema + alpha * (fields["ranges_m"][:, :4] - ema)
    np.testing.assert_allclose(got[:, cols[3] : cols[4]], want_ema, rtol=2e-6, atol=2e-5)
    ema = fields["light_log_ema"][:, 0]
    alpha = ema_alpha(config.policy_rate_hz, config.observation.light_ema_tau_s)
    want_ema = ema + alpha * (light_log(fields["light"]) - ema)
    np.testing.assert_allclose(got[:, cols[4]], want_ema, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(got[:, cols[5] : cols[6]], amap.at_start(hold), rtol=2e-6, atol=2e-6)


def test_every_simulator_feature_is_built_or_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry's features are the app's (each run above) or refused by the exporter; a feature new to the
    registry is refused by the exporter and, should a layout with it reach the app, by tinyrl_obs.c's #error."""
    app_c = (APP / "src" / "tinyrl_obs.c").read_text()
    built = set(re.findall(r"#ifdef (TINYRL_OBS_\w+)_OFFSET", app_c))
    assert built == {feature_macro(name) for name in APP_FEATURES}
    monkeypatch.setitem(FEATURES, "new_sensor", Feature(lambda c: 2, lambda f, c: np.zeros((1, 2)), "a new sensor"))
    refused = set(FEATURES) - APP_FEATURES
    assert "new_sensor" in refused
    data = yaml.safe_load((ROOT / "envs" / "obstacle-course.yaml").read_text())
    for name in sorted(refused):
        path = tmp_path / f"with-{name}.yaml"
        data["observation"]["features"] = ["ranges", name]
        path.write_text(yaml.safe_dump(data))
        size = observation_size(load_scenario(str(path)))
        with pytest.raises(ExportError, match=f"observes {name}, which the Crazyflie app does not build"):
            obs_layout_header(str(path), size)
    # The C side: a layout header with a block tinyrl_obs.c does not know stops the build.
    layout = obs_layout_header("obstacle-course", observation_size(load_scenario("obstacle-course")))
    size = observation_size(load_scenario("obstacle-course"))
    layout = layout.replace(f"#define TINYRL_OBS_SIZE {size}", f"#define TINYRL_OBS_SIZE {size + 2}")
    layout = layout.replace("#endif /* TINYRL_OBS_LAYOUT_H */", "#define TINYRL_OBS_NEW_SENSOR_OFFSET 0\n#endif")
    (tmp_path / "tinyrl_obs_layout.h").write_text(layout)
    cmd = [_cc(), *WARN, f"-I{tmp_path}", f"-I{APP / 'src'}", "-c", str(APP / "src" / "tinyrl_obs.c")]
    result = subprocess.run([*cmd, "-o", str(tmp_path / "obs.o")], capture_output=True, text=True)
    assert result.returncode != 0 and "an observation feature the Crazyflie app does not build" in result.stderr


def test_app_layout_follows_hello_world() -> None:
    assert "CRAZYFLIE_BASE ?=" in (APP / "Makefile").read_text()
    assert "include $(CRAZYFLIE_BASE)/tools/make/oot.mk" in (APP / "Makefile").read_text()
    config = (APP / "app-config").read_text()
    assert "CONFIG_APP_ENABLE=y" in config and "CONFIG_APP_STACKSIZE=" in config
    app = (APP / "src" / "tinyrl_app.c").read_text()
    assert app.index('#define DEBUG_MODULE "TINYRL"') < app.index('#include "debug.h"')
    for needle in (
        "void appMain(void)",
        "tinyrl_range_m(rangeGet((rangeDirection_t)d), &s->ranges_m[d])",
        "tinyrl_down_range_m(rangeGet(rangeDown), z)",
        "setpoint.mode.z = modeAbs",
        "setpoint.velocity_body = true",
        "PARAM_GROUP_START(tinyrl)",
        "LOG_GROUP_START(tinyrl)",
        "tinyrl_policy_run(obs, output)",
        "commanderSetSetpoint(&setpoint, TINYRL_COMMANDER_PRIORITY)",
        "#define TINYRL_COMMANDER_PRIORITY COMMANDER_PRIORITY_LOWEST",
        "crtpCommanderHighLevelDisable()",
        "commanderGetActivePriority() > TINYRL_COMMANDER_PRIORITY",
    ):
        assert needle in app, needle


GEOFENCE_HARNESS = r"""
#include <stdio.h>
#include "tinyrl_obs.h"
int main(void)
{
    float x, y, yaw, lo[2], hi[2], out[4];
    while (scanf("%f %f %f %f %f %f %f", &x, &y, &yaw, &lo[0], &lo[1], &hi[0], &hi[1]) == 7) {
        tinyrl_geofence(x, y, yaw, lo, hi, out);
        printf("%.9g %.9g %.9g %.9g\n", (double)out[0], (double)out[1], (double)out[2], (double)out[3]);
    }
    return 0;
}
"""


def test_geofence_matches_simulator(tmp_path: Path) -> None:
    from tinyrl.tasks.core import _box_exit_distances

    cc = shutil.which("gcc")
    if cc is None:
        pytest.fail("gcc not found: run `make setup`")
    (tmp_path / "tinyrl_obs_layout.h").write_text(
        obs_layout_header("obstacle-course", observation_size(load_scenario("obstacle-course")))
    )
    (tmp_path / "g.c").write_text(GEOFENCE_HARNESS)
    exe = tmp_path / "g"
    srcs = [str(tmp_path / "g.c"), str(APP / "src" / "tinyrl_obs.c")]
    subprocess.run([cc, "-O2", *WARN, f"-I{tmp_path}", f"-I{APP / 'src'}", *srcs, "-lm", "-o", str(exe)], check=True)
    rng = np.random.default_rng(1)
    n = 300
    rows = np.column_stack(
        (
            rng.uniform(-3.5, 3.5, n),
            rng.uniform(-2, 2, n),
            rng.uniform(-4, 4, n),
            np.full(n, -3.0),
            np.full(n, -1.5),
            np.full(n, 3.0),
            np.full(n, 1.5),
        )
    ).astype(np.float32)
    rows[0, 2] = 0.0  # axis-aligned: one component of each direction is exactly zero
    out = subprocess.run(
        [str(exe)],
        input="\n".join(" ".join(repr(float(v)) for v in r) for r in rows),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    got = np.array([[float(v) for v in line.split()] for line in out.splitlines()])
    r = rows.astype(np.float64)
    want = _box_exit_distances(r[:, :2], np.cos(r[:, 2]), np.sin(r[:, 2]), r[:, 3:5], r[:, 5:7])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert (want[:, :] >= 0).all() and (want.max() > 1)


STUBS = Path(__file__).resolve().parent / "crazyflie_stubs"


def _export_sources(folder: Path, env: str) -> None:
    """The C files `tinyrl export policies/ENV --env ENV` writes, without its on-target verification (fast, no
    QEMU)."""
    from tinyrl.compress.tflite_reader import load_tflite
    from tinyrl.export import codegen
    from tinyrl.export.pipeline import resolve_model

    path = resolve_model(ROOT / "policies" / env)
    data = path.read_bytes()
    model = load_tflite(path)
    files = codegen.generate(model, codegen.model_hash(data), "tflm", path.name)
    files["tinyrl_obs_layout.h"] = obs_layout_header(env, model.in_features, model.out_features)
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)


#: app-config lines of each light-sensor choice (CONFIG_TINYRL_LIGHT_*, see firmware/crazyflie/app-config).
LIGHT_CONFIGS = {
    "none": [],
    "log": ['CONFIG_TINYRL_LIGHT_LOG_VARS="lightDeck.left lightDeck.right"', 'CONFIG_TINYRL_LIGHT_SCALE="0.02"'],
    "adc": ['CONFIG_TINYRL_LIGHT_ADC_PINS="DECK_GPIO_TX2 DECK_GPIO_RX2"', 'CONFIG_TINYRL_LIGHT_OFFSET="12.5"'],
}


def _kbuild_flags(tmp_path: Path, config_lines: list[str]) -> list[str]:
    """The compiler flags src/Kbuild derives from an app-config holding ``config_lines`` (run by make, as the
    firmware's Kbuild runs it)."""
    oot = tmp_path / "oot"
    oot.mkdir()
    (oot / "app-config").write_text("\n".join(["CONFIG_APP_ENABLE=y", *config_lines, ""]))
    (oot / "flags.mk").write_text(f"include {APP / 'src' / 'Kbuild'}\n$(info $(ccflags-y))\nall: ;\n")
    make = shutil.which("make")
    if make is None:
        pytest.fail("make not found: run `make setup`")
    out = subprocess.run([make, "-s", "-f", str(oot / "flags.mk"), f"OOT={oot}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return shlex.split(out.stdout)


@pytest.mark.parametrize(
    ("env", "light"),
    [
        ("obstacle-course", "none"),
        ("source-seeking", "none"),
        ("source-seeking", "log"),
        ("source-seeking", "adc"),
        ("source-seeking-paper", "adc"),
    ],
)
@pytest.mark.parametrize("cc", ["gcc", "arm-none-eabi-gcc"])
def test_app_compiles_against_the_firmware_api(tmp_path: Path, cc: str, env: str, light: str) -> None:
    """tinyrl_app.c against stubs of the firmware headers it uses (tests/firmware/crazyflie_stubs, signatures checked
    against the firmware commit in firmware/crazyflie/README.md), for a continuous and a discrete policy and each
    light-sensor choice: CI has no firmware tree, so this is the compile check that runs everywhere;
    scripts/build_crazyflie_app.sh is the real build."""
    compiler = shutil.which(cc)
    if compiler is None:
        pytest.fail(f"{cc} not found: run `make setup`")
    policy = tmp_path / "policy"
    _export_sources(policy, env)
    defines = _kbuild_flags(tmp_path, LIGHT_CONFIGS[light])
    assert len(defines) == len(LIGHT_CONFIGS[light])  # one macro per option
    # The firmware's own flags (-std=gnu11 -Wall -Wdouble-promotion -Os -Werror) and then some.
    flags = ["-std=gnu11", "-Os", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wdouble-promotion", "-Wformat=2"]
    if cc.startswith("arm"):
        flags += ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-fno-math-errno"]
    for src in ("tinyrl_app.c", "tinyrl_obs.c", "tinyrl_guard.c"):
        cmd = [compiler, *flags, *defines, f"-I{STUBS}", f"-I{policy}", f"-I{APP / 'src'}", "-c"]
        result = subprocess.run(
            [*cmd, str(APP / "src" / src), "-o", str(tmp_path / "app.o")], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr


def test_light_config_reaches_the_app(tmp_path: Path) -> None:
    """app-config's light options become the C initializers tinyrl_app.c reads (src/Kbuild does the conversion)."""
    want = {
        "log": ['-DTINYRL_LIGHT_LOG_VARS={"lightDeck","left"},{"lightDeck","right"}', "-DTINYRL_LIGHT_SCALE=0.02f"],
        "adc": ["-DTINYRL_LIGHT_ADC_PINS=&DECK_GPIO_TX2,&DECK_GPIO_RX2", "-DTINYRL_LIGHT_OFFSET=12.5f"],
        "none": [],
    }
    for name, flags in want.items():
        (tmp_path / name).mkdir()
        assert _kbuild_flags(tmp_path / name, LIGHT_CONFIGS[name]) == flags, name


def test_debug_print_formats_fit_the_firmware_eprintf() -> None:
    """DEBUG_PRINT goes to the firmware's own eprintf, which knows %d %i %u %x %X %l(l)d/u/x %f %s %c and %%, with a
    width and, for %f only, a one-digit precision; anything else prints wrong or (a %s precision such as %.16s)
    loops forever in the app's task."""
    app = (APP / "src" / "tinyrl_app.c").read_text()
    formats = re.findall(r'DEBUG_PRINT\(\s*"((?:[^"\\]|\\.)*)"', app)
    assert formats
    spec = re.compile(r"%(?:%|0*\d*(?:[diuxXsc]|(?:\.\d)?f|l{1,2}[diuxX]))")
    for fmt in formats:
        assert "%" not in spec.sub("", fmt), fmt


def test_kbuild_compiles_every_exported_source() -> None:
    """Kbuild names the export's .c files one by one: they must be exactly what `tinyrl export` writes."""
    from tinyrl.export.codegen import RUNTIME_FILES

    kbuild = (APP / "Kbuild").read_text()
    listed = set(re.findall(r"^obj-y \+= policy/(\S+)\.o$", kbuild, flags=re.M))
    exported = {"tinyrl_policy"} | {name[:-2] for name in RUNTIME_FILES if name.endswith(".c")}
    assert listed == exported


RANGE_HARNESS = r"""
#include <stdio.h>
#include "tinyrl_obs.h"
/* Per line: a multi-ranger reading (mm), a down-range reading (mm), the height estimate (m). */
int main(void)
{
    float mm, down_mm, z;
    while (scanf("%f %f %f", &mm, &down_mm, &z) == 3) {
        float m = -1.0f;
        const int ok = tinyrl_range_m(mm, &m);
        printf("%d %.9g %.9g\n", ok, (double)m, (double)tinyrl_down_range_m(down_mm, z));
    }
    return 0;
}
"""


def test_ranges_are_sanitised(tmp_path: Path) -> None:
    """A multi-ranger reading of 0 (a missing deck or failed sensor never wrote one) is no reading, not "free at
    max range"; out of range (32767 mm) reads max_range_m as in the simulator. The down range's 0 and outliers
    (at or beyond the driver's 5 m limit) read the height estimate; the result stays within the flow deck's range."""
    config = load_scenario("obstacle-course")
    exe = _build_host(tmp_path, "obstacle-course", {"ranges.c": RANGE_HARNESS}, "ranges")
    max_m, down_max_m = config.sensors.multiranger.max_range_m, config.sensors.flow.max_range_m
    rows = np.array(
        [
            # ranger mm, down mm, z estimate m -> (ok, ranger m), down m
            [0.0, 0.0, 0.8],
            [1234.0, 812.0, 0.8],
            [32767.0, 65535.0, 0.75],
            [4000.0, 5000.0, 0.9],
            [3999.0, 4999.0, 1.1],
            [12.0, 3.0, -0.2],
            [5.0, 0.0, 9.0],
        ]
    )
    got = _run_rows(exe, rows)
    want = [
        (0, None, 0.8),
        (1, 1.234, 0.812),
        (1, max_m, 0.75),
        (1, 4.0, 0.9),
        (1, 3.999, min(4.999, down_max_m)),
        (1, 0.012, 0.003),
        (1, 0.005, down_max_m),
    ]
    for row, (ok, ranger_m, down_m) in zip(got, want, strict=True):
        assert row[0] == ok
        if ranger_m is not None:
            assert row[1] == pytest.approx(min(ranger_m, max_m), rel=1e-6)
        assert row[2] == pytest.approx(down_m, rel=1e-6)


def test_velocity_is_read_in_the_setpoint_frame() -> None:
    """The flow feature comes from the estimator's world-frame velocity turned by the yaw into the heading frame,
    the frame of the hover setpoint's velocity_body, not from kalman.statePX/PY (body frame, tilted, and stale
    under another estimator)."""
    app = (APP / "src" / "tinyrl_app.c").read_text()
    assert 'logGetVarId("stateEstimate", "vx")' in app and 'logGetVarId("stateEstimate", "vy")' in app
    assert "kalman" not in app.replace("Kalman", "")
    assert "tinyrl_world_to_heading(logGetFloat(ids->vx), logGetFloat(ids->vy), yaw_rad" in app
    assert "stateEstimatorGetType() != StateEstimatorTypeKalman" in app


GUARD_HARNESS = r"""
#include <stdio.h>
#include "tinyrl_guard.h"
/* One line per policy period: enable can_fly taken_over high_level_active faults policy_status (the status a
 * policy run would return this step). Prints what the app does, as tinyrl_app.c's loop combines the two calls. */
int main(int argc, char **argv)
{
    tinyrl_guard g;
    unsigned max_bad = 0;
    if (argc != 2 || sscanf(argv[1], "%u", &max_bad) != 1) return 2;
    tinyrl_guard_init(&g, max_bad);
    int enable, can_fly, taken_over, hl, status;
    unsigned faults;
    while (scanf("%d %d %d %d %u %d", &enable, &can_fly, &taken_over, &hl, &faults, &status) == 6) {
        const tinyrl_guard_input in = {enable != 0, can_fly != 0, taken_over != 0, hl != 0, faults};
        tinyrl_guard_output out = tinyrl_guard_step(&g, &in);
        if (out.send == TINYRL_SEND_POLICY) {
            const tinyrl_guard_output done = tinyrl_guard_policy_done(&g, status);
            out.send = done.send;
            out.begin_hold = done.begin_hold;
            out.clear_enable = out.clear_enable || done.clear_enable;
        }
        printf("%d %d %d %d %d %d %u\n", (int)out.send, out.start, out.begin_hold, out.clear_enable, (int)g.state,
               (int)g.reason, g.faults);
        fflush(stdout);
    }
    return 0;
}
"""
#: tinyrl_guard.h's numbers.
NOTHING, POLICY, HOLD = 0, 1, 2
IDLE, FLYING, HOLDING = 0, 1, 2
REASON = {"none": 0, "disabled": 1, "taken_over": 2, "high_level": 3, "supervisor": 4, "not_ready": 5, "bad_steps": 6}
FAULT = {"log_var": 1, "ranger_deck": 2, "ranger": 4, "down_deck": 8, "estimator": 16, "light": 32, "policy": 128}
MAX_BAD_STEPS = 3


@dataclass
class GuardStep:
    send: int
    start: bool
    begin_hold: bool
    clear_enable: bool
    state: int
    reason: int
    faults: int


class App:
    """tinyrl_guard driven step by step as tinyrl_app.c drives it: the app clears tinyrl.enable when told to and
    takes the commander on start."""

    def __init__(self, exe: Path) -> None:
        self.proc = subprocess.Popen(
            [str(exe), str(MAX_BAD_STEPS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.enable = False
        self.can_fly = True
        self.taken_over = False
        self.high_level = False
        self.faults = 0

    def step(self, policy_status: int = 0) -> GuardStep:
        """One policy period with the current firmware state."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        row = (self.enable, self.can_fly, self.taken_over, self.high_level)
        self.proc.stdin.write(" ".join(str(int(v)) for v in row) + f" {self.faults} {policy_status}\n")
        self.proc.stdin.flush()
        send, start, begin, clear, state, reason, faults = (int(v) for v in self.proc.stdout.readline().split())
        if clear:
            self.enable = False
        if start:  # the app takes the commander: planner disabled, priority relaxed
            self.high_level = self.taken_over = False
        return GuardStep(send, bool(start), bool(begin), bool(clear), state, reason, faults)

    def fly(self, steps: int = 5) -> None:
        """Enable and fly the policy for a few steps."""
        self.enable = True
        first = self.step()
        assert (first.send, first.start, first.state) == (POLICY, True, FLYING)
        for _ in range(steps - 1):
            assert self.step() == GuardStep(POLICY, False, False, False, FLYING, REASON["none"], 0)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait() == 0


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[App]:
    """A fresh guard (the app's state machine, compiled for the host), idle, the drone hovering."""
    exe = _build_host(tmp_path, "obstacle-course", {"guard.c": GUARD_HARNESS}, "guard")
    a = App(exe)
    yield a
    a.close()


def test_client_stop_stops_the_policy(app: App) -> None:
    """A client setpoint (cflib's send_stop_setpoint, priority 2) raises the commander's priority above the app's:
    from that step on the app sends nothing and clears tinyrl.enable, even once the priority drops again."""
    app.fly()
    app.taken_over = True
    step = app.step()
    assert step == GuardStep(NOTHING, False, False, True, IDLE, REASON["taken_over"], 0)
    assert not app.enable
    app.taken_over = False  # e.g. the client's notify-setpoints-stop relaxed the priority
    for _ in range(10):
        assert app.step().send == NOTHING


def test_high_level_command_and_supervisor_stop_the_policy(app: App) -> None:
    """A high-level command (land, go-to) or the supervisor (disarm, emergency stop) ends the policy at once;
    enabling takes over from a high-level hover (the app then disables the planner)."""
    app.fly()
    app.high_level = True
    assert app.step() == GuardStep(NOTHING, False, False, True, IDLE, REASON["high_level"], 0)
    app.high_level = True
    app.fly()  # the planner still flying (e.g. holding after a take-off): enabling takes over
    app.can_fly = False
    assert app.step() == GuardStep(NOTHING, False, False, True, IDLE, REASON["supervisor"], 0)
    app.enable = True  # disarmed: enabling is refused
    assert app.step() == GuardStep(NOTHING, False, False, True, IDLE, REASON["supervisor"], 0)


def test_disable_hands_over_to_a_hover_in_place(app: App) -> None:
    """tinyrl.enable = 0 holds a hover in place (one hover point for the whole hold) until a client takes over."""
    app.fly()
    app.enable = False
    first = app.step()
    assert first == GuardStep(HOLD, False, True, False, HOLDING, REASON["disabled"], 0)
    for _ in range(50):  # no watchdog, no last policy velocity: the hold goes on
        assert app.step() == GuardStep(HOLD, False, False, False, HOLDING, REASON["disabled"], 0)
    app.taken_over = True
    assert app.step() == GuardStep(NOTHING, False, False, False, IDLE, REASON["taken_over"], 0)
    app.taken_over = False
    assert app.step().send == NOTHING
    app.fly()  # enabling again starts a new episode


@pytest.mark.parametrize("fault", ["ranger_deck", "ranger", "down_deck", "estimator", "light", "log_var"])
def test_missing_deck_sensor_or_estimator_refuses_to_start(app: App, fault: str) -> None:
    """A missing multi-ranger or down-ranger deck, a ranger without reading, an estimator other than Kalman, no
    light sensor: enabling is refused (nothing sent, tinyrl.enable cleared, the fault logged)."""
    app.faults = FAULT[fault]
    app.enable = True
    assert app.step() == GuardStep(NOTHING, False, False, True, IDLE, REASON["not_ready"], FAULT[fault])
    assert app.step().send == NOTHING
    app.faults = 0
    app.fly()


def test_fault_in_flight_holds_then_stops_the_policy(app: App) -> None:
    """A fault in flight (a ranger's readings stop, the estimator switches away from Kalman) holds in place at
    once; gone within MAX_BAD_STEPS steps the policy resumes, else the app stops it and keeps holding."""
    app.fly()
    app.faults = FAULT["estimator"]
    assert app.step() == GuardStep(HOLD, False, True, False, FLYING, REASON["none"], FAULT["estimator"])
    app.faults = 0
    assert app.step().send == POLICY
    app.faults = FAULT["ranger"]
    steps = [app.step() for _ in range(MAX_BAD_STEPS)]
    assert [s.send for s in steps] == [HOLD] * MAX_BAD_STEPS
    assert [s.begin_hold for s in steps] == [True] + [False] * (MAX_BAD_STEPS - 1)
    assert steps[-1] == GuardStep(HOLD, False, False, True, HOLDING, REASON["bad_steps"], FAULT["ranger"])
    assert app.step().send == HOLD


def test_policy_error_recovers_without_reboot(app: App) -> None:
    """One failed policy run holds that step and the next one runs the policy again; MAX_BAD_STEPS in a row stop
    it (hold, reason and fault logged) and enabling again flies, no reboot."""
    app.fly()
    step = app.step(policy_status=-1)
    assert step == GuardStep(HOLD, False, True, False, FLYING, REASON["none"], FAULT["policy"])
    assert app.step() == GuardStep(POLICY, False, False, False, FLYING, REASON["none"], 0)
    steps = [app.step(policy_status=-2) for _ in range(MAX_BAD_STEPS)]
    assert steps[-1] == GuardStep(HOLD, False, False, True, HOLDING, REASON["bad_steps"], FAULT["policy"])
    assert app.step().send == HOLD
    app.fly()


def test_failed_build_leaves_no_image(tmp_path: Path) -> None:
    """A failed scripts/build_crazyflie_app.sh leaves no cf2.bin (nor .hex, .elf) from an earlier build, so
    `make cload` cannot flash a stale image: for a missing firmware tree and for a broken policy folder."""
    # A checkout of its own (the script, tinyrl, the scenarios, the app), so the stale image is not the real one.
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "build_crazyflie_app.sh", root / "scripts")
    shutil.copytree(ROOT / "tinyrl", root / "tinyrl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "envs", root / "envs")
    shutil.copytree(APP, root / "firmware" / "crazyflie", ignore=shutil.ignore_patterns("build", "policy", "*.o"))
    build = root / "firmware" / "crazyflie" / "build"
    # A directory laid out as the script checks a firmware tree (its build is never reached).
    firmware = tmp_path / "firmware-tree"
    for sub in ("tools/make", "vendor/FreeRTOS/include", "vendor/CMSIS/CMSIS", "vendor/libdw1000/inc"):
        (firmware / sub).mkdir(parents=True)
    (firmware / "tools" / "make" / "oot.mk").write_text("")
    broken = tmp_path / "broken-policy"
    broken.mkdir()
    (broken / "policy_int8.tflite").write_bytes(b"not a flatbuffer")
    env = {k: v for k, v in os.environ.items() if k != "CRAZYFLIE_BASE"}
    env.update(TINYRL_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    for case, extra in (("no firmware tree", {}), ("broken policy", {"CRAZYFLIE_BASE": str(firmware)})):
        build.mkdir(exist_ok=True)
        for name in ("cf2.bin", "cf2.hex", "cf2.elf"):
            (build / name).write_bytes(b"stale image")
        result = subprocess.run(
            ["bash", str(root / "scripts" / "build_crazyflie_app.sh"), str(broken), "obstacle-course"],
            env={**env, **extra},
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0, case
        assert not list(build.glob("cf2.*")), case
    assert "policy_int8.tflite" in result.stderr  # the second run failed at the export, after the firmware check


def test_generated_files_are_ignored() -> None:
    """What a firmware build writes into firmware/crazyflie (objects, Kbuild's .cmd and dependency files, gcc's
    call-graph files, the build folder, the exported policy) stays out of git."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.fail("the tests run in a git checkout with git installed")
    names = ["src/.tinyrl_app.o.d", "src/.tinyrl_app.o.cmd", "src/tinyrl_app.o", "src/tinyrl_app.ci", "built-in.o"]
    names += ["build/cf2.bin", "policy/tinyrl_policy.c", ".built-in.o.cmd"]
    paths = [f"firmware/crazyflie/{name}" for name in names]
    result = subprocess.run([git, "-C", str(ROOT), "check-ignore", *paths], capture_output=True, text=True)
    assert sorted(result.stdout.split()) == sorted(paths)
