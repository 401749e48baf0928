"""``tinyrl/data/crazyflie_app.yaml`` follows the app: its ``tinyrl`` params and logs are ``tinyrl_app.c``'s."""

from __future__ import annotations

import re

from scenario_support import ROOT

from tinyrl.hil.crtp import app_table

APP_C = ROOT / "firmware" / "crazyflie" / "src" / "tinyrl_app.c"


def _group(source: str, kind: str) -> str:
    match = re.search(rf"{kind}_GROUP_START\(tinyrl\)(.*?){kind}_GROUP_STOP\(tinyrl\)", source, re.S)
    assert match, f"no {kind} group tinyrl in {APP_C.name}"
    return match.group(1)


def _default(source: str, variable: str) -> float:
    """A static's initial value in the C source (0 without an initializer, as C zeroes statics)."""
    match = re.search(rf"\b{re.escape(variable)}\s*=\s*(-?[0-9.]+)f?\s*[,;]", source)
    return float(match.group(1)) if match else 0.0


def test_the_table_holds_the_apps_params_with_their_types_and_defaults() -> None:
    source = APP_C.read_text()
    in_c = {
        f"tinyrl.{name}": (ctype.lower(), _default(source, variable))
        for ctype, name, variable in re.findall(r"PARAM_ADD\(PARAM_(\w+),\s*(\w+),\s*&(\w+)\)", _group(source, "PARAM"))
    }
    table = {p.full_name: (p.ctype, p.default) for p in app_table().params if p.group == "tinyrl"}
    assert table == in_c


def test_the_table_holds_the_apps_log_variables_with_their_types() -> None:
    in_c = {
        f"tinyrl.{name}": ctype.lower()
        for ctype, name in re.findall(r"LOG_ADD\(LOG_(\w+),\s*(\w+),", _group(APP_C.read_text(), "LOG"))
    }
    table = {v.full_name: v.ctype for v in app_table().logs if v.group == "tinyrl"}
    assert table == in_c
