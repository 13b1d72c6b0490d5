"""Headless subcommands of ``aro-tui``; each module registers its own parsers."""

from __future__ import annotations

import argparse
import math


def seconds(text: str) -> float:
    """argparse type for a time limit: a positive, finite number of seconds (``nan`` or
    ``inf`` once reached the event loop's timer and failed there with a traceback)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value
