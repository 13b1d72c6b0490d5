"""``replacing``: how a file the user names (a saved response, an export) is written."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from aro_tui.core.user_files import replacing


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path: Path) -> None:
    target = tmp_path / "notes.json"
    target.write_text("old")
    with pytest.raises(OSError, match="disk full"), replacing(target) as handle:
        handle.write(b"new and half")
        raise OSError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.json"]


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_gets_the_umasks(
    tmp_path: Path,
) -> None:
    kept = tmp_path / "kept.json"
    kept.write_text("old")
    kept.chmod(0o640)
    with replacing(kept) as handle:
        handle.write(b"new")
    assert kept.read_text() == "new"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    umask = os.umask(0o022)
    os.umask(umask)
    fresh = tmp_path / "sub" / "fresh.json"  # its folder is made too
    with replacing(fresh) as handle:
        handle.write(b"x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask  # not a temp file's 0600


def test_a_link_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    """The whole-log export renamed over the link itself: the link became a file and its
    target kept the old content."""
    target = tmp_path / "target.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with replacing(link) as handle:
        handle.write(b"new")
    assert link.is_symlink()
    assert target.read_text() == "new"


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    """A special file (a device such as /dev/full, a FIFO) was replaced by a regular file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there before the save
    try:
        with replacing(fifo) as handle:
            handle.write(b"through the pipe")
        assert os.read(reader, 100) == b"through the pipe"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_name_near_the_length_limit_can_be_written(tmp_path: Path) -> None:
    """The temporary name beside it added 18 characters: a 250-character name failed with
    "File name too long", naming the temporary file."""
    target = tmp_path / ("n" * 250)
    with replacing(target) as handle:
        handle.write(b"x")
    assert target.read_bytes() == b"x"


def test_a_fifo_nobody_reads_is_refused_at_once(tmp_path: Path) -> None:
    """The open waited for a reader for ever: the save never ended, and quitting waited."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    refused = pytest.raises(OSError, match="no program is reading this pipe")
    with refused as error, replacing(fifo) as handle:
        handle.write(b"x")
    assert error.value.errno == errno.ENXIO


def test_a_hard_linked_file_is_written_in_place_so_every_link_sees_it(tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    first.write_text("old")
    second = tmp_path / "second.json"
    os.link(first, second)
    with replacing(second) as handle:
        handle.write(b"new")
    assert first.read_text() == "new" == second.read_text()


def test_a_name_of_many_multibyte_characters_near_the_limit_can_be_written(
    tmp_path: Path,
) -> None:
    """The temporary name was cut to 64 characters: 62 emoji (248 bytes) made it too long."""
    target = tmp_path / ("😀" * 62 + ".json")
    with replacing(target) as handle:
        handle.write(b"x")
    assert target.read_bytes() == b"x"
