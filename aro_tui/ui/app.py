"""The dashboard app: wires discovery, the plugin host, the log and the screens together."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen

from aro_tui.core.exchange_log import ExchangeLog
from aro_tui.core.host.exchange import ExchangeStatus
from aro_tui.core.input_memory import InputMemory
from aro_tui.core.plugins.discovery import Discovery
from aro_tui.core.runtime_run import kill_all as kill_runtime_calls
from aro_tui.core.sanitize import sanitize_line
from aro_tui.core.session.recorder import SessionRecorder
from aro_tui.core.session.store import start_session
from aro_tui.core.settings import Settings, load_settings
from aro_tui.core.theme_files import bundled_themes_dir
from aro_tui.ui.commands import DashboardCommands
from aro_tui.ui.config import AppConfig
from aro_tui.ui.keymap import keymap_problems
from aro_tui.ui.registry import PluginRegistry
from aro_tui.ui.screens.help import HelpScreen
from aro_tui.ui.screens.main import MainScreen
from aro_tui.ui.screens.pager import PagerScreen
from aro_tui.ui.screens.save import SaveDialog
from aro_tui.ui.themes import (
    apply_theme,
    load_themes,
    remember_theme_changes,
    theme_variable_defaults,
)
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable, FilterInput
from aro_tui.ui.widgets.request.input_editor import editor_bindings
from aro_tui.ui.widgets.response.exchange_view import BodyView, RequestView
from aro_tui.ui.widgets.sidebar.action_list import ActionList
from aro_tui.ui.widgets.sidebar.plugin_list import PluginList

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
SIGNAL_EXIT_GRACE_S = 3.0
MAX_START_NOTES = 4
QUIT_AGAIN_S = 3.0
"""With calls running, ctrl+q quits only when pressed again within this long."""
"""Problems found at start shown one note each; with more, the palette lists them all."""
"""How long the normal shutdown gets after a signal before the app ends at once."""
"""Signals that end the dashboard as ctrl+q does: ``kill``, the terminal closing, an outside
interrupt (in the dashboard, ctrl+c is a key, not SIGINT)."""


def _binding_id(binding: BindingType) -> str | None:
    return binding.id if isinstance(binding, Binding) else None


class AroApp(App[None]):
    """Run and inspect ARO Python plugins."""

    TITLE = "aro-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("f1", "help", "Help", id="help", show=False),
    ]
    COMMANDS = App.COMMANDS | {DashboardCommands}
    # A mode (not get_default_screen) so the screen's CSS_PATH is loaded.
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {"dashboard": MainScreen}
    DEFAULT_MODE = "dashboard"

    def __init__(self, config: AppConfig, discovery: Discovery) -> None:
        super().__init__()
        self.config = config
        self.start_problems: list[str] = []
        """Theme, settings and recorder problems found at start, and an opened recording's
        warnings: a few notes, and all of them from the palette (Show start-up problems)."""
        self._start_problems_told = False
        """Whether the notes for ``start_problems`` were shown (later ones get their own)."""
        self._exit_signal: int | None = None
        """The signal that asked the app to end, once one has."""
        self._screen_up = False
        self._quit_asked_s = float("-inf")  # when ctrl+q last asked to be pressed again
        self._previous_handlers: dict[int, Any] = {}
        self.settings = self._load_settings()
        self.recorder = self._start_recorder(discovery)
        self.registry = PluginRegistry(
            discovery, config.timeout_s, self.recorder, config.interpreter
        )
        self.memory = InputMemory(config.memory_path)
        if self.memory.problem is not None:
            self.start_problems.append(self.memory.problem)
        self.exchange_log = ExchangeLog(on_write_error=self._background_write_failed)

    @property
    def read_only(self) -> bool:
        """Whether this shows a recording (``aro-tui open``) rather than a live session."""
        return self.config.open_session is not None

    def _load_settings(self) -> Settings:
        if not self.config.user_files:
            return Settings(theme=self.config.theme)
        loaded = load_settings()
        self.start_problems.extend(loaded.problems)
        return loaded.settings

    def _start_recorder(self, discovery: Discovery) -> SessionRecorder | None:
        config = self.config
        if not (config.user_files and config.record and self.settings.record_sessions):
            return None
        if self.read_only:
            return None
        try:
            recorder = start_session(
                self.settings, plugins_dir=discovery.plugins_dir, folder=config.sessions_dir
            )
        except OSError as error:
            self.start_problems.append(f"Not recording this session: {error}")
            return None
        recorder.on_error = self._background_write_failed
        recorder.on_body_lost = self._background_write_failed
        return recorder

    @dataclasses.dataclass
    class BackgroundWriteFailed(Message):
        """A writer thread (the recorder's, the exchange log's) could not write: why."""

        text: str

    def _background_write_failed(self, message: str) -> None:
        """The recorder's or the exchange log's writer thread failed (disk full, the recording
        deleted, a body's side file refused...): say so, keep running.

        Posted, not ``call_from_thread``: that waits for the event loop, which waits for the
        writer thread when it closes the recording on exit, so quitting hung for the
        recorder's 30 s close timeout."""
        self.post_message(self.BackgroundWriteFailed(message))

    def on_aro_app_background_write_failed(self, message: BackgroundWriteFailed) -> None:
        self.notify(message.text, severity="error", markup=False)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """$status-ok, $chart-gpu... resolve under Textual's built-in themes too."""
        return theme_variable_defaults()

    def on_load(self) -> None:
        self._watch_exit_signals(True)  # before any screen mounts and starts a plugin

    def on_mount(self) -> None:
        folders = None if self.config.user_files else [bundled_themes_dir()]
        self.start_problems[:0] = load_themes(self, folders)
        if fallback := apply_theme(self, self.settings.theme):
            self.start_problems.append(fallback)
        self._apply_keymap()
        self._tell_start_problems()
        if self.config.user_files:
            remember_theme_changes(self)

    def _apply_keymap(self) -> None:
        """Give the bindings the keys the settings' ``keymap`` names; what it names wrong (an
        id no binding has, keys that are no keys) or takes from another binding is a
        start-up problem (``ui/keymap.py``: Textual would take it without a word)."""
        keymap = self.settings.keymap
        if not keymap:
            return
        usable, problems = keymap_problems(keymap, self.binding_groups())
        if "help" in usable:  # f1 is bound twice: everywhere, and first in the footer
            usable["help-first"] = usable["help"]
        self.start_problems.extend(problems)
        self.set_keymap(usable)

    def _tell_start_problems(self) -> None:
        """One note per problem when there are few; with more, the first ones and how to see
        them all (fifteen broken theme files stacked their notes off the top of the screen)."""
        self._tell_problems(self.start_problems, "problems at start")
        self._start_problems_told = True

    def add_problems(self, problems: Sequence[str], what: str) -> None:
        """Keep ``problems`` with the start-up problems (the palette lists them all) and tell
        them: with those, when they are yet to be told, else on their own, as few notes."""
        self.start_problems.extend(problems)
        if self._start_problems_told:
            self._tell_problems(problems, what)

    def _tell_problems(self, problems: Sequence[str], what: str) -> None:
        """A note for each of ``problems`` when there are at most ``MAX_START_NOTES``, else
        for the first ones and one saying how many ``what`` more."""
        shown = problems if len(problems) <= MAX_START_NOTES else problems[: MAX_START_NOTES - 1]
        for problem in shown:
            self.notify(problem, severity="warning", markup=False)
        if len(shown) < len(problems):
            more = len(problems) - len(shown)
            self.notify(
                f"…and {more} more {what}: ctrl+p → Show start-up problems lists them all.",
                severity="warning",
                markup=False,
            )

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Save an SVG of the screen (the palette's Screenshot) and say where, or why not.

        Textual's own saves into ~/Downloads and said only "Failed to save screenshot" where
        that folder does not exist (a server, a container): the current folder is used then.
        """
        downloads = Path.home() / "Downloads"
        folder = Path(path) if path else downloads if downloads.is_dir() else Path.cwd()
        try:
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as error:
            why = error.strerror or str(error)
            self.notify(f"Could not save the screenshot in {folder}: {why}", severity="error")
            return None
        self.notify(f"Saved the screenshot to {saved}", markup=False)
        return saved

    def action_show_start_problems(self) -> None:
        """Every problem found at start (theme files, settings, recording) in the pager."""
        text = "\n\n".join(self.start_problems) or "No problems at start."
        report = (text + "\n").encode()

        def read_slice(offset: int, length: int) -> bytes:
            return report[offset : offset + length]

        pager = PagerScreen("Start-up problems", len(report), read_slice, "start-problems.txt")
        self.push_screen(pager)

    def _watch_exit_signals(self, watch: bool) -> None:
        """Without this, SIGTERM or SIGHUP killed the process outright: the terminal stayed in
        the dashboard's screen mode, the recording had no end, and a plugin's own child
        processes outlived it (the harness itself dies with its parent, see the harness).

        Plain ``signal.signal`` handlers, not the event loop's: those run only when the loop
        gets round to them, and 30,000 keys typed without bracketed paste kept it from doing
        so for minutes."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for number in EXIT_SIGNALS:
            if watch:
                handler = functools.partial(self._exit_on_signal, loop)
                self._previous_handlers[number] = signal.signal(number, handler)
            elif number in self._previous_handlers:
                signal.signal(number, self._previous_handlers.pop(number))

    def _exit_on_signal(
        self, loop: asyncio.AbstractEventLoop, number: int, frame: FrameType | None
    ) -> None:
        """End the app through its normal shutdown (plugins killed, recording closed, terminal
        restored); the exit status is 128 + the signal's number, as a shell reports it.

        The shutdown is a message, queued behind whatever the app has still to handle. So a
        second signal, or the first one still unheeded after ``SIGNAL_EXIT_GRACE_S``, ends
        the app at once (from a thread: the loop may be busy for a long while)."""
        if loop.is_closed():  # left behind by an app that ended without unmounting
            signal.signal(number, self._previous_handlers.pop(number, signal.SIG_DFL))
            signal.raise_signal(number)
            return
        if self._exit_signal is not None:
            self._exit_now(number)
            return
        self._exit_signal = number
        with contextlib.suppress(RuntimeError):  # the loop is closed: the app is ending anyway
            loop.call_soon_threadsafe(self._exit_for_signal)
        timer = threading.Timer(SIGNAL_EXIT_GRACE_S, self._exit_now, (number,))
        timer.daemon = True
        timer.start()

    def _exit_for_signal(self) -> None:
        """Exit, once the first screen is up: an exit while it mounts failed with Textual's
        ``MountError`` (status 1, a traceback, the plugins left to the last-resort kill)."""
        if self._screen_up and self._exit_signal is not None:
            self.exit(return_code=128 + self._exit_signal)

    def on_ready(self) -> None:
        self._screen_up = True
        self._exit_for_signal()  # a signal that came while the app started

    def _exit_now(self, number: int) -> None:
        """What the normal shutdown does, here and now, then leave with 128 + ``number``.

        Not skipped once the app has stopped running: its shutdown then still drains every
        widget's queue (a backlog of typed keys took 16 s), with the plugins alive."""
        steps: list[Callable[[], object]] = [self.registry.kill_all_now, kill_runtime_calls]
        if self.recorder is not None:
            steps.append(self._record_unfinished_calls)
            steps.append(functools.partial(self.recorder.close, timeout_s=5))
        steps.append(self.exchange_log.close)
        if self._driver is not None:
            # The terminal, usable again; close() waits for its writer thread to write that.
            steps += [self._driver.stop_application_mode, self._driver.close]
        for step in steps:
            with contextlib.suppress(Exception):  # each step is worth trying regardless
                step()
        os._exit(128 + number)

    def _record_unfinished_calls(self) -> None:
        """Calls still running when the app ends by a signal (ctrl+q stops the plugins
        first, which ends them): recorded as cancelled, where they used to be missing from
        the recording. Copies, so that no host state or future is touched from here (this
        may run on the signal's timer thread)."""
        assert self.recorder is not None
        now = time.monotonic()
        for process in self.registry.processes():
            for exchange in process.unfinished():
                self.recorder.record_exchange(
                    dataclasses.replace(
                        exchange,
                        status=ExchangeStatus.CANCELLED,
                        error="aro-tui exited during the call; plugin killed",
                        finished_monotonic_s=now,
                    )
                )

    @property
    def main_screen(self) -> MainScreen:
        """The dashboard screen (always at the bottom of the stack)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def binding_groups(self) -> list[tuple[str, list[BindingType]]]:
        """Every binding by region, for the help screen."""
        general: list[BindingType] = [
            *self.BINDINGS,
            Binding(self.COMMAND_PALETTE_BINDING, "command_palette", "Command palette"),
        ]
        everywhere = Binding.make_bindings([*self.BINDINGS, *MainScreen.BINDINGS])
        keymap = self._keymap  # a remapped priority key shadows the editor's
        priority_keys = {
            key
            for binding in everywhere
            if binding.priority
            for key in keymap.get(binding.id or "", binding.key).split(",")
        }
        return [
            ("everywhere", general),
            # f1 is listed once, under "everywhere" (the screen's copy orders the footer).
            ("dashboard", [b for b in MainScreen.BINDINGS if _binding_id(b) != "help-first"]),
            ("plugin list", list(PluginList.BINDINGS)),
            ("action list", list(ActionList.BINDINGS)),
            ("exchange log", list(ExchangeTable.BINDINGS)),
            ("log filter", list(FilterInput.BINDINGS)),
            ("response", list(BodyView.BINDINGS)),
            ("request", list(RequestView.BINDINGS)),
            ("full response", list(PagerScreen.BINDINGS)),
            ("save dialog", list(SaveDialog.BINDINGS)),
            ("input editor", editor_bindings(priority_keys)),
        ]

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's commands less its "Keys" panel: the palette already offers "Show keys
        (help)", every binding by region, and two entries for keys read as a duplicate."""
        for command in super().get_system_commands(screen):
            if command.title != "Keys":
                yield command

    def action_help(self) -> None:
        """Show every key binding."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.binding_groups()))

    async def action_quit(self) -> None:
        """Stop every plugin process, then leave; with calls running, only at a second
        ctrl+q within ``QUIT_AGAIN_S`` (one key ended four calls, 30 s ones, unasked)."""
        running = [
            call
            for entry in self.registry.entries.values()
            for call in entry.running_calls.values()
        ]
        now_s = time.monotonic()
        if running and now_s - self._quit_asked_s > QUIT_AGAIN_S:
            self._quit_asked_s = now_s
            what = ", ".join(sanitize_line(f"{c.plugin} · {c.action}") for c in running[:3])
            more = f" and {len(running) - 3} more" if len(running) > 3 else ""
            calls = "a call" if len(running) == 1 else f"{len(running)} calls"
            self.notify(
                f"{calls} running ({what}{more}): ctrl+q again to stop "
                f"{'it' if len(running) == 1 else 'them'} and quit",
                severity="warning",
                markup=False,
            )
            return
        await self.registry.stop_all()
        self.exit()

    def on_unmount(self) -> None:
        self._watch_exit_signals(False)
        self.registry.kill_all_now()
        kill_runtime_calls()  # a "Run like the ARO runtime" still running
        self.exchange_log.close()
        if self.recorder is not None:
            self._record_unfinished_calls()
            self.recorder.close()
