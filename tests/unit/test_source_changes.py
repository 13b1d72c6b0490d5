"""Files of a plugin modified after its process started: what is reported, and what is not."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from aro_tui.core.plugins import source_changes
from aro_tui.core.plugins.source_changes import changed_since

STARTED = 0.0
"""Later than every file's change time (it is when the test wrote it); the files' modification
times are set around it. Set for each test: taken at import, it fell behind the files' change
times in a suite that reached these tests over 1000 s after collecting them (a loaded machine)."""


@pytest.fixture(autouse=True)
def _start_after_every_write(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(globals(), "STARTED", time.time() + 1000)


def _write(path: Path, modified: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x = 1\n")
    os.utime(path, (modified, modified))


def test_only_watched_files_modified_after_the_start_are_reported_newest_first(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "plugin.yaml", STARTED - 60)
    _write(tmp_path / "src" / "plugin.py", STARTED + 5)
    _write(tmp_path / "src" / "helpers" / "text.py", STARTED + 9)
    _write(tmp_path / "src" / "settings.json", STARTED + 1)
    _write(tmp_path / "src" / "old.py", STARTED - 1)
    _write(tmp_path / "src" / "weights.bin", STARTED + 7)  # not code or configuration
    changes = changed_since(tmp_path, STARTED)
    assert changes.paths == ("src/helpers/text.py", "src/plugin.py", "src/settings.json")
    assert changes.complete


def test_caches_hidden_folders_and_virtual_environments_are_not_looked_at(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "src" / "__pycache__" / "plugin.py", STARTED + 5)
    _write(tmp_path / ".git" / "hooks" / "hook.py", STARTED + 5)
    _write(tmp_path / "env" / "pyvenv.cfg", STARTED - 5)
    _write(tmp_path / "env" / "lib" / "module.py", STARTED + 5)
    _write(tmp_path / "src" / "plugin.py", STARTED - 5)
    assert changed_since(tmp_path, STARTED).paths == ()


def test_a_folder_past_the_entry_cap_says_the_scan_was_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_changes, "MAX_ENTRIES", 10)
    for index in range(30):
        _write(tmp_path / "data" / f"{index}.json", STARTED - 5)
    changes = changed_since(tmp_path, STARTED)
    assert not changes.complete
    assert changed_since(tmp_path / "missing", STARTED).paths == ()


def test_a_watched_file_deleted_after_the_first_scan_is_reported(tmp_path: Path) -> None:
    from aro_tui.core.plugins.source_changes import deleted_since

    _write(tmp_path / "src" / "plugin.py", STARTED - 5)
    _write(tmp_path / "src" / "helpers.py", STARTED - 5)
    _write(tmp_path / "src" / "weights.bin", STARTED - 5)
    first = changed_since(tmp_path, STARTED)
    assert first.present == {"src/plugin.py", "src/helpers.py"}
    (tmp_path / "src" / "helpers.py").unlink()
    (tmp_path / "src" / "weights.bin").unlink()  # not watched: not reported
    _write(tmp_path / "src" / "new.py", STARTED - 5)  # new, and not what the process imported
    assert deleted_since(first, changed_since(tmp_path, STARTED)) == ("src/helpers.py",)
    assert deleted_since(first, first) == ()


def test_no_deletion_is_guessed_from_a_scan_cut_at_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aro_tui.core.plugins.source_changes import deleted_since

    for index in range(30):
        _write(tmp_path / "data" / f"{index}.json", STARTED - 5)
    first = changed_since(tmp_path, STARTED)
    monkeypatch.setattr(source_changes, "MAX_ENTRIES", 10)
    cut = changed_since(tmp_path, STARTED)
    assert not cut.complete and len(cut.present) < len(first.present)
    assert deleted_since(first, cut) == ()


def test_a_file_put_back_with_an_old_modification_time_is_reported(tmp_path: Path) -> None:
    """``mv`` of an old copy back into place keeps its modification time; the rename sets
    the change time."""
    _write(tmp_path / "src" / "plugin.py", time.time() - 3600)
    kept = tmp_path / "plugin.py.orig"
    _write(kept, time.time() - 3600)
    started = time.time()
    time.sleep(0.05)  # past the file system's clock tick
    assert changed_since(tmp_path, started).paths == ()
    kept.rename(tmp_path / "src" / "plugin.py")
    assert (tmp_path / "src" / "plugin.py").stat().st_mtime < started
    assert changed_since(tmp_path, started).paths == ("src/plugin.py",)


def test_a_data_file_stamped_a_tick_outside_a_calls_span_is_still_the_plugins_own(
    tmp_path: Path,
) -> None:
    """The kernel's file clock lags by up to a tick: cache.json written as a call began was
    stamped before the call's recorded start, and --reload restarted the plugin now and then."""
    from aro_tui.core.plugins.source_changes import without_own_writes

    call_start = STARTED + 10
    _write(tmp_path / "src" / "cache.json", call_start - 0.004)
    _write(tmp_path / "src" / "edited.json", call_start + 5)  # long after the call ended
    _write(tmp_path / "src" / "plugin.py", call_start + 0.001)  # code always counts
    changes = without_own_writes(changed_since(tmp_path, STARTED), [(call_start, call_start + 1)])
    assert changes.paths == ("src/edited.json", "src/plugin.py")
