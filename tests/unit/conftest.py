"""Run the host's async tests on both asyncio's loop and uvloop (the headless engine's loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest

from aro_tui.core.host.loop import loop_factory

BOTH_LOOPS_MODULES = {"test_host", "test_host_faults", "test_request_pipe"}
"""Modules whose async tests run once per loop; the others keep asyncio's default loop."""


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """asyncio and (when installed) uvloop for the host tests; asyncio for everything else."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    uvloop_factory = loop_factory()
    if uvloop_factory is not None and item.path.stem in BOTH_LOOPS_MODULES:
        factories["uvloop"] = uvloop_factory
    return factories
