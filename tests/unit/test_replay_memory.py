"""A replay holds what its report needs, not every rerun's answer, until it ends."""

from __future__ import annotations

import asyncio
import gc
import shutil
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


def test_a_replay_whose_answers_changed_keeps_counts_not_values(tmp_path: Path) -> None:
    """`aro-tui replay` kept every changed value to the end: a diff entry holds the whole
    old and new string, so each changed 2 MB answer kept 4 MB. Results passed to
    ``on_result`` are whole (the report is made from them); those returned keep counts."""
    call = ("faulty", "big", f'{{"bytes": {ANSWER_BYTES}}}')
    path = record_session(tmp_path / "sessions", [call, call, call], plugins_dir=FAULTY.parent)
    changed = tmp_path / "plugins" / "faulty"
    shutil.copytree(FAULTY, changed)
    module = changed / "src" / "plugin.py"
    module.write_text(module.read_text().replace('"x" * size', '"y" * size'))
    seen: list[int] = []

    async def replay() -> list[ReplayResult]:
        session = read_session(path)
        host = PluginHost()
        try:
            return await replay_exchanges(
                session.exchanges,
                lambda name: (
                    host.get(name)
                    if name in host.plugins
                    else host.add(launch_for(name, changed.parent))
                ),
                on_result=lambda result: seen.append(
                    len(result.diff.entries) if result.diff else -1
                ),
                keep_diffs=False,
            )
        finally:
            await host.stop_all()

    results = asyncio.run(replay())
    assert [result.outcome for result in results] == ["different"] * 3
    assert seen == [1, 1, 1]  # the report saw each difference
    assert [result.diff.total for result in results if result.diff] == [1, 1, 1]
    assert _retained_bytes(results) < ANSWER_BYTES // 10
