"""Persisted user settings: ``$XDG_CONFIG_HOME/aro-tui/settings.json``, written atomically.

Small and forgiving: a missing file gives the defaults, a broken one gives the defaults and a
problem to show (and is kept as ``settings.json.unreadable`` when a setting is next written,
never silently replaced); keys this version doesn't know are kept when the file is written
back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aro_tui.core.user_files import set_aside, unreadable_copy, write_atomically

__all__ = [
    "LoadedSettings",
    "Settings",
    "config_dir",
    "data_dir",
    "load_settings",
    "remember_theme",
    "save_settings",
    "settings_path",
]

DEFAULT_SESSIONS_MAX_COUNT = 50
DEFAULT_SESSIONS_MAX_TOTAL_BYTES = 1024**3


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/aro-tui`` (default ``~/.config/aro-tui``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "aro-tui"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/aro-tui`` (default ``~/.local/share/aro-tui``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aro-tui"


def settings_path() -> Path:
    """Where settings are kept."""
    return config_dir() / "settings.json"


@dataclass(frozen=True)
class Settings:
    """What aro-tui remembers between runs."""

    theme: str | None = None
    """The theme last chosen (None: the default)."""
    record_sessions: bool = True
    """Whether the dashboard records each session to the sessions folder."""
    sessions_max_count: int | None = DEFAULT_SESSIONS_MAX_COUNT
    """Keep at most this many recorded sessions (None: no limit)."""
    sessions_max_total_bytes: int | None = DEFAULT_SESSIONS_MAX_TOTAL_BYTES
    """Keep recorded sessions within this many bytes in all (None: no limit)."""
    keymap: dict[str, str] = field(default_factory=dict)
    """Key binding id → the keys to use instead (``{"run": "ctrl+e"}``; F1 lists the ids)."""
    other: dict[str, Any] = field(default_factory=dict)
    """Keys this version doesn't know, kept as they were."""

    def to_json(self) -> dict[str, Any]:
        """The file's JSON document."""
        return {
            **self.other,
            "theme": self.theme,
            "record_sessions": self.record_sessions,
            "sessions": {
                "max_count": self.sessions_max_count,
                "max_total_bytes": self.sessions_max_total_bytes,
            },
            **({"keymap": self.keymap} if self.keymap else {}),
        }


@dataclass(frozen=True)
class LoadedSettings:
    """Settings as read, and what was wrong with the file (shown, never fatal)."""

    settings: Settings
    problems: list[str]
    unreadable: bool = False
    """The file is there but is not a JSON object: writing settings sets it aside first."""


def load_settings(path: Path | None = None) -> LoadedSettings:
    """Read the settings file; defaults for whatever is missing or wrong."""
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return LoadedSettings(Settings(), [])
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return _unreadable(path, f"cannot be read ({error})")
    if not isinstance(data, dict):
        return _unreadable(path, "not a JSON object")
    problems: list[str] = []
    defaults = Settings()

    def pick(value: Any, valid: bool, default: Any, key: str) -> Any:
        if value is None or valid:
            return value if valid else default
        problems.append(f"{path}: {key} {value!r} is not valid; using {default!r}")
        return default

    theme = data.get("theme")
    record = data.get("record_sessions", True)
    sessions = data.get("sessions", {})
    if not isinstance(sessions, dict):
        problems.append(f"{path}: sessions must be an object; using defaults")
        sessions = {}
    max_count = sessions.get("max_count", defaults.sessions_max_count)
    max_bytes = sessions.get("max_total_bytes", defaults.sessions_max_total_bytes)
    known = {"theme", "record_sessions", "sessions", "keymap"}
    settings = Settings(
        theme=pick(theme, isinstance(theme, str) and bool(theme), None, "theme"),
        record_sessions=pick(record, isinstance(record, bool), True, "record_sessions"),
        sessions_max_count=_limit(
            max_count, "sessions.max_count", defaults.sessions_max_count, path, problems
        ),
        sessions_max_total_bytes=_limit(
            max_bytes, "sessions.max_total_bytes", defaults.sessions_max_total_bytes, path, problems
        ),
        keymap=_keymap(data.get("keymap", {}), path, problems),
        other={key: value for key, value in data.items() if key not in known},
    )
    return LoadedSettings(settings, problems)


def _keymap(value: Any, path: Path, problems: list[str]) -> dict[str, str]:
    """The ``keymap`` object's usable entries; each other one is a problem line (the key
    ids are checked against the dashboard's bindings where they are known, in the app)."""
    if not isinstance(value, dict):
        problems.append(f"{path}: keymap must be an object of key id → keys; ignored")
        return {}
    usable: dict[str, str] = {}
    for binding_id, keys in value.items():
        if isinstance(keys, str) and keys.strip():
            usable[binding_id] = keys.replace(" ", "")
        else:
            shown = json.dumps(keys, ensure_ascii=False)
            problems.append(
                f'{path}: keymap "{binding_id}": {shown} is not keys (such as "ctrl+e" or '
                '"f5,ctrl+r"); ignored'
            )
    return usable


def _unreadable(path: Path, why: str) -> LoadedSettings:
    kept = unreadable_copy(path).name
    problem = f"{path}: {why}; using defaults (when a setting changes, it is kept as {kept})"
    return LoadedSettings(Settings(), [problem], unreadable=True)


def _limit(
    value: Any, key: str, default: int | None, path: Path, problems: list[str]
) -> int | None:
    """A sessions limit, or the default for a bad one (it meant no limit: a typo such as
    "3" let recordings grow without bound)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    shown = json.dumps(value, ensure_ascii=False)  # as the file has it: true, not True
    using = json.dumps(default)
    problems.append(f"{path}: {key} {shown} must be a whole number ≥ 0 or null; using {using}")
    return default


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write the settings atomically (a reader sees the old file or the new one, never half)."""
    text = json.dumps(settings.to_json(), indent=2, ensure_ascii=False) + "\n"
    write_atomically(path or settings_path(), text, durable=True)


def remember_theme(name: str, path: Path | None = None) -> None:
    """Record ``name`` as the chosen theme, keeping every other setting."""
    path = path or settings_path()
    loaded = load_settings(path)
    if loaded.settings.theme != name:
        if loaded.unreadable:
            set_aside(path)
        save_settings(replace(loaded.settings, theme=name), path)
