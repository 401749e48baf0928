"""What the Crazyflie app takes in a real firmware build, and the README table made from it.

``measure`` reads a finished ``scripts/build_crazyflie_app.sh`` build (``cf2.elf``, ``cf2.bin``, ``cf2.map`` and the
``-fcallgraph-info=su`` files ``tinyrl deploy`` asks gcc for) and writes ``sizes.json``; ``readme`` pastes one or
more of those into ``firmware/crazyflie/README.md`` between its ``<!-- sizes -->`` markers, so the figures there
come from a build, never from a hand.

Usage::

    python scripts/crazyflie_app_sizes.py measure --app firmware/crazyflie --firmware FW --policy P --env E \\
        [--hello-world HELLO_CF2_BIN] -o firmware/crazyflie/build/sizes.json
    python scripts/crazyflie_app_sizes.py readme SIZES.json [SIZES.json ...]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from tinyrl.hil.deploy import AppBuild, app_sizes
from tinyrl.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "firmware" / "crazyflie" / "README.md"
BEGIN, END = "<!-- sizes:begin -->", "<!-- sizes:end -->"


def _callgraph(folders: list[Path]) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Stack bytes per function and its direct calls, from every ``.ci`` file (gcc -fcallgraph-info=su) under
    ``folders``."""
    frames: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    node = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
    edge = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')

    def bare(title: str) -> str:  # a static function's title is "path:name"
        return title.rsplit(":", 1)[-1]

    for folder in folders:
        for ci in folder.rglob("*.ci"):
            text = ci.read_text(encoding="utf-8", errors="replace")
            for title, label in node.findall(text):
                size = re.search(r"(\d+) bytes", label)
                if size:
                    frames[bare(title)] = max(frames.get(bare(title), 0), int(size.group(1)))
            for src, dst in edge.findall(text):
                calls.setdefault(bare(src), set()).add(bare(dst))
    return frames, calls


def deepest_stack(root: str, frames: dict[str, int], calls: dict[str, set[str]]) -> tuple[int, list[str]]:
    """The deepest chain of direct calls from ``root``: its stack bytes and the functions on it (a recursive
    call ends a chain; indirect calls are not in the graph)."""
    best: dict[str, tuple[int, list[str]]] = {}

    def walk(name: str, path: frozenset[str]) -> tuple[int, list[str]]:
        if name in best:
            return best[name]
        deepest: tuple[int, list[str]] = (0, [])
        for callee in sorted(calls.get(name, ())):
            if callee not in path:
                deepest = max(deepest, walk(callee, path | {callee}), key=lambda t: t[0])
        result = (frames.get(name, 0) + deepest[0], [name, *deepest[1]])
        best[name] = result
        return result

    return walk(root, frozenset({root}))


def measure(args: argparse.Namespace) -> dict[str, object]:
    """The numbers of one finished build."""
    app: Path = args.app.resolve()  # the map names objects by absolute path
    elf = app / "build" / "cf2.elf"
    size_out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True).stdout
    text_b, data_b, bss_b = (int(v) for v in size_out.splitlines()[1].split()[:3])
    sections = app_sizes((app / "build" / "cf2.map").read_text(encoding="utf-8"), str(app / "built-in.o"))
    build = AppBuild(elf, app / "build" / "cf2.bin", sections)
    frames, calls = _callgraph([app / "src", app / "policy", app / "build"])
    stack, chain = deepest_stack("appMain", frames, calls)
    stack_words = re.search(r"^CONFIG_APP_STACKSIZE=(\d+)", (app / "app-config").read_text(), flags=re.M)
    compiler = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True, check=True)
    commit = subprocess.run(
        ["git", "-C", str(args.firmware), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    status = subprocess.run(
        ["git", "-C", str(args.firmware), "status", "--porcelain"], capture_output=True, text=True, check=True
    )
    image = build.binary.stat().st_size
    report: dict[str, object] = {
        "policy": args.policy,
        "env": args.env,
        "firmware_commit": commit.stdout.strip(),
        "firmware_modified": sorted(line[3:] for line in status.stdout.splitlines()),
        "compiler": compiler.stdout.splitlines()[0],
        "image_bytes": image,
        "elf": {"text": text_b, "data": data_b, "bss": bss_b},
        "app_sections": sections,
        "app_flash_bytes": build.flash_bytes,
        "app_ram_bytes": build.ram_bytes,
        "stack_bytes": stack,
        "stack_chain": chain,
        "stack_size_bytes": 4 * int(stack_words.group(1)) if stack_words else None,
    }
    if args.hello_world is not None:
        report["over_hello_world_bytes"] = image - args.hello_world.stat().st_size
    return report


def readme_block(reports: list[dict]) -> str:
    """The Markdown table of ``reports`` (one row per policy) with the firmware commit and compiler."""
    first = reports[0]
    modified = first.get("firmware_modified") or []
    lines = [
        BEGIN,
        f"Built by `scripts/build_crazyflie_app.sh` against crazyflie-firmware `{first['firmware_commit']}`"
        + (f" (differing from it in {', '.join(f'`{m}`' for m in modified)})" if modified else "")
        + f" with {first['compiler']}; written by `scripts/crazyflie_app_sizes.py readme`.",
        "",
        "| policy (scenario) | cf2.bin | over app_hello_world | app flash (code, const, log/param, data) "
        "| app RAM | deepest stack from appMain / task stack |",
        "|---|---|---|---|---|---|",
    ]
    for r in reports:
        s = r["app_sections"]
        over = r.get("over_hello_world_bytes")
        lines.append(
            f"| `{r['policy']}` ({r['env']}) | {r['image_bytes']:,} B | {f'{over:,} B' if over is not None else '-'} "
            f"| {r['app_flash_bytes']:,} B ({s.get('text', 0):,}, {s.get('rodata', 0):,}, "
            f"{s.get('log', 0) + s.get('param', 0):,}, {s.get('data', 0):,}) | {r['app_ram_bytes']:,} B "
            f"| {r['stack_bytes']:,} B / {r['stack_size_bytes']:,} B |"
        )
    lines += ["", f"Deepest chain ({first['env']}): {' -> '.join(first['stack_chain'])}.", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="write sizes.json for a finished build")
    m.add_argument("--app", type=Path, required=True)
    m.add_argument("--firmware", type=Path, required=True)
    m.add_argument("--policy", required=True)
    m.add_argument("--env", required=True)
    m.add_argument("--hello-world", type=Path)
    m.add_argument("-o", "--output", type=Path, required=True)
    r = sub.add_parser("readme", help="paste sizes.json files into firmware/crazyflie/README.md")
    r.add_argument("sizes", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "measure":
        report = measure(args)
        atomic_write_text(args.output, json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        return 0
    text = README.read_text()
    if BEGIN not in text or END not in text:
        print(f"error: {README} has no {BEGIN} ... {END} block", file=sys.stderr)
        return 1
    block = readme_block([json.loads(p.read_text()) for p in args.sizes])
    atomic_write_text(README, text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :])
    return 0


if __name__ == "__main__":
    sys.exit(main())
