"""aro-tui's own small files (settings, remembered inputs, the interpreter cache): how they
are written.

Written atomically (a reader sees the old file or the new one, never half of either). The
files a person may edit (settings, remembered inputs) are set aside as ``<name>.unreadable``
when they could not be read, before the first write, so a hand-edit with a typo in it is
never silently replaced; the interpreter cache is simply rebuilt.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

UNREADABLE_SUFFIX = ".unreadable"


def os_reason(error: OSError | ValueError) -> str:
    """Why a path could not be used, short: ``Permission denied``, ``File name too long``,
    ``embedded null byte`` (a ``ValueError`` from a path with a NUL in it)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def unreadable_copy(path: Path) -> Path:
    """Where an unreadable ``path`` is kept: ``<name>.unreadable`` beside it."""
    return path.with_name(path.name + UNREADABLE_SUFFIX)


def set_aside(path: Path) -> None:
    """Move an unreadable ``path`` to :func:`unreadable_copy` (replacing an older one)."""
    if path.exists():
        path.replace(unreadable_copy(path))


def write_atomically(path: Path, text: str, *, durable: bool = False) -> None:
    """Replace ``path`` with ``text`` (UTF-8) through a temporary file and a rename;
    ``durable``: fsync before the rename (``OSError`` on failure, nothing half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into, for files the user names (a saved
    response, an export): when the block ends without an error the new content replaces the
    file at once; when it fails (a full disk) the old file is as it was and no partial file
    is left. Writing in place lost the file a save was "replacing" whenever the save failed.

    A link is followed (its target is replaced, the link stays). Written in place instead,
    where a replacement could not be put there or would not be the same file:

    - a path that is not a regular file (``/dev/full``, a FIFO): a rename would replace the
      device node with a file. A FIFO nobody reads is refused at once (``ENXIO``), where the
      open waited for a reader for ever, and quitting waited for it;
    - a file with other hard links, which a rename would leave holding the old content;
    - a file in a folder that takes no new files (no write permission) but that can itself
      be written, as it was before there was a temporary file.

    A replaced file keeps its permissions; a new one gets the usual ones (the umask), not a
    temporary file's 0600.
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        status: os.stat_result | None = target.stat()
    except FileNotFoundError:
        status = None
    if status is not None and not stat.S_ISREG(status.st_mode):
        with _opened_special(target) as handle:
            yield handle
        return
    if status is not None and status.st_nlink > 1:
        with target.open("wb") as handle:
            yield handle
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    # Short whatever the name: a name near the 255-byte limit fits, its temporary name too
    # (cut by bytes: 62 emoji are 248 bytes).
    stem = target.name.encode()[:64].decode(errors="ignore")
    temporary = target.with_name(f".{stem}.{secrets.token_hex(4)}.partial")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except PermissionError:
        if status is None or not os.access(target, os.W_OK):
            raise
        with target.open("wb") as handle:  # the folder takes no new file; the file is writable
            yield handle
        return
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
        if status is not None:
            temporary.chmod(stat.S_IMODE(status.st_mode))
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _opened_special(target: Path) -> Iterator[BinaryIO]:
    """``target`` (a device, a FIFO) opened for writing without waiting for a reader: a FIFO
    nobody reads is ``OSError(ENXIO)`` at once; once open, writes block as usual."""
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "no program is reading this pipe", str(target)) from None
        raise
    os.set_blocking(descriptor, True)
    with os.fdopen(descriptor, "wb") as handle:
        yield handle
