"""A replay holds what its report needs, not every rerun's answer, until it ends."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from session_recording import FAULTY, launch_for, record_session

from aro_tui.core.host.plugin_host import PluginHost
from aro_tui.core.host.process import PluginProcess
from aro_tui.core.session.reader import read_session
from aro_tui.core.session.replay import ReplayResult, replay_exchanges

ANSWER_BYTES = 2_000_000


def _retained_bytes(root: object) -> int:
    """The bytes and text reachable from ``root`` (what keeping it keeps alive)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type):
            continue
        seen.add(id(item))
        if isinstance(item, bytes | str):
            total += len(item)
            continue
        stack.extend(gc.get_referents(item))
    return total


async def _replay(path: Path) -> list[ReplayResult]:
    session = read_session(path)
    host = PluginHost()
    try:

        def process_for(name: str) -> PluginProcess:
            if name in host.plugins:
                return host.get(name)
            return host.add(launch_for(name, FAULTY.parent))

        results = await replay_exchanges(session.exchanges, process_for)
    finally:
        await host.stop_all()
    return results


def test_replay_results_do_not_keep_the_answers(tmp_path: Path) -> None:
    """Each result kept the whole new exchange: 24 answers of 22.7 MB peaked at 786 MB."""
    call = ("faulty", "big", f'{{"bytes": {ANSWER_BYTES}}}')
    path = record_session(tmp_path, [call, call, call], plugins_dir=FAULTY.parent)
    results = asyncio.run(_replay(path))
    assert [result.outcome for result in results] == ["equal"] * 3
    assert not hasattr(results[0].new, "response_bytes")
    assert _retained_bytes(results) < ANSWER_BYTES // 10
