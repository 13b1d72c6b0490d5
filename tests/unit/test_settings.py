"""Persisted settings: defaults, forgiving reads, atomic writes that keep unknown keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aro_tui.core.settings import (
    Settings,
    load_settings,
    remember_theme,
    save_settings,
    settings_path,
)


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    loaded = load_settings(tmp_path / "settings.json")
    assert loaded.settings == Settings() and loaded.problems == []


def test_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert settings_path() == tmp_path / "aro-tui" / "settings.json"


def test_remember_theme_keeps_other_keys_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"future_key": [1, 2], "sessions": {"max_count": 7}}))
    remember_theme("aro-light", path)
    data = json.loads(path.read_text())
    assert data["theme"] == "aro-light"
    assert data["future_key"] == [1, 2]
    assert data["sessions"]["max_count"] == 7
    assert load_settings(path).settings.theme == "aro-light"
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


def test_broken_file_gives_defaults_and_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    loaded = load_settings(path)
    assert loaded.settings == Settings()
    assert loaded.problems and str(path) in loaded.problems[0]
    assert "it is kept as settings.json.unreadable" in loaded.problems[0]


@pytest.mark.parametrize("broken", ['{"theme": "x",, typo}', "[1, 2]", "caf\xe9"])
def test_a_theme_change_keeps_a_broken_file_aside_instead_of_replacing_it(
    tmp_path: Path, broken: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(broken.encode("latin-1"))
    remember_theme("aro-light", path)
    assert load_settings(path).settings.theme == "aro-light"
    assert (tmp_path / "settings.json.unreadable").read_bytes() == broken.encode("latin-1")
    remember_theme("aro-dark", path)  # a readable file is simply rewritten
    assert (tmp_path / "settings.json.unreadable").read_bytes() == broken.encode("latin-1")


def test_bad_values_fall_back_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    bad = {"theme": 3, "record_sessions": "yes", "sessions": {"max_count": -1}}
    path.write_text(json.dumps(bad))
    loaded = load_settings(path)
    assert loaded.settings.theme is None
    assert loaded.settings.record_sessions is True
    # A bad limit is the default one, not none: recordings grew without bound.
    assert loaded.settings.sessions_max_count == Settings().sessions_max_count == 50
    assert len(loaded.problems) == 3
    assert loaded.problems[2].endswith(
        "sessions.max_count -1 must be a whole number ≥ 0 or null; using 50"
    )


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(theme="x", record_sessions=False, sessions_max_total_bytes=None)
    save_settings(settings, path)
    assert load_settings(path).settings == settings


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.json"
    save_settings(Settings(theme="old"), path)

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        save_settings(Settings(theme="new"), path)
    assert load_settings(path).settings.theme == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_a_bad_limit_is_quoted_as_the_file_has_it(tmp_path: Path) -> None:
    """The note said `True` and `'abc'` of a file that says `true` and `"abc"`."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"sessions": {"max_count": True, "max_total_bytes": "abc"}}))
    problems = load_settings(path).problems
    assert problems[0].endswith(
        "sessions.max_count true must be a whole number ≥ 0 or null; using 50"
    )
    assert 'sessions.max_total_bytes "abc" must be' in problems[1]


def test_a_keymap_is_read_entry_by_entry_and_kept_when_the_theme_is_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "settings.json"
    keymap = {"run": "ctrl+e", "log.rerun": "shift+r, f9", "cancel": "", "export": 3}
    path.write_text(json.dumps({"keymap": keymap}))
    loaded = load_settings(path)
    assert loaded.settings.keymap == {"run": "ctrl+e", "log.rerun": "shift+r,f9"}
    assert [p.split(": ", 1)[1] for p in loaded.problems] == [
        'keymap "cancel": "" is not keys (such as "ctrl+e" or "f5,ctrl+r"); ignored',
        'keymap "export": 3 is not keys (such as "ctrl+e" or "f5,ctrl+r"); ignored',
    ]
    remember_theme("aro-light", path)
    assert json.loads(path.read_text())["keymap"] == {"run": "ctrl+e", "log.rerun": "shift+r,f9"}
    path.write_text(json.dumps({"keymap": ["run"]}))
    assert (
        load_settings(path)
        .problems[0]
        .endswith("keymap must be an object of key id → keys; ignored")
    )
