"""The exchange log's temporary folders (every response body) do not outlive ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aro_tui.core.exchange_log import OWNER_LOCK_NAME, remove_stale_log_folders

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_LOG = """
import sys
from aro_tui.core.exchange_log import ExchangeLog
from aro_tui.core.host.exchange import Exchange, ExchangeStatus

log = ExchangeLog()  # as the dashboard makes its own
exchange = Exchange(1, "plugin", "action", b'{"secret": "request"}')
exchange.status = ExchangeStatus.OK
exchange.response_bytes = b'{"secret": "response"}'
log.add(exchange)
log.flush()
print(log.directory, flush=True)
sys.stdin.read()  # until told to end
log.close()
"""


class Dashboard:
    """A process holding an exchange log, as a running dashboard does."""

    def __init__(self, temp_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", DASHBOARD_LOG],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "TMPDIR": str(temp_dir)},
        )
        assert self.process.stdout is not None
        self.folder = Path(self.process.stdout.readline().strip())
        assert self.folder.parent == temp_dir and (self.folder / "exchanges.sqlite3").exists()

    def end(self) -> None:
        """Quit normally (the log removes its folder)."""
        self.process.communicate("", timeout=30)

    def kill(self) -> None:
        """``kill -9``: nothing of the app's own shutdown runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def dashboards(tmp_path: Path) -> Iterator[list[Dashboard]]:
    """Dashboards started by the test; any still running are ended afterwards."""
    started: list[Dashboard] = []
    yield started
    for dashboard in started:
        if dashboard.process.poll() is None:
            dashboard.kill()


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_a_killed_dashboards_log_folder_is_removed_by_the_next_one(
    tmp_path: Path, dashboards: list[Dashboard]
) -> None:
    """``kill -9`` left ``/tmp/aro-tui-log-XXXX`` (every response body) forever: 37 of them.
    The next dashboard removes it, and never the folder of another one still running."""
    killed = Dashboard(tmp_path)
    dashboards.append(killed)
    killed.kill()
    assert killed.folder.exists()
    running = Dashboard(tmp_path)
    dashboards.append(running)
    for dashboard in (killed, running):  # past the grace a brand-new lock file gets
        _age(dashboard.folder / OWNER_LOCK_NAME, 3600)

    starting = Dashboard(tmp_path)
    dashboards.append(starting)
    deadline = time.monotonic() + 20
    while killed.folder.exists():  # removed by a thread; the dashboard doesn't wait
        assert time.monotonic() < deadline, "the killed dashboard's folder stayed"
        time.sleep(0.02)
    assert running.folder.exists() and starting.folder.exists()
    running.end()
    starting.end()
    assert list(tmp_path.iterdir()) == []


def test_only_folders_nobody_owns_are_removed(tmp_path: Path, dashboards: list[Dashboard]) -> None:
    """A lock file just made may not be locked yet; a folder made by an older aro-tui (no
    lock file) is stale only when nothing in it changed for a day; a removal cut short
    (only the lock file left) is finished."""
    running = Dashboard(tmp_path)
    dashboards.append(running)
    _age(running.folder / OWNER_LOCK_NAME, 3600)
    new = tmp_path / "aro-tui-log-new"
    new.mkdir()
    (new / OWNER_LOCK_NAME).touch()
    old_version = tmp_path / "aro-tui-log-oldversion"
    old_version.mkdir()
    (old_version / "exchanges.sqlite3").write_bytes(b"bodies")
    _age(old_version / "exchanges.sqlite3", 2 * 86400)
    old_version_live = tmp_path / "aro-tui-log-oldversionlive"
    old_version_live.mkdir()
    (old_version_live / "exchanges.sqlite3").write_bytes(b"bodies")
    _age(old_version_live, 2 * 86400)  # an old folder, written to lately
    cut_short = tmp_path / "aro-tui-log-cutshort"
    cut_short.mkdir()
    (cut_short / OWNER_LOCK_NAME).touch()
    _age(cut_short / OWNER_LOCK_NAME, 3600)
    not_ours = tmp_path / "aro-tui-logbook"  # another program's, by its name
    not_ours.mkdir()
    (tmp_path / "aro-tui-log-a-file").write_bytes(b"")

    removed = remove_stale_log_folders(tmp_path)

    assert sorted(removed) == [cut_short, old_version]
    assert running.folder.exists() and new.exists() and old_version_live.exists()
    assert not_ours.exists() and (tmp_path / "aro-tui-log-a-file").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_another_users_folders_are_left_alone(tmp_path: Path) -> None:
    """Two people on one machine: only the current user's folders are looked at."""
    theirs = tmp_path / "aro-tui-log-theirs"
    theirs.mkdir()
    (theirs / OWNER_LOCK_NAME).touch()
    _age(theirs / OWNER_LOCK_NAME, 3600)
    os.chown(theirs, 65534, 65534)
    assert remove_stale_log_folders(tmp_path) == []
    assert theirs.exists()
