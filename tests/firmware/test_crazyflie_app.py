"""firmware/crazyflie: the app's plain-C observation and setpoint code against the simulator's Python.

The app itself needs the Crazyflie firmware tree to build; its portable part (src/tinyrl_obs.c) is compiled here with
the layout header `tinyrl export --env` writes and compared with tinyrl.tasks.features.build_observation.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from tinyrl.export.obs_layout import obs_layout_header
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.features import SensorFrame, build_observation, ema_alpha, observation_size

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "firmware" / "crazyflie"
WARN = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wshadow"]
HARNESS = r"""
#include <stdio.h>
#include "tinyrl_obs.h"
int main(void)
{
    tinyrl_sensors s;
    float obs[TINYRL_OBS_SIZE];
    tinyrl_hover h;
    float *fields = (float *)&s;
    while (1) {
        for (unsigned i = 0; i < sizeof(s) / sizeof(float); ++i) {
            if (scanf("%f", &fields[i]) != 1) return 0;
        }
        tinyrl_build_observation(&s, obs);
        tinyrl_action_to_hover(s.prev_action, &h);
        tinyrl_ema_update(s.action_ema, s.prev_action, TINYRL_ACTION_EMA_ALPHA);
        tinyrl_ema_update(s.ranges_ema_m, s.ranges_m, TINYRL_RANGES_EMA_ALPHA);
        for (int i = 0; i < TINYRL_OBS_SIZE; ++i) printf("%.9g ", (double)obs[i]);
        printf("%.9g %.9g %.9g %.9g ", (double)h.vx_m_s, (double)h.vy_m_s, (double)h.yaw_rate_deg_s, (double)h.z_m);
        for (int i = 0; i < 4; ++i) printf("%.9g ", (double)s.action_ema[i]);
        for (int i = 0; i < 4; ++i) printf("%.9g ", (double)s.ranges_ema_m[i]);
        printf("\n");
    }
}
"""


#: Every feature the app builds (the "all-features" case, with a 2 s action average).
ALL_FEATURES = "ranges up_range height flow yaw_rate goal prev_action action_ema geofence ranges_ema".split()


@pytest.mark.parametrize("env", ["obstacle-course", "hover", "all-features"])
def test_observation_and_setpoint_match_simulator(tmp_path: Path, env: str) -> None:
    cc = shutil.which("gcc")
    if cc is None:
        pytest.fail("gcc not found: run `make setup`")
    if env == "all-features":
        path = tmp_path / "all-features.yaml"
        data = yaml.safe_load((ROOT / "envs" / "obstacle-course.yaml").read_text())
        data["observation"].update(features=ALL_FEATURES, action_ema_tau_s=2.0)
        path.write_text(yaml.safe_dump(data))
        env = str(path)
    config = load_scenario(env)
    (tmp_path / "tinyrl_obs_layout.h").write_text(obs_layout_header(env, observation_size(config)))
    (tmp_path / "harness.c").write_text(HARNESS)
    exe = tmp_path / "harness"
    srcs = [str(tmp_path / "harness.c"), str(APP / "src" / "tinyrl_obs.c")]
    cmd = [cc, "-O2", *WARN, f"-I{tmp_path}", f"-I{APP / 'src'}", *srcs, "-lm", "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)

    rng = np.random.default_rng(0)
    n = 500
    frame = SensorFrame(
        ranges_m=rng.uniform(0.05, config.sensors.multiranger.max_range_m, (n, 5)),
        flow=np.column_stack((rng.uniform(0, 3, n), rng.uniform(-3, 3, (n, 2)))),
        gyro_rad_s=rng.uniform(-5, 5, (n, 3)),
        light=rng.uniform(0, 5, (n, 2)),
        goal_heading_m=rng.uniform(-10, 10, (n, 3)),
        prev_action=rng.uniform(-1.2, 1.2, (n, 4)),
        geofence_m=rng.uniform(0.0, 6.0, (n, 4)),
        action_ema=rng.uniform(-1.0, 1.0, (n, 4)),
        ranges_ema=rng.uniform(0.05, config.sensors.multiranger.max_range_m, (n, 4)),
    )
    frame.goal_heading_m[0, :2] = 0.0  # at the goal: bearing reads "ahead"
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
    }
    fields = {k: v.astype(np.float32).astype(np.float64) for k, v in fields.items()}
    rows = np.column_stack(list(fields.values()))
    stdin = "\n".join(" ".join(repr(float(v)) for v in row) for row in rows)
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True).stdout
    got = np.array([[float(v) for v in line.split()] for line in out.splitlines()])
    want = build_observation(
        SensorFrame(
            *(
                np.asarray(getattr(frame, f), dtype=np.float32).astype(np.float64)
                for f in ("ranges_m", "flow", "gyro_rad_s", "light", "goal_heading_m", "prev_action", "geofence_m")
            ),
            action_ema=fields["action_ema"],
            ranges_ema=fields["ranges_ema_m"],
        ),
        config,
    )
    size = observation_size(config)
    np.testing.assert_allclose(got[:, :size], want, rtol=2e-6, atol=2e-6)
    a = np.clip(fields["prev_action"], -1, 1)
    lo, hi = config.action.z_range_m
    setpoint = np.column_stack(
        (
            a[:, 0] * config.action.max_speed_m_s,
            a[:, 1] * config.action.max_speed_m_s,
            a[:, 2] * config.action.max_yaw_rate_deg_s,
            lo + (a[:, 3] + 1) * 0.5 * (hi - lo),
        )
    )
    np.testing.assert_allclose(got[:, size : size + 4], setpoint, rtol=2e-6, atol=2e-5)
    ema = fields["action_ema"]
    want_ema = ema + ema_alpha(config.policy_rate_hz, config.observation.action_ema_tau_s) * (fields["prev_action"] - ema)  # as TaskCore.step (clipped there)
    np.testing.assert_allclose(got[:, size + 4 : size + 8], want_ema, rtol=2e-6, atol=2e-6)
    ema = fields["ranges_ema_m"]
    alpha = ema_alpha(config.policy_rate_hz, config.observation.ranges_ema_tau_s)
    want_ema = ema + alpha * (fields["ranges_m"][:, :4] - ema)
    np.testing.assert_allclose(got[:, size + 8 :], want_ema, rtol=2e-6, atol=2e-5)


def test_app_layout_follows_hello_world() -> None:
    assert "CRAZYFLIE_BASE ?=" in (APP / "Makefile").read_text()
    assert "include $(CRAZYFLIE_BASE)/tools/make/oot.mk" in (APP / "Makefile").read_text()
    config = (APP / "app-config").read_text()
    assert "CONFIG_APP_ENABLE=y" in config and "CONFIG_APP_STACKSIZE=" in config
    app = (APP / "src" / "tinyrl_app.c").read_text()
    assert app.index('#define DEBUG_MODULE "TINYRL"') < app.index('#include "debug.h"')
    for needle in (
        "void appMain(void)",
        "tinyrl_range_m(rangeFront)",
        "rangeGet(direction)",
        "commanderSetSetpoint(&setpoint",
        "setpoint.mode.z = modeAbs",
        "setpoint.velocity_body = true",
        "PARAM_GROUP_START(tinyrl)",
        "LOG_GROUP_START(tinyrl)",
        "tinyrl_policy_run(obs, action)",
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
    """The C files `tinyrl export --env` writes, without its on-target verification (fast, no QEMU)."""
    from tinyrl.compress.tflite_reader import load_tflite
    from tinyrl.export import codegen
    from tinyrl.export.pipeline import resolve_model

    path = resolve_model(None)
    data = path.read_bytes()
    model = load_tflite(path)
    files = codegen.generate(model, codegen.model_hash(data), "tflm", path.name)
    files["tinyrl_obs_layout.h"] = obs_layout_header(env, model.in_features)
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.mark.parametrize("cc", ["gcc", "arm-none-eabi-gcc"])
def test_app_compiles_against_the_firmware_api(tmp_path: Path, cc: str) -> None:
    """tinyrl_app.c against stubs of the firmware headers it uses (tests/firmware/crazyflie_stubs, signatures checked
    against the firmware commit in firmware/crazyflie/README.md): CI has no firmware tree, so this is the compile
    check that runs everywhere; scripts/build_crazyflie_app.sh is the real build."""
    compiler = shutil.which(cc)
    if compiler is None:
        pytest.fail(f"{cc} not found: run `make setup`")
    policy = tmp_path / "policy"
    _export_sources(policy, "obstacle-course")
    # The firmware's own flags (-std=gnu11 -Wall -Wdouble-promotion -Os -Werror) and then some.
    flags = ["-std=gnu11", "-Os", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wdouble-promotion", "-Wformat=2"]
    if cc.startswith("arm"):
        flags += ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-fno-math-errno"]
    for src in ("tinyrl_app.c", "tinyrl_obs.c"):
        cmd = [compiler, *flags, f"-I{STUBS}", f"-I{policy}", f"-I{APP / 'src'}", "-c", str(APP / "src" / src)]
        result = subprocess.run([*cmd, "-o", str(tmp_path / "app.o")], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


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
