"""The event loop for the headless engine (``call``, ``batch``, ``bench``): uvloop when available.

Why: the host's per-call cost is mostly event-loop overhead (a pipe wake-up, then the awaiting
task); uvloop's loop, written in Cython over libuv, makes each pass cheaper. The host itself is
loop-agnostic (it only uses ``subprocess_exec``, ``add_reader``, ``call_later``/``call_at`` and
futures), so the same code runs on either loop. The dashboard keeps asyncio's default loop
(Textual runs it). ``ARO_TUI_LOOP=asyncio`` forces the standard loop.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOOP_ENV = "ARO_TUI_LOOP"
"""``asyncio`` to use the standard loop even when uvloop is installed."""


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop`` when usable here, else None (asyncio's default loop)."""
    if sys.platform == "win32" or os.environ.get(LOOP_ENV, "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """Which loop :func:`run` uses: ``uvloop x.y.z`` or ``asyncio``."""
    if loop_factory() is None:
        return "asyncio"
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"uvloop {version('uvloop')}"
    except PackageNotFoundError:
        return "uvloop"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Like ``asyncio.run(coro)``, on uvloop when available."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coro)
