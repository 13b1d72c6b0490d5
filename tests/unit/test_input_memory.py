"""The last input of each action is remembered across runs, atomically and boundedly."""

from __future__ import annotations

import json
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
    assert memory.get("p", "a") is None


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


def test_xdg_state_home_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_memory_path() == tmp_path / "aro-tui" / "inputs.json"


def test_last_used_input_wins_over_template() -> None:
    assert choose_initial_input('{"a": 2}', '{"a": 1}').source == "last used"
    chosen = choose_initial_input(None, '{"a": 1}')
    assert (chosen.text, chosen.source) == ('{"a": 1}', "template")
    assert choose_initial_input("   ", "{}").source == "template"
