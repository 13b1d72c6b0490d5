"""The program that runs inside a plugin's interpreter (started by path, stdlib only)."""

from pathlib import Path

HARNESS_PATH: Path = Path(__file__).resolve().with_name("harness.py")
