"""Running ``aro-tui`` as a separate process, as a script or a pipe would."""

from __future__ import annotations

import os
import subprocess
import sys


def run_piped(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    """``python -m aro_tui ARGUMENTS`` with stdout a pipe, and no COLUMNS to size it by."""
    environment = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    return subprocess.run(
        [sys.executable, "-m", "aro_tui", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
