"""aro-tui's own small files (settings, remembered inputs, the interpreter cache): how they
are written.

Written atomically (a reader sees the old file or the new one, never half of either). The
files a person may edit (settings, remembered inputs) are set aside as ``<name>.unreadable``
when they could not be read, before the first write, so a hand-edit with a typo in it is
never silently replaced; the interpreter cache is simply rebuilt.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
