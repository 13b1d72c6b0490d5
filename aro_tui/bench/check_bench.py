"""Time ``aro-tui check`` on generated plugins: ``python -m aro_tui.bench.check_bench [-n 200]``.

Three in-process runs (cold interpreter cache; a new process with the disk cache warm; the
same process with the memory cache warm), then the real command as a subprocess, cold and
warm. All plugins share one interpreter, so the version probe must run exactly once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aro_tui.commands.inventory import check_report
from aro_tui.core.plugins.discovery import discover
from aro_tui.core.plugins.interpreter import VersionProbe

_MANIFEST = """\
name: {name}
version: 1.0.{index}
description: "Generated plugin {index} for the check benchmark"
aro-version: ">=0.1.0"
source:
  git: https://github.com/example/{name}.git
provides:
  - type: python-plugin
    path: src/
    python:
      min-version: "3.9"
      requirements: requirements.txt
    actions: [analyze, extract-urls, {{name: to-html, verbs: [render]}}]
"""


def generate_plugins(plugins_dir: Path, count: int) -> None:
    """Write ``count`` small, valid python plugins under ``plugins_dir``."""
    for index in range(count):
        name = f"bench-plugin-{index:04d}"
        source_dir = plugins_dir / name / "src"
        source_dir.mkdir(parents=True)
        (source_dir / "plugin.py").write_text("def aro_plugin_info():\n    return {}\n")
        (source_dir / "requirements.txt").write_text("# none\n")
        (plugins_dir / name / "plugin.yaml").write_text(_MANIFEST.format(name=name, index=index))


def _time_in_process(plugins_dir: Path, probe: VersionProbe) -> tuple[float, int]:
    started = time.perf_counter()
    found = discover(plugins_dir, probe=probe)
    check_report(found)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert found.valid, "generated plugins should all be valid"
    return elapsed_ms, len(found.plugins)


def _time_command(plugins_dir: Path, cache_home: Path) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "aro_tui", "check", "--json", str(plugins_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    """Generate plugins in a temporary folder, time the checks, print ms and ms/plugin."""
    parser = argparse.ArgumentParser(prog="python -m aro_tui.bench.check_bench")
    parser.add_argument("-n", "--plugins", type=int, default=200, help="how many (default 200)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aro-tui-bench-") as temporary:
        base = Path(temporary)
        plugins_dir = base / "Plugins"
        generate_plugins(plugins_dir, args.plugins)
        cache_file = base / "cache" / "interpreters.json"
        rows: list[tuple[str, float, int]] = []
        cold = VersionProbe(cache_path=cache_file)
        elapsed_ms, count = _time_in_process(plugins_dir, cold)
        rows.append(("in-process, cold cache", elapsed_ms, cold.probes_run))
        disk_warm = VersionProbe(cache_path=cache_file)
        elapsed_ms, _ = _time_in_process(plugins_dir, disk_warm)
        rows.append(("in-process, disk cache warm", elapsed_ms, disk_warm.probes_run))
        elapsed_ms, _ = _time_in_process(plugins_dir, disk_warm)
        rows.append(("in-process, memory cache warm", elapsed_ms, 0))
        command_cache = base / "command-cache"
        rows.append(
            ("`aro-tui check` subprocess, cold", _time_command(plugins_dir, command_cache), -1)
        )
        rows.append(
            ("`aro-tui check` subprocess, warm", _time_command(plugins_dir, command_cache), -1)
        )
    print(f"aro-tui check benchmark: {count} generated plugins, Python {sys.version.split()[0]}")
    for label, total_ms, probes in rows:
        probe_note = f", {probes} interpreter probe(s)" if probes >= 0 else ""
        print(
            f"  {label:<34} {total_ms:8.1f} ms total  {total_ms / count:6.3f} ms/plugin{probe_note}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
