"""The last input of each action is remembered across runs, atomically and boundedly."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aro_tui.core.input_memory import (
    InputMemory,
    choose_initial_input,
    default_memory_path,
)


def test_remembered_input_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "inputs.json"
    InputMemory(path).remember("plugin-python-text", "hash", '{"text": "hi"}')
    assert InputMemory(path).get("plugin-python-text", "hash") == '{"text": "hi"}'
    assert not list(path.parent.glob("*.tmp")), "temporary file left behind"


def test_memory_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    memory = InputMemory(tmp_path / "inputs.json", max_entries=2)
    memory.remember("p", "a", "1")
    memory.remember("p", "b", "2")
    memory.remember("p", "a", "1b")
    memory.remember("p", "c", "3")
    assert memory.get("p", "b") is None
    assert memory.get("p", "a") == "1b"
    assert len(InputMemory(tmp_path / "inputs.json")) == 2


def test_oversized_input_is_not_stored(tmp_path: Path) -> None:
    memory = InputMemory(tmp_path / "inputs.json", max_input_bytes=10)
    assert not memory.remember("p", "a", "x" * 11)
    assert InputMemory(tmp_path / "inputs.json", max_input_bytes=10).get("p", "a") is None


def test_corrupt_file_is_an_empty_memory(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    path.write_text("{not json")
    assert len(InputMemory(path)) == 0
    path.write_text(json.dumps({"entries": [{"plugin": 1}]}))
    memory = InputMemory(path)
    assert len(memory) == 0 and memory.problem is None  # entries it cannot use are skipped


@pytest.mark.parametrize("broken", [b"{not json", b"\xff\xfe", b'{"entries": 3}'])
def test_an_unreadable_file_is_reported_and_kept_aside_not_overwritten(
    tmp_path: Path, broken: bytes
) -> None:
    path = tmp_path / "inputs.json"
    path.write_bytes(broken)
    memory = InputMemory(path)
    assert memory.problem is not None and str(path) in memory.problem
    assert "this file is kept as inputs.json.unreadable" in memory.problem
    assert memory.remember("p", "a", '{"x": 1}')
    assert InputMemory(path).get("p", "a") == '{"x": 1}'
    assert (tmp_path / "inputs.json.unreadable").read_bytes() == broken
    assert memory.remember("p", "a", '{"x": 2}')  # only the first write sets it aside
    assert (tmp_path / "inputs.json.unreadable").read_bytes() == broken


def test_without_a_path_inputs_are_remembered_for_the_run_only() -> None:
    memory = InputMemory(None)
    assert memory.remember("p", "a", "1")
    assert memory.get("p", "a") == "1" and len(memory) == 1
    memory.forget("p", "a")
    assert memory.get("p", "a") is None


def test_two_dashboards_on_one_file_keep_each_others_inputs(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    InputMemory(path).remember("plugin", "text", "old")
    dashboard_a, dashboard_b = InputMemory(path), InputMemory(path)
    dashboard_b.remember("plugin", "text", "X")
    dashboard_a.remember("plugin", "unicode", "Y")
    after = InputMemory(path)
    assert after.get("plugin", "text") == "X"
    assert after.get("plugin", "unicode") == "Y"


def test_a_dashboard_loads_the_newest_input_another_remembered(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    dashboard_a, dashboard_b = InputMemory(path), InputMemory(path)
    dashboard_a.remember("p", "a", "1")
    dashboard_b.remember("p", "a", "2")
    assert dashboard_a.get("p", "a") == "2"
    dashboard_a.remember("p", "a", "3")
    assert dashboard_b.get("p", "a") == "3"
    assert InputMemory(path).get("p", "a") == "3"


def test_forgetting_in_one_dashboard_keeps_what_another_remembered(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    dashboard_a, dashboard_b = InputMemory(path), InputMemory(path)
    dashboard_a.remember("p", "a", "1")
    dashboard_b.remember("p", "b", "2")
    dashboard_a.forget("p", "a")
    after = InputMemory(path)
    assert after.get("p", "a") is None and after.get("p", "b") == "2"


def test_two_dashboards_on_an_unreadable_file_keep_the_original_aside(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    path.write_bytes(b"{not json")
    dashboard_a, dashboard_b = InputMemory(path), InputMemory(path)
    dashboard_a.remember("p", "a", "1")
    dashboard_b.remember("p", "b", "2")
    assert (tmp_path / "inputs.json.unreadable").read_bytes() == b"{not json"
    after = InputMemory(path)
    assert after.get("p", "a") == "1" and after.get("p", "b") == "2"


_WRITER = """
import sys
from pathlib import Path

from aro_tui.core.input_memory import InputMemory

path, plugin, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
memory = InputMemory(path, max_entries=10_000)
print("ready", flush=True)
sys.stdin.readline()
for index in range(count):
    assert memory.remember(plugin, f"action-{index}", f'{{"index": {index}}}')
"""


def test_two_processes_writing_at_once_lose_no_input(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    count = 200
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), plugin, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for plugin in ("plugin-a", "plugin-b")
    ]
    for writer in writers:  # both have imported and read the (missing) file: start together
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.close()
    deadline = time.monotonic() + 60
    while any(writer.poll() is None for writer in writers):
        assert time.monotonic() < deadline, "the writers did not finish"
        if path.exists():  # a reader sees a whole file at every moment
            assert isinstance(json.loads(path.read_text(encoding="utf-8"))["entries"], list)
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    after = InputMemory(path, max_entries=10_000)
    assert after.problem is None and len(after) == 2 * count
    for plugin in ("plugin-a", "plugin-b"):
        for index in range(count):
            assert after.get(plugin, f"action-{index}") == f'{{"index": {index}}}'
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.unreadable"))


def test_xdg_state_home_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_memory_path() == tmp_path / "aro-tui" / "inputs.json"


def test_last_used_input_wins_over_template() -> None:
    assert choose_initial_input('{"a": 2}', '{"a": 1}').source == "last used"
    chosen = choose_initial_input(None, '{"a": 1}')
    assert (chosen.text, chosen.source) == ('{"a": 1}', "template")
    assert choose_initial_input("   ", "{}").source == "template"


def test_an_input_too_large_to_save_is_kept_for_this_run(tmp_path: Path) -> None:
    """A 70 KB input run was lost: the next visit to its action showed the template."""
    path = tmp_path / "inputs.json"
    memory = InputMemory(path, max_input_bytes=100)
    memory.remember("p", "a", '{"small": 1}')
    big = '{"s": "' + "z" * 200 + '"}'
    assert memory.remember("p", "a", big) is False
    assert memory.get("p", "a") == big and memory.kept_for_this_run_only("p", "a")
    # Next run: not the older small one as "the last input you ran" (the template instead).
    assert InputMemory(path, max_input_bytes=100).get("p", "a") is None
    memory.remember("p", "a", '{"small": 2}')  # a later one that fits is saved again
    assert memory.get("p", "a") == '{"small": 2}' and not memory.kept_for_this_run_only("p", "a")
