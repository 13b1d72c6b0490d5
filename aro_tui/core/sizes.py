"""Byte counts for people: one format for the dashboard, the commands and the notes."""

from __future__ import annotations


def format_size(size_bytes: int | None) -> str:
    """``512 B``, ``1.5 KiB``, ``50.0 MiB``; ``—`` when unknown."""
    if size_bytes is None:
        return "—"
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size_bytes} B"
