"""What the main screen does to plugins and exchanges: run, cancel, restart, rerun, save."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import TextArea

from aro_tui.core.host.exchange import Exchange
from aro_tui.core.host.process import PluginProcess, PluginStartError, PluginState
from aro_tui.core.runtime_run import (
    other_interpreter_note,
    run_like_runtime,
    runtime_interpreter,
)
from aro_tui.core.sanitize import sanitize_line
from aro_tui.ui.formatting import plain_title
from aro_tui.ui.screens.pager import PagerScreen
from aro_tui.ui.widgets.request.input_editor import InputEditor

if TYPE_CHECKING:
    from aro_tui.ui.app import AroApp
    from aro_tui.ui.registry import PluginEntry

LIVE_ONLY_ACTIONS = frozenset(
    {
        "run",
        "rerun",
        "restart_resend",
        "start_selected",
        "stop_selected",
        "restart_plugin",
        "start_refused",
        "stop_refused",
    }
)
"""Off in a reopened recording: hidden from the footer, their keys do nothing."""


def response_file_name(number: int, action: str) -> str:
    """The file name a response is offered to be saved as (ctrl+s, the pager's too)."""
    return f"response-{number}-{sanitize_line(action)}.json"


async def run_lifecycle(process: PluginProcess, verb: str) -> None:
    """``start``, ``stop`` or ``restart`` ``process``."""
    if verb == "start":
        await process.start()
    elif verb == "stop":
        await process.stop()
    else:
        await process.restart()


class ExchangeActions(Screen[None]):
    """The main screen's actions; the layout and selection live in ``main.py``."""

    current_plugin: str | None
    current_action: str | None
    drafts: dict[tuple[str, str], tuple[str, str]]
    shown_number: int | None
    live_exchange: Exchange | None
    start_wait: Exchange | None
    """The call the panes show waiting for its plugin to start (not sent yet), if any."""
    runtime_cancel: threading.Event | None
    """Set to stop the "Run like the ARO runtime" call in progress (None when none runs)."""

    @property
    def aro(self) -> AroApp:
        """The app, typed."""
        raise NotImplementedError

    def show_exchange(self, number: int) -> None:
        """Show exchange ``number`` (defined by the layout)."""
        raise NotImplementedError

    def select_plugin(self, name: str | None) -> None:
        """Show ``name``'s actions (defined by the layout)."""
        raise NotImplementedError

    def _refresh_actions(self, keep: str | None = None) -> None:
        """Refill the action list, highlighting ``keep`` (defined by the layout)."""
        raise NotImplementedError

    def focus_now(self, widget: Widget) -> None:
        """Focus ``widget`` before the next key is read (defined by the layout)."""
        raise NotImplementedError

    def typing_in_text(self) -> bool:
        """Whether the focused widget takes typed characters (defined by the layout)."""
        raise NotImplementedError

    def say(self, message: str, severity: str = "information") -> None:
        """A notification; plugin text in it is sanitized and never read as markup."""
        level = severity if severity in {"information", "warning", "error"} else "information"
        self.notify(sanitize_line(message), severity=level, markup=False)  # type: ignore[arg-type]

    def stash_draft(self) -> None:
        """Keep the current action's unsent edit (defined by the layout)."""
        raise NotImplementedError

    def refuse_read_only(self, doing: str) -> bool:
        """True (and a note) when ``doing`` is off because this is a recording."""
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide running and plugin lifecycle keys when this shows a recording; offer Start
        or Stop for the highlighted plugin, whichever applies (the footer shows one)."""
        if action in LIVE_ONLY_ACTIONS and self.aro.read_only:
            return False
        if action == "jump_to":  # in a text field ESC N types a character (main.py)
            return not self.typing_in_text()
        if action == "focus_next_region":  # in the editor Tab indents
            focused = self.focused
            return not (isinstance(focused, TextArea) and not focused.read_only)
        if action in {"start_selected", "stop_selected"}:
            up = self.highlighted_up()
            return up is not None and up is (action == "stop_selected")
        if action in {"start_refused", "stop_refused"}:  # the key of the one not offered
            applies = action.replace("refused", "selected")
            return self.check_action(applies, parameters) is False
        return super().check_action(action, parameters)

    def highlighted_up(self) -> bool | None:
        """Whether the highlighted plugin is starting, ready or busy (Stop applies), or None
        when it cannot run at all (an invalid manifest: neither key applies)."""
        entry = self.aro.registry.get(self.current_plugin)
        process = None if entry is None else entry.process
        if process is None:
            return None
        return process.running or process.state is PluginState.STARTING

    def _chosen(self, name: str | None) -> PluginEntry | None:
        """``name``'s entry, or None after asking for a plugin to be chosen. One that could
        not run when last read is returned too: the start or call asked of it reads its
        folder again, and it runs if plugin.yaml was fixed meanwhile."""
        entry = self.aro.registry.get(name)
        if entry is None:
            self.say("Choose a plugin first.", "warning")
        return entry

    # -- running ------------------------------------------------------------------------------

    _said_save_error: str | None = None

    def _checked_request(self) -> tuple[PluginEntry, str, str] | None:
        """(plugin, action, input) ready to send, or None after saying what is missing."""
        if self.refuse_read_only("running"):
            return None
        entry = self._chosen(self.current_plugin)
        if entry is None:
            return None
        if self.current_action is None:
            self.say("Choose an action first.", "warning")
            return None
        editor = self.query_one(InputEditor)
        problem = editor.validate()
        if problem is not None:
            self.focus_now(editor.text_area)
            self.say(problem.describe() + " — nothing was sent.", "error")
            return None
        memory = self.aro.memory
        saved = memory.remember(entry.name, self.current_action, editor.text)
        if memory.save_error is not None and memory.save_error != self._said_save_error:
            self.say(f"Could not remember this input for later runs: {memory.save_error}.")
        self._said_save_error = memory.save_error  # once per failure, not once per call
        # Remembered now: the editor no longer holds an edit "not run yet".
        self.drafts.pop((entry.name, self.current_action), None)
        editor.mark_sent(saved, save_failed=memory.save_error is not None)
        return entry, self.current_action, editor.text

    def action_run(self) -> None:
        """Check the input and send it to the selected action, once the focused widget has
        handled the keys read before this one.

        Why wait: a priority binding runs as soon as the app reads its key, while the keys
        read before it still wait in the focused widget's queue. Text typed or pasted just
        before ctrl+r (or typed while the machine was busy) would be missing from what is
        sent, though the editor shows it a moment later.
        """
        self.after_keys_typed_before(self._run_input)

    def after_keys_typed_before(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once the focused widget has handled the keys it was sent before
        the one now read (for a priority binding, which runs as its key is read)."""
        focused = self.app.focused
        if focused is None or focused is self:
            callback()
        else:
            focused.call_later(callback)

    def _run_input(self) -> None:
        request = self._checked_request()
        if request is not None:
            entry, action, text = request
            self.send(entry.name, action, text)

    def action_run_like_runtime(self) -> None:
        """Run the selected action once the way the ARO runtime does (a new ``python3 -c``
        process), in a thread; the verdict, stdout and stderr open in the pager."""
        chosen = self.aro.registry.get(self.current_plugin)
        if chosen is not None and chosen.process is None:  # as last read: s reads it again
            problems = "; ".join(p.message for p in chosen.plugin.problems if p.is_error)
            self.say(f"{chosen.name} cannot run: {problems}", "error")
            return
        request = self._checked_request()
        if request is None:
            return
        entry, action, text = request
        module_path = entry.plugin.module_path
        interpreter = runtime_interpreter()
        if module_path is None or interpreter is None:
            self.say("No python3 on PATH: the ARO runtime's interpreter is missing.", "error")
            return
        if self.runtime_cancel is not None:  # one at a time: the new one replaces it
            self.runtime_cancel.set()
        self.runtime_cancel = cancel = threading.Event()
        self.say(
            f"Running {entry.name} · {action} the ARO runtime's way (up to 30 s; ctrl+g cancels)…"
        )
        note = other_interpreter_note(interpreter, entry.plugin.interpreter.path)
        title = f"ARO runtime · {sanitize_line(entry.name)} · {sanitize_line(action)}"
        self._run_like_runtime(interpreter, module_path, action, text.encode(), note, title, cancel)

    @work(thread=True, group="runtime")
    def _run_like_runtime(
        self,
        interpreter: str,
        module_path: Path,
        action: str,
        body: bytes,
        note: str | None,
        title: str,
        cancel: threading.Event,
    ) -> None:
        outcome = run_like_runtime(interpreter, module_path, action, body, cancel=cancel)
        report = outcome.report()
        if note is not None:  # a missing package there would look like a broken plugin
            report = f"note: {note}\n\n".encode() + report
        with contextlib.suppress(RuntimeError):  # the app has gone meanwhile
            self.app.call_from_thread(
                self._runtime_run_ended, title, report, cancel, outcome.kind == "cancelled"
            )

    def _runtime_run_ended(
        self, title: str, report: bytes, cancel: threading.Event, cancelled: bool
    ) -> None:
        if self.runtime_cancel is cancel:
            self.runtime_cancel = None
        if cancelled:
            self.say(f"{title}: cancelled.")
            return

        def read_slice(offset: int, length: int) -> bytes:
            return report[offset : offset + length]

        self.app.push_screen(PagerScreen(title, len(report), read_slice, "aro-runtime-run.txt"))

    def send(self, plugin: str, action: str, request: str | bytes, restart: bool = False) -> None:
        """Call ``action`` in a worker; the result arrives as an ExchangeFinished message. A
        call that must wait for its plugin to start (or that starts it) says so at once."""
        entry = self.aro.registry.get(plugin)
        if entry is None:
            return
        if restart and not self._claim_lifecycle(entry, "restart"):
            return
        process = entry.process
        waiting = None
        if restart or process is None or not process.running:
            body = request.encode() if isinstance(request, str) else request
            waiting = Exchange(0, plugin, action, body)  # shown only: not sent yet
            self.show_start_wait(waiting)
        self.run_worker(self._call(plugin, action, request, restart, waiting), group="calls")

    async def _call(
        self,
        plugin: str,
        action: str,
        request: str | bytes,
        restart: bool,
        waiting: Exchange | None,
    ) -> None:
        entry = self.aro.registry.get(plugin)
        if entry is None:
            return
        try:
            if restart or entry.process is None or not entry.process.running:  # it starts
                try:
                    if not await self._manifest_allows(entry, "restart" if restart else "start"):
                        return
                    if restart:
                        assert entry.process is not None  # the manifest allows it
                        await run_lifecycle(entry.process, "restart")
                finally:
                    if restart:
                        self._release_lifecycle(entry)
                        self.plugin_changed(entry)  # its row said "restart…"
            process = self.aro.registry.process_of(plugin)
            if process is None:  # another call found the manifest broken meanwhile
                return
            entry.failure = entry.start_failure = None
            await process.call(action, request, timeout_s=self.aro.config.timeout_s)
        except PluginStartError as error:
            self.start_failed(entry, error)
            self.say(f"{plugin} did not start: {error}", "error")
        except ValueError as error:  # an action name the protocol cannot carry
            self.say(f"{plugin} · {action}: {error}", "error")
        except Exception as error:
            self._host_failed(entry, f"calling {action}", error)
        finally:
            if waiting is not None:
                # After the messages posted meanwhile: its ExchangeStarted (or a failed start's
                # ExchangeFinished) takes the card; none came when it was never sent.
                self.call_later(self.end_start_wait, waiting)

    def show_start_wait(self, call: Exchange) -> None:
        """Show ``call`` waiting for its plugin to start (defined by the layout)."""
        raise NotImplementedError

    def end_start_wait(self, call: Exchange) -> None:
        """``call`` was never sent: its waiting card says so (defined by the layout)."""
        raise NotImplementedError

    def start_failed(self, entry: PluginEntry, error: PluginStartError) -> None:
        """Keep why ``entry`` did not start on screen: its row and docs say it, and the
        stderr pane shows its last lines and the import's traceback."""
        entry.start_failure = error
        if entry.name == self.current_plugin and self.live_exchange is None:
            self.show_plugin_stderr(entry.name, entry.start_output(), "at start")

    def show_plugin_stderr(self, plugin: str, lines: list[str], when: str) -> None:
        """Show lines ``plugin`` printed outside an exchange (defined by the layout)."""
        raise NotImplementedError

    def _host_failed(self, entry: PluginEntry, doing: str, error: BaseException) -> None:
        """An unexpected exception from the host: say so, and show the plugin as crashed."""
        entry.failure = f"{type(error).__name__}: {error}"
        self.say(f"{entry.name}: aro-tui error while {doing}: {entry.failure}", "error")
        self.plugin_changed(entry)

    def plugin_changed(self, entry: PluginEntry) -> None:
        """Redraw what shows ``entry``'s state (defined by the layout)."""
        raise NotImplementedError

    def action_cancel(self) -> None:
        """Interrupt the call on the running card (it says "ctrl+g: cancel"), or the one it
        waits behind (calls run in order, so cancelling a waiting call would leave the stuck
        one running); else the chosen plugin's call, or its start. Choosing a busy plugin
        shows its card, so the two agree. A "Run like the ARO runtime" in progress goes
        first (a call waits for the next ctrl+g)."""
        if self.runtime_cancel is not None:
            self.runtime_cancel.set()
            self.say("Cancelling the ARO runtime run…")
            return
        live = self.live_exchange
        # Its own plugin's: ids count per plugin, so another plugin may run a call of the
        # same id (ctrl+g then stopped that one, not the call on screen).
        live_entry = None if live is None else self.aro.registry.get(live.plugin)
        if live is not None and live_entry is not None and live.id in live_entry.running_calls:
            self._cancel_running(live_entry)
            return
        current = self.aro.registry.get(self.current_plugin)
        current_process = None if current is None else current.process
        if current is not None and current_process is not None:
            if current.running_calls or current_process.in_flight:
                self._cancel_running(current)
                return
            if current_process.state is PluginState.STARTING:
                self.run_worker(self._stop_while_starting(current), group="lifecycle")
                self.say(f"Stopping {current.name} while it starts.")
                return
        # Another plugin may be busy: its call was run, then another plugin chosen; or the
        # calls are the compare view's or "Replay all"'s, which no log row shows.
        busy = [
            entry
            for entry in self.aro.registry.entries.values()
            if entry.process is not None and (entry.running_calls or entry.process.in_flight)
        ]
        if len(busy) == 1:
            self._cancel_running(busy[0])
        elif busy:
            names = ", ".join(sanitize_line(entry.name) for entry in busy)
            self.say(f"Busy: {names}. Highlight one (F4) and press ctrl+g to cancel its call.")
        else:
            self.say("Nothing is running.")

    def drop_queued_calls(self, name: str) -> None:
        """Cancel the calls waiting behind the one plugin ``name`` runs (the harness skips
        each when it gets there); the running one goes on. ctrl+g only ever reached the
        running call: a third call queued could not be dropped without the two before it."""
        entry = self.aro.registry.get(name)
        process = None if entry is None else entry.process
        if entry is None or process is None:
            return
        executing = process.executing
        queued = [call for call in entry.running_calls.values() if call is not executing]
        if not queued:
            self.say(f"{sanitize_line(name)} has no call waiting.")
            return
        for call in queued:
            process.cancel(call.id)
        plural = "" if len(queued) == 1 else "s"
        # They end when the plugin reaches them, after the running call: a minute's silence
        # read as the drop not working.
        self.say(
            f"Dropped {len(queued)} call{plural} queued for {sanitize_line(name)}: "
            f"{'it ends' if len(queued) == 1 else 'they end'}, cancelled, once the running "
            f"{sanitize_line(executing.action) if executing else 'call'} ends (ctrl+g stops it)."
        )

    def _cancel_running(self, entry: PluginEntry) -> None:
        """Interrupt the call ``entry``'s plugin is executing (the ones queued behind it run
        next); the oldest of its calls when the host does not say which runs."""
        process = entry.process
        if process is None:
            return
        target = process.executing
        if target is None and entry.running_calls:
            target = entry.running_calls[min(entry.running_calls)]
        if target is None:
            return
        process.cancel(target.id)
        self.say(f"Cancelling {target.plugin} · {target.action}…")  # no id: see the card

    async def _stop_while_starting(self, entry: PluginEntry) -> None:
        if entry.process is None:
            return
        try:
            await entry.process.stop()
        except Exception as error:
            self._host_failed(entry, "stopping", error)

    def _selected_request(self) -> tuple[str, str, bytes] | None:
        number = self.shown_number
        entry = None if number is None else self.aro.exchange_log.get(number)
        if entry is None or number is None:
            self.say("Select an exchange in the log first.", "warning")
            return None
        return entry.plugin, entry.action, self.aro.exchange_log.request_bytes(number)

    def action_rerun(self) -> None:
        """Send the selected exchange's request again."""
        if self.refuse_read_only("rerun"):
            return
        selected = self._selected_request()
        if selected is not None and self._chosen(selected[0]) is not None:
            self.send(*selected)

    def action_restart_resend(self) -> None:
        """Restart the selected exchange's plugin, then send its request again."""
        if self.refuse_read_only("restart and resend"):
            return
        selected = self._selected_request()
        if selected is not None and self._chosen(selected[0]) is not None:
            self.say(f"Restarting {selected[0]} and resending {selected[1]}…")
            self.send(*selected, restart=True)

    def action_edit_request(self) -> None:
        """Load the selected exchange's request into the editor."""
        selected = self._selected_request()
        if selected is None:
            return
        plugin, action, request = selected
        # Undoable only within one action: the undo history of another action's input would
        # otherwise bring its text into this one (and ctrl+r send it here).
        same_action = (plugin, action) == (self.current_plugin, self.current_action)
        self.stash_draft()  # an unsent edit of the action being left stays to come back to
        self.select_plugin(plugin)
        # The list's highlight moves to ``action`` without loading its remembered input:
        # select_action leaves the current action's input alone.
        self.current_action = action
        self._refresh_actions(action)
        editor = self.query_one(InputEditor)
        editor.border_title = plain_title(f"Input · {action}")
        request_text = request.decode("utf-8", "replace")
        editor.load(request_text, f"request #{self.shown_number}", undoable=same_action)
        self.focus_now(editor.text_area)  # the keys typed next go to it

    # -- plugin lifecycle ---------------------------------------------------------------------

    def start_plugin(self, name: str) -> None:
        """Start ``name`` unless it is running (or a start/stop is already under way); an
        invalid plugin's plugin.yaml is read again, and it starts if it was fixed."""
        entry = self.aro.registry.get(name)
        if entry is not None and (entry.process is None or not entry.process.running):
            self.lifecycle_command(name, "start", quiet=True)

    def action_start_selected(self) -> None:
        """Start the highlighted plugin."""
        self.start_named(self.current_plugin, keys=" Shift+S stops it, shift+R restarts.")

    def action_stop_selected(self) -> None:
        """Stop the highlighted plugin (also while it is still starting)."""
        self.stop_named(self.current_plugin, keys=" s starts it.")

    def action_start_refused(self) -> None:
        """``s`` while the footer offers Stop: say why nothing starts."""
        self.action_start_selected()

    def action_stop_refused(self) -> None:
        """``S`` while the footer offers Start: say why nothing stops."""
        self.action_stop_selected()

    def start_named(self, name: str | None, *, keys: str = "") -> None:
        """Start ``name``; a running one is left alone, with a note (``keys``: what to press
        instead, for a key that asked)."""
        if self.refuse_read_only("start"):
            return
        entry = self._chosen(name)
        if entry is None:
            return
        if entry.process is not None and entry.process.running:
            self.say(f"{entry.name} is already running ({entry.state_text}).{keys}")
            return
        self.lifecycle_command(entry.name, "start")

    def stop_named(self, name: str | None, *, keys: str = "") -> None:
        """Stop ``name`` (also while it is still starting); one that is not running is left
        alone, with a note."""
        entry = self._chosen(name)
        if entry is None:
            return
        if entry.process is None:
            self.say(f"{entry.name} is not running ({entry.state_text}).{keys}")
            return
        if entry.process.state is PluginState.STARTING:  # its start holds the lifecycle
            self.run_worker(self._stop_while_starting(entry), group="lifecycle")
            self.say(f"Stopping {entry.name} while it starts.")
            return
        if not entry.process.running:
            self.say(f"{entry.name} is not running ({entry.state_text}).{keys}")
            return
        self.lifecycle_command(entry.name, "stop")

    def action_restart_plugin(self) -> None:
        """Restart the highlighted plugin."""
        entry = self._chosen(self.current_plugin)
        if entry is not None:
            self.lifecycle_command(entry.name, "restart")

    def lifecycle_command(
        self, name: str, verb: str, quiet: bool = False, *, automatic: bool = False
    ) -> None:
        """Start, stop or restart ``name`` in a worker, unless one is already in progress;
        ``automatic`` (``--reload``): a refusal to start is said once, not on every try. A
        plugin that could not run when last read has nothing to stop, and its restart is a
        start: either reads its plugin.yaml again."""
        if self.refuse_read_only(f"{verb} plugin"):
            return
        entry = self.aro.registry.get(name)
        if entry is None or (entry.process is None and verb == "stop"):
            return
        if entry.process is None:
            verb = "start"
        if self._claim_lifecycle(entry, verb, quiet):
            self.run_worker(self.lifecycle(name, verb, automatic), group="lifecycle")

    def _claim_lifecycle(self, entry: PluginEntry, verb: str, quiet: bool = False) -> bool:
        """Mark ``verb`` as in progress for ``entry``; False (and a note) if one already is.

        Claimed synchronously, in the key handler, so a burst of presses can't start two.
        """
        if entry.lifecycle_verb is not None:
            if not quiet:
                self.say(f"{entry.name}: {entry.lifecycle_verb} in progress; {verb} ignored.")
            return False
        entry.lifecycle_verb = verb
        return True

    def _release_lifecycle(self, entry: PluginEntry) -> None:
        entry.lifecycle_verb = None

    async def lifecycle(self, name: str, verb: str, automatic: bool = False) -> None:
        """Run one lifecycle operation; every failure is reported, none escapes."""
        entry = self.aro.registry.get(name)
        if entry is None:
            return
        try:
            entry.failure = entry.start_failure = None
            if verb != "stop" and not await self._manifest_allows(entry, verb, automatic):
                return
            assert entry.process is not None  # a valid manifest has a process
            await run_lifecycle(entry.process, verb)
        except PluginStartError as error:
            if error.stopped:
                self.say(f"{name} was stopped before it was ready.")
            else:
                self.start_failed(entry, error)
                tail = " | ".join(error.stderr_tail[-3:])
                self.say(f"{name} did not start: {error} {tail}", "error")
        except Exception as error:
            self._host_failed(entry, f"{verb}ing" if verb != "stop" else "stopping", error)
        finally:
            self._release_lifecycle(entry)
            self.plugin_changed(entry)

    async def _manifest_allows(
        self, entry: PluginEntry, verb: str, automatic: bool = False
    ) -> bool:
        """Read ``entry``'s plugin.yaml again (an edit since discovery applies from this
        start on); False, and why, when it must not start: every time a key asked, once per
        reason for ``--reload``'s tries."""
        refusal = await self.aro.registry.reread(entry)
        self.plugin_changed(entry)  # its problems, actions and docs as read now
        if refusal is None:
            entry.manifest_refusal = None
            return True
        if not automatic or refusal != entry.manifest_refusal:
            entry.manifest_refusal = refusal
            running = entry.process is not None and entry.process.running
            still = "; it still runs what it started with" if running else ""
            self.say(
                f"{entry.name} not {verb}ed: {refusal}{still}. aro-tui check lists every problem.",
                "error",
            )
        return False
