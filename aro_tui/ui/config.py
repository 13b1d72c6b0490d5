"""The dashboard's settings, including the one seam tests and screenshots use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AppConfig:
    """How the dashboard runs.

    ``deterministic`` is for snapshot tests and the screenshots command: durations and
    memory are drawn as fixed placeholders, elapsed timers are frozen, the cursor does not
    blink, the input memory lives only in memory (``memory_path`` None), and no telemetry
    sampler runs (the panel shows only what a test or scene feeds it).
    """

    plugins_path: Path
    interpreter: Path | None = None
    """``--python``: the interpreter for plugins without a venv of their own."""
    timeout_s: float = 300.0
    memory_path: Path | None = None
    """Where inputs are remembered (None: not saved)."""
    deterministic: bool = False
    autostart: bool = True
    """Start a plugin when it is chosen (Enter in the list), so its actions' docs show."""
    demo_gpu: bool = False
    """``--demo-gpu``: a scripted 24 GiB card whose plugin memory mirrors host growth."""
    sample_interval_s: float = 1.0
    """``--sample-interval``: seconds between telemetry samples (no sampler when deterministic)."""
    response_preview_bytes: int = 64 * 1024
    max_table_rows: int = 500
    user_files: bool = False
    """Read and write the user's settings and theme folder, and record the session there.

    Off for snapshots, screenshots, benches and tests unless a test opts in (with its XDG
    folders under a temporary path): then only the bundled themes load and ``theme`` is used.
    """
    record: bool = True
    """``--no-record``: don't record this session (recording also needs ``user_files``)."""
    sessions_dir: Path | None = None
    """Where recordings go (None: ``$XDG_DATA_HOME/aro-tui/sessions``)."""
    theme: str | None = None
    """The theme without ``user_files`` (None: aro-dark)."""
    reload: bool = False
    """``--reload``: restart a plugin, once it is idle, when its files change on disk."""
    source_poll_s: float = 1.0
    """How often plugin folders are checked for files changed after their process started."""
    watch_plugins_dir: Path | None = None
    """A plugins folder whose new plugin folders join the list as they appear (the dashboard
    on a plugins or app folder; None: a single plugin folder, tests)."""
    open_session: Path | None = None
    """``aro-tui open``: show this recording read-only instead of a live session."""
