"""The program that runs inside a plugin's interpreter (started by path, stdlib only)."""

from pathlib import Path

HARNESS_PATH: Path = Path(__file__).resolve().with_name("harness.py")
"""The harness itself."""
HARNESS_START_PATH: Path = HARNESS_PATH.with_name("start.py")
"""What the host runs: it loads the harness as a module, so its bytecode can be cached."""
