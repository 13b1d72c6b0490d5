"""The dashboard: plugins and actions, the input editor, the log, the selected exchange."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Input, Static, TextArea

from aro_tui.core.host.exchange import Exchange
from aro_tui.core.host.process import PluginState
from aro_tui.core.input_memory import choose_initial_input
from aro_tui.core.plugins.naming import full_function_name
from aro_tui.core.plugins.source_changes import SourceChanges
from aro_tui.core.sanitize import sanitize_line
from aro_tui.core.templates import (
    has_input_section,
    input_example,
    parse_input_fields,
    render_template,
)
from aro_tui.ui.formatting import plain_title
from aro_tui.ui.messages import (
    ExchangeFinished,
    ExchangeStarted,
    PluginStateChanged,
    StderrActivity,
)
from aro_tui.ui.screens.main_keys import MAIN_SCREEN_BINDINGS
from aro_tui.ui.screens.main_log import LogWindow
from aro_tui.ui.widgets.log.exchange_table import ExchangeLogPanel, ExchangeTable, FilterInput
from aro_tui.ui.widgets.request.input_editor import LAST_USED_THIS_RUN, NO_ACTION, InputEditor
from aro_tui.ui.widgets.response.exchange_view import (
    ExchangeView,
    ResponsePane,
    StderrView,
)
from aro_tui.ui.widgets.sidebar.action_list import ActionDoc, ActionList, Sidebar
from aro_tui.ui.widgets.sidebar.plugin_list import PluginList
from aro_tui.ui.widgets.telemetry import TelemetryPanel

if TYPE_CHECKING:
    from aro_tui.ui.app import AroApp
    from aro_tui.ui.registry import PluginEntry


PROGRESS_EVERY_S = 0.1
"""How often the progress line under the banner is redrawn, at most."""


def missing_function_source(action: str) -> str:
    """The editor's status for an action ``aro_plugin_info()`` declares whose function the
    module does not define (its input is ``{}``)."""
    function = sanitize_line(full_function_name(action, rule="spec"))
    return f'{{}} — the module defines no {function}(): a call of it answers "Unknown action"'


class MainScreen(LogWindow):
    """Everything on one screen, every region reachable by keys."""

    CSS_PATH = "main.tcss"
    AUTO_FOCUS = "#plugins"
    # Priority keys there: the editor's TextArea binds f5-f7 (select word/line/all).
    BINDINGS: ClassVar[list[BindingType]] = MAIN_SCREEN_BINDINGS
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012 - Textual declares it as a plain list
        (0, "-narrow"),
        (110, "-wide"),
    ]
    VERTICAL_BREAKPOINTS = [  # noqa: RUF012
        (0, "-short"),
        (36, "-tall"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.current_plugin: str | None = None
        self.current_action: str | None = None
        self.drafts: dict[tuple[str, str], tuple[str, str]] = {}
        self.shown_number: int | None = None
        self.live_exchange: Exchange | None = None
        self.start_wait: Exchange | None = None
        self.runtime_cancel: threading.Event | None = None
        self._ticker: Timer | None = None
        self._card_shown: tuple[object, ...] | None = None
        """What the running card shows (exchange, the one it waits behind, elapsed text)."""
        self._footer_up: bool | None = False
        """Whether the footer offers Stop (True), Start (False) or neither (None: the highlighted
        plugin cannot run) for the highlighted plugin."""
        self.partially_watched: set[str] = set()
        self.source_baselines: dict[str, tuple[float, SourceChanges]] = {}

    @property
    def aro(self) -> AroApp:
        """The app, typed."""
        from aro_tui.ui.app import AroApp

        assert isinstance(self.app, AroApp)
        return self.app

    def compose(self) -> ComposeResult:
        config = self.aro.config
        yield Static(id="banner", markup=False)
        yield Static(id="progress", markup=False)
        with Horizontal(id="body"):
            with Sidebar(id="sidebar"):
                yield PluginList(id="plugins")
                yield ActionList(id="actions")
                yield ActionDoc(id="action-doc")
            with Vertical(id="work"):
                yield InputEditor(blink=not config.deterministic, id="input")
                yield ExchangeLogPanel(
                    max_rows=config.max_table_rows,
                    deterministic=config.deterministic,
                    id="log",
                )
                yield ExchangeView(id="exchange")
                yield TelemetryPanel(window_s=120, id="telemetry")
                yield StderrView(id="stderr", max_lines=500)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.aro.registry.attach(self, on_started=self.telemetry_plugin_started)
        if self.aro.config.deterministic:
            for area in self.query(TextArea):
                area.cursor_blink = False
            for box in self.query(Input):
                box.cursor_blink = False
        self.query_one("#plugins").border_title = "Plugins"
        self.query_one("#actions").border_title = "Actions"
        self.query_one("#action-doc").border_title = "Docs"
        self.query_one("#input").border_title = "Input"
        self.query_one("#log").border_title = "Exchanges"
        self.query_one("#request-text").border_title = "Request"
        self.query_one("#response-pane").border_title = "Response"
        self.query_one("#stderr").border_title = "stderr"
        actions = self.query_one(ActionList)
        actions.on_highlight = self.select_action
        actions.on_choose = self.action_focus_input
        plugin_list = self.query_one(PluginList)
        plugin_list.on_highlight = self.select_plugin
        plugin_list.on_choose = self._plugin_chosen
        self.query_one(ExchangeTable).on_row = self.row_highlighted
        if not self.aro.read_only:
            self.start_telemetry()
            self.watch_sources()
        else:  # nothing typed there could be run
            self.query_one(InputEditor).text_area.read_only = True
        self.setup_sessions()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw_log())
        self.query_one(StderrView).show_lines([])
        plugins = self.query_one(PluginList)
        plugins.show_entries(list(self.aro.registry.entries.values()))
        first = self.aro.registry.get(plugins.highlighted_name)
        autostart = self.aro.config.autostart and not self.aro.read_only
        if first is not None and first.process is not None and autostart:
            self.start_plugin(first.name)  # not an invalid one: it was just checked
        if not self.aro.registry.entries:
            where = sanitize_line(str(self.aro.registry.discovery.plugins_dir))
            self.query_one(ActionDoc).show_doc(f"No plugins found in {where}.", True)

    def plugins_added(self) -> None:
        """Plugins found in the watched folder since it was read: list them all again (the
        highlight stays on the plugin it was on)."""
        self.query_one(PluginList).show_entries(list(self.aro.registry.entries.values()))

    # -- selection ---------------------------------------------------------------------------

    def show_banner(self, text: str) -> None:
        """Show the read-only banner above everything."""
        banner = self.query_one("#banner", Static)
        banner.update(text)
        self.add_class("-read-only")

    _progress_text: str | None = None
    _progress_shown_s = -1.0
    _progress_timer: Timer | None = None

    def show_progress(self, text: str | None) -> None:
        """Show a line of progress under the banner (a replay's), or hide it with None.

        At most every ``PROGRESS_EVERY_S``, the newest text shown by a timer meanwhile: a
        replay of fast calls redrew the screen for each, and most of its time went there.
        """
        self._progress_text = text
        waited_s = time.monotonic() - self._progress_shown_s
        if text is None or waited_s >= PROGRESS_EVERY_S:
            self._show_progress_now()
        elif self._progress_timer is None:
            self._progress_timer = self.set_timer(
                PROGRESS_EVERY_S - waited_s, self._show_progress_now
            )

    def _show_progress_now(self) -> None:
        if self._progress_timer is not None:
            self._progress_timer.stop()
            self._progress_timer = None
        text = self._progress_text
        self._progress_shown_s = time.monotonic()
        self.query_one("#progress", Static).update(sanitize_line(text or ""))
        self.set_class(text is not None, "-progress")

    def _plugin_chosen(self) -> None:
        """Enter (or a click) on a plugin: start it, and go to its actions."""
        entry = self.aro.registry.get(self.query_one(PluginList).highlighted_name)
        autostart = self.aro.config.autostart and not self.aro.read_only
        if entry is not None and autostart:
            self.start_plugin(entry.name)
        self.focus_now(self.query_one(ActionList))

    def select_plugin(self, name: str | None) -> None:
        """Show ``name``'s actions (and keep the current action when it has it)."""
        self.stash_draft()
        keep = self.current_action
        if name != self.current_plugin:
            # The other plugin's action of the same name loads its own input when highlighted.
            self.current_plugin, self.current_action = name, None
        self._offer_start_or_stop()
        self.telemetry.show_plugin(name)
        self._refresh_actions(keep)
        entry = self.aro.registry.get(name)
        if entry is not None:
            self._show_plugins_running_call(entry)
        if self.current_action is None:  # none of its actions chosen (none known yet, say)
            editor = self.query_one(InputEditor)
            editor.border_title = "Input"
            if editor.source != NO_ACTION:  # the last action's input and status stayed up
                editor.load("", NO_ACTION)

    def _refresh_actions(self, keep: str | None = None) -> None:
        """Refill the action list, highlighting ``keep`` (else the current action) if there."""
        entry = self.aro.registry.get(self.current_plugin)
        actions = self.query_one(ActionList)
        if entry is None:
            actions.show_actions([], None)
            return
        self.query_one("#actions").border_title = plain_title(f"Actions · {entry.name}")
        if entry.process is None:
            # It cannot run as last read. The current action and its text stay: a fixed
            # plugin.yaml lets s, or ctrl+r with that text, read it again and start it.
            actions.show_actions([], None)
            self._show_doc()  # its errors
            return
        # While the plugin starts (or after a crash) its list is the last one it reported, or
        # plugin.yaml's, and may lack the current action: that action and its input stay
        # (the first one's highlight chose it, and the keys typed next went into its input),
        # and the list highlights it again once it is there. Only the running plugin's own
        # list, without it and with no edit of the user's at stake, has the first chosen.
        editor = self.query_one(InputEditor)
        unsent_edit = editor.modified or editor.source == "draft"
        actions.show_actions(
            entry.actions(),
            keep or self.current_action,
            entry.name,
            first_when_missing=self.current_action is None
            or (self._plugin_started() and not unsent_edit),
        )
        if actions.highlighted_name == self.current_action:
            self._show_doc()

    def select_action(self, name: str | None) -> None:
        """Load ``name``'s input into the editor: a draft, the last used input, or a template."""
        if name == self.current_action and self.query_one(InputEditor).source:
            self._show_doc()
            return
        self.stash_draft()
        self.current_action = name
        self._show_doc()
        self._load_input()

    def _doc_for(self, action: str | None) -> str | None:
        entry = self.aro.registry.get(self.current_plugin)
        if entry is None or action is None:
            return None
        return dict(entry.actions()).get(action)

    def _plugin_started(self) -> bool:
        """Whether the highlighted plugin has told its actions and docstrings."""
        entry = self.aro.registry.get(self.current_plugin)
        return entry is not None and entry.process is not None and bool(entry.process.info)

    def _show_doc(self) -> None:
        entry = self.aro.registry.get(self.current_plugin)
        reason = None if entry is None else entry.crash_reason()
        action = self.current_action
        doc_of = {} if entry is None else dict(entry.actions())
        doc = None if action is None else doc_of.get(action)
        if entry is not None and action in entry.missing_functions():
            function = full_function_name(action, rule="spec")
            doc = (
                f"aro_plugin_info() declares this action, but the module defines no "
                f'{function}(): a call of it answers "Unknown action".'
            )
        started = self._plugin_started()
        if started and entry is not None and action is not None and action not in doc_of:
            # Kept, with the user's edit, from before a restart: renamed, or removed.
            doc = (
                f"{entry.name} lists no action {action} now: a call of it answers "
                '"Unknown action". Choose one of its actions above.'
            )
        invalid = [] if entry is None else entry.error_lines()
        unreached = None if entry is None or action is None else entry.runtime_unreached(action)
        failed_start = None if entry is None or reason is None else entry.start_failure
        if unreached is None and failed_start is not None:
            unreached = failed_start.aro_note  # what ARO would have done with this start
        self.query_one(ActionDoc).show_doc(
            doc,
            started,
            reason,
            read_only=self.aro.read_only,
            invalid=invalid,
            info_error=None if entry is None else entry.info_error,
            refused=[] if entry is None else entry.refused_lines(),
            warnings=[] if entry is None else entry.warning_lines(),
            runtime_unreached=unreached,
        )

    def plugin_changed(self, entry: PluginEntry) -> None:
        """Redraw ``entry``'s row, and its actions and docs when it is the selected one."""
        self.query_one(PluginList).refresh_entry(entry)
        if entry.name == self.current_plugin:
            self._refresh_actions()
            self._show_doc()
            self._offer_start_or_stop()

    def _offer_start_or_stop(self) -> None:
        """Redraw the footer when the highlighted plugin's Start/Stop key changes (only then:
        not on every busy/ready flip, since each redraw recomposes the footer)."""
        up = self.highlighted_up()
        if up is not self._footer_up:
            self._footer_up = up
            self.refresh_bindings()

    def _load_input(self, prefer_template: bool = False) -> None:
        editor = self.query_one(InputEditor)
        plugin, action = self.current_plugin, self.current_action
        if plugin is None or action is None:
            return
        editor.border_title = plain_title(f"Input · {action}")
        template = render_template(self._doc_for(action))
        draft = self.drafts.get((plugin, action))
        if draft is not None and not prefer_template:
            editor.load(*draft)
            return
        remembered = None if prefer_template else self.aro.memory.get(plugin, action)
        chosen = choose_initial_input(remembered, template)
        source: str = chosen.source
        if source == "last used" and self.aro.memory.kept_for_this_run_only(plugin, action):
            source = LAST_USED_THIS_RUN
        doc = self._doc_for(action)
        entry = self.aro.registry.get(plugin)
        if source == "template" and doc is None and self.aro.read_only:
            source = "recording"  # nothing starts here: "start the plugin" was a dead end
        elif source == "template" and entry is not None and action in entry.missing_functions():
            source = missing_function_source(action)  # "no docstring" read as one to write
        elif source == "template" and doc is None:
            source = "no docstring" if self._plugin_started() else "empty"
        elif source == "template" and not parse_input_fields(doc) and not input_example(doc):
            source = "unusable input section" if has_input_section(doc) else "no input section"
        editor.load(chosen.text, source, undoable=prefer_template)

    def stash_draft(self) -> None:
        """Keep the unsent edit of the current action, to come back to it."""
        editor = self.query_one(InputEditor)
        if self.current_plugin and self.current_action and editor.modified:
            self.drafts[(self.current_plugin, self.current_action)] = (editor.text, "draft")

    def action_reset_input(self) -> None:
        """Replace the input with the template made from the action's docstring, once the
        focused widget has handled the keys typed before this one (as ctrl+r does): as an
        ordinary binding it ran after the keys typed next, and the template replaced them."""
        self.after_keys_typed_before(self._reset_input)

    def _reset_input(self) -> None:
        if self.current_plugin and self.current_action:
            self.drafts.pop((self.current_plugin, self.current_action), None)
        self._load_input(prefer_template=True)

    def action_clear_input(self) -> None:
        """Empty the input editor and focus it (ctrl+z brings the text back)."""
        editor = self.query_one(InputEditor)
        editor.text_area.action_clear()
        self.focus_now(editor.text_area)

    def action_focus_region(self, widget_id: str) -> None:
        """Focus the region whose widget has ``widget_id``."""
        self.focus_now(self.query_one(f"#{widget_id}"))

    def action_jump_to(self, widget_id: str) -> None:
        """alt+N from outside a text field (check_action): focus the region at once."""
        self.action_focus_region(widget_id)

    def action_focus_next_region(self) -> None:
        """Tab: the next region, before the keys typed after it are read."""
        self.focus_next()

    def action_focus_previous_region(self) -> None:
        """shift+tab: the previous region."""
        self.focus_previous()

    def action_leave_editor(self) -> None:
        """Escape in the editor: to the exchange log (Tab's next stop, the filter, is a
        text field, where the next keys would be typed)."""
        self.focus_now(self.query_one(ExchangeTable))

    def typing_in_text(self) -> bool:
        """Whether the focused widget takes typed characters: the editor, the filter."""
        focused = self.focused
        if isinstance(focused, TextArea):
            return not focused.read_only
        return isinstance(focused, Input)

    def action_focus_input(self) -> None:
        """Focus the input editor."""
        self.focus_now(self.query_one("#input-text"))

    def action_focus_filter(self) -> None:
        """Focus the log's filter."""
        self.focus_now(self.query_one(FilterInput))

    def focus_now(self, widget: Widget) -> None:
        """Focus ``widget`` before the next key is read (``Widget.focus`` waits until the app
        has handled every key already read, so with F4 Down Enter typed quickly the Down and
        Enter would still go to the widget focused before). A region the memory view hides
        (the editor on a short terminal, the request and response panes) closes that view:
        keys typed into a hidden editor changed the input out of sight."""
        if self.has_class("-telemetry") and self.hidden_by_telemetry(widget):
            self.set_class(False, "-telemetry")
        self.set_focus(widget)

    def hidden_by_telemetry(self, widget: Widget) -> bool:
        """Whether the memory view (f8), when shown, hides ``widget``'s region."""
        hidden: list[Widget] = [self.query_one("#exchange")]
        if self.has_class("-short"):
            hidden += [self.query_one("#input"), self.query_one(StderrView)]
        return any(widget is region or region in widget.ancestors for region in hidden)

    # -- host events --------------------------------------------------------------------------

    def on_plugin_state_changed(self, message: PluginStateChanged) -> None:
        entry = self.aro.registry.get(message.plugin)
        if entry is None:
            return
        # The message may be handled after the state it reports has passed (a fast failed
        # import, while the app is busy): what is shown follows the process's state now. A
        # STARTING handled after the start failed replaced its traceback with the import's
        # first line (a flaky test on a slow machine).
        now = None if entry.process is None else entry.process.state
        if message.state is PluginState.READY or message.state is PluginState.STARTING:
            if message.state is PluginState.READY and now is not PluginState.CRASHED:
                entry.failure = entry.start_failure = None
            stderr = self.query_one(StderrView)
            title = str(stderr.border_title)
            own_start = f"· {sanitize_line(entry.name)} at start" in title
            # A start's output of another plugin stayed up beside this one, ready.
            other_start = " at start" in title and entry.name == self.current_plugin
            if (own_start or other_start) and self.live_exchange is None:
                # The pane showed a failed start's traceback, or (starting again) the last
                # start's lines, which read as this start already past its model load.
                process = entry.process
                if now is PluginState.STARTING and process is not None:
                    lines = list(process.recent_stderr)
                else:
                    lines = entry.start_output()
                self.show_plugin_stderr(entry.name, lines, "at start")
        self.sources_state_changed(entry, message.state)
        self.plugin_changed(entry)
        if message.plugin == self.current_plugin:
            editor = self.query_one(InputEditor)
            placeholder = editor.source in {"template", "empty", "no docstring"}
            if self.current_action is not None:  # or the function it lacked may exist now
                placeholder |= editor.source == missing_function_source(self.current_action)
            if placeholder and not editor.modified:
                self._load_input()
        self.telemetry_state_changed(entry, message.state)

    def on_exchange_started(self, message: ExchangeStarted) -> None:
        entry = self.aro.registry.get(message.plugin)
        if entry is None:
            return
        if self.aro.read_only:  # a replay: its result goes to the diff view, not the log
            return
        self.telemetry_exchange_started(message.exchange)
        if self.is_internal(message.exchange):
            return
        entry.running_calls[message.exchange.id] = message.exchange
        if self.is_rerun(message.exchange):
            self.rerun_calls.add((message.plugin, message.exchange.id))
        if self.is_replayed(message.exchange):
            # The progress line shows it: the panes stay on what the user chose. Noted here:
            # by the time it ends, the replay may be sending the next one.
            self.replayed_calls.add((message.plugin, message.exchange.id))
            return
        self._show_running(message.exchange)

    def _show_running(self, exchange: Exchange) -> None:
        """Show ``exchange``, still running or waiting, in the panes as the live card."""
        self.live_exchange = exchange
        self.start_wait = None  # its card, if it waited for a start, gives way
        self.show_live(exchange)
        self.query_one(ResponsePane).show_note(None)
        self._card_shown = None  # show_live replaced what the panes showed: draw it afresh
        self._tick()
        if self._ticker is None and not self.aro.config.deterministic:
            self._ticker = self.set_interval(0.1, self._tick)

    def show_start_wait(self, call: Exchange) -> None:
        """Show ``call``, not sent yet, waiting for its plugin to start (a start it asked for,
        or one under way): its request, a card saying so, and what the start prints. Until
        the plugin was ready nothing changed on screen (a model loading at import: minutes),
        and ctrl+r seemed to do nothing."""
        self.start_wait = call
        self.live_exchange = None  # another call's card is not redrawn over this one
        self.show_live(call)
        pane = self.query_one(ResponsePane)
        pane.border_title = plain_title(f"Response · {call.action} · waiting for start")
        pane.show_note(None)
        card = Text.assemble(
            ("▶ waiting ", "bold $status-running"),
            (sanitize_line(f"{call.plugin} · {call.action}"), "bold"),
            " for the plugin to start: sent once it is ready",
        )
        pane.show_card(card, fills=True)
        self._card_shown = None
        process = self.aro.registry.process_of(call.plugin)
        lines = [] if process is None else list(process.recent_stderr)
        self.show_plugin_stderr(call.plugin, lines, "at start")
        own = (call.plugin, call.action) == (self.current_plugin, self.current_action)
        self.query_one("#input").border_subtitle = "waiting for start" if own else ""

    def end_start_wait(self, call: Exchange) -> None:
        """``call`` ended without being sent (plugin.yaml refused the start, the restart
        failed): its card says so, where it would have waited on."""
        if self.start_wait is not call:
            return  # sent (its card took over), or another call's wait is shown
        self.start_wait = None
        self.query_one("#input").border_subtitle = ""
        entry = self.aro.registry.get(call.plugin)
        why = None
        if entry is not None:
            why = entry.manifest_refusal or entry.failure or entry.start_failure
        pane = self.query_one(ResponsePane)
        pane.border_title = plain_title(f"Response · {call.action} · not sent")
        card = Text.assemble(
            ("✖ not sent ", "bold $status-error"),
            (sanitize_line(f"{call.plugin} · {call.action}"), "bold"),
            f": {sanitize_line(str(why))}" if why else ": the plugin did not start",
        )
        pane.show_card(card, fills=True, failed=True)

    def _show_plugins_running_call(self, entry: PluginEntry) -> None:
        """Show the call ``entry``'s plugin runs (else its oldest waiting one) as the live
        card, if the panes show something else: choosing a busy plugin brought back nothing
        of its call once another plugin's call had ended, and ctrl+g cancelled that one."""
        calls = entry.running_calls
        if not calls or self.aro.read_only:
            return
        executing = None if entry.process is None else entry.process.executing
        chosen = executing if executing is not None and executing.id in calls else None
        chosen = chosen or calls[min(calls)]
        if chosen is not self.live_exchange:
            self._show_running(chosen)

    def _tick(self) -> None:
        exchange = self.live_exchange
        if exchange is None:
            return
        entry = self.aro.registry.get(exchange.plugin)
        executing = None if entry is None or entry.process is None else entry.process.executing
        waiting = executing is not None and executing is not exchange
        if self.aro.config.deterministic:
            elapsed = "·· s"
        else:
            # A waiting call's time since it was sent; a running one's since it began (it
            # counted its wait behind the calls ahead of it as running).
            since_s = exchange.sent_monotonic_s if waiting else exchange.head_monotonic_s
            seconds = max(0.0, time.monotonic() - since_s)
            # Tenths while they tell something, then whole seconds: the card is redrawn only
            # when its text changes (a 10-minute call cost 11 % of a core at 10 Hz).
            elapsed = f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
        # The plugin's other calls still waiting: not the one it runs, nor the card's own (a
        # waiting card said "1 more queued" with nothing else waiting).
        queued = 0 if entry is None else len(entry.running_calls) - (2 if waiting else 1)
        # On the editor only when it holds that action's input: another plugin's call read
        # as this one running.
        own = exchange.plugin == self.current_plugin and exchange.action == self.current_action
        subtitle = f"{'waiting' if waiting else 'running'} {elapsed}" if own else ""
        editor = self.query_one("#input")
        if editor.border_subtitle != subtitle:
            editor.border_subtitle = subtitle
        shown = (exchange, executing, elapsed, queued)
        previous, self._card_shown = self._card_shown, shown
        if shown == previous:
            return
        # Only the seconds changed, not their width: the card keeps its size, so the screen
        # is not laid out again.
        same_card = (
            previous is not None
            and previous[:2] == shown[:2]
            and len(str(previous[2])) == len(elapsed)
        )
        # How many more of the plugin's calls wait: one waiting call was all a queue of three
        # ever showed.
        more = f" · {queued} more queued" if queued > 0 else ""
        if waiting:
            assert executing is not None
            card = Text.assemble(
                ("▶ waiting ", "bold $status-running"),
                (sanitize_line(f"{exchange.plugin} · {exchange.action}"), "bold"),
                f"  {elapsed}",
                # Not "#N": the host's request id, which is not the number the log will give it.
                " behind the running ",
                (sanitize_line(executing.action), "bold"),
                more,
                ("  —  ctrl+g: cancel that one", "dim"),
            )
        else:
            card = Text.assemble(
                ("▶ running ", "bold $status-running"),
                (sanitize_line(f"{exchange.plugin} · {exchange.action}"), "bold"),
                f"  {elapsed}{more}",
                ("  —  ctrl+g: cancel", "dim"),
            )
        self.query_one(ResponsePane).show_card(card, fills=True, layout=not same_card)

    def on_stderr_activity(self, message: StderrActivity) -> None:
        message.seen = True  # lines written from now on get a notice of their own
        live = self.live_exchange
        if live is not None and message.exchange_id == live.id:
            self.show_live_stderr(live)
        elif live is None and message.exchange_id is None and self._shows_start_of(message.plugin):
            entry = self.aro.registry.get(message.plugin)
            process = None if entry is None else entry.process
            if process is not None and process.state is PluginState.STARTING:
                lines = list(process.recent_stderr)
                partial = process.stderr_partial
                if partial is not None and partial[1] is None:  # its import's progress bar
                    lines.append(partial[0])
                self.show_plugin_stderr(message.plugin, lines, "at start")

    def _shows_start_of(self, plugin: str) -> bool:
        """Whether the stderr pane follows ``plugin``'s start: it is the chosen plugin, or a
        call shown waits for it."""
        waiting = self.start_wait
        return plugin == self.current_plugin or (waiting is not None and waiting.plugin == plugin)

    def show_recent_stderr(self, name: str) -> None:
        """Show the last lines ``name`` printed, in calls and between them (its import's
        too), in the stderr pane until another exchange is shown."""
        entry = self.aro.registry.get(name)
        lines = [] if entry is None else entry.start_output()
        if not lines:
            self.say(f"{name} has printed nothing to stderr or stdout since it started.")
            return
        self.show_plugin_stderr(name, lines, "recent")

    def on_exchange_finished(self, message: ExchangeFinished) -> None:
        entry = self.aro.registry.get(message.plugin)
        exchange = message.exchange
        began = entry is not None and entry.running_calls.pop(exchange.id, None) is not None
        if self.aro.read_only:
            return
        table = self.query_one(ExchangeTable)
        was_live = self.live_exchange is exchange
        log_entry = self.aro.exchange_log.add(exchange)
        self.note_log_number(exchange, log_entry)
        internal = self.log_entry_internal(log_entry, exchange)
        waiting = self.start_wait
        if not began and not internal and waiting is not None and waiting.plugin == exchange.plugin:
            self.start_wait = None  # its plugin did not start: this ends the call on the card
            was_live = True
        # Shown when it was the call on screen, or the panes showed the newest row: a reader
        # on an older row, or on another call's live card, was pulled to every call that ended.
        no_card = self.live_exchange is None and self.start_wait is None
        following = was_live or (no_card and self._on_newest_row(table))
        replayed = (message.plugin, exchange.id) in self.replayed_calls
        self.replayed_calls.discard((message.plugin, exchange.id))
        if (message.plugin, exchange.id) in self.rerun_calls:
            self.rerun_calls.discard((message.plugin, exchange.id))
            self.rerun_numbers.add(log_entry.number)
        shown = not internal and not replayed and following
        matches = self.query_one(FilterInput).current().matches(log_entry)
        if matches:
            if table.at_newest:
                table.append_entry(log_entry, follow=shown)
            elif was_live and shown:
                self._filter_changed()  # back from older exchanges to the newest, this one
        self.update_log_title()
        if entry is not None:
            self.telemetry_exchange_finished(entry, exchange, log_entry)
        if internal or replayed:
            return
        if was_live:
            self.live_exchange = None
            self.query_one("#input").border_subtitle = ""
            idle = not any(e.running_calls for e in self.aro.registry.entries.values())
            if idle and self._ticker is not None:
                self._ticker.stop()
                self._ticker = None
        if shown and (matches or was_live):
            self.show_exchange(log_entry.number)

    def _on_newest_row(self, table: ExchangeTable) -> bool:
        """Whether the panes show the log's newest row (or nothing yet)."""
        if self.shown_number is None:
            return True
        rows = table.shown_entries
        return table.at_newest and (not rows or rows[-1].number == self.shown_number)

    # -- the command palette's entry points ----------------------------------------------------

    def run_plugin_action(self, plugin: str, action: str) -> None:
        """Select ``plugin`` and ``action`` in the lists, then run with the editor's input."""
        if self.refuse_read_only("running"):
            return
        plugins = self.query_one(PluginList)
        names = [plugins.get_option_at_index(i).id for i in range(plugins.option_count)]
        if plugin in names:
            plugins.highlighted = names.index(plugin)
        self.select_plugin(plugin)
        actions = self.query_one(ActionList)
        action_names = [actions.get_option_at_index(i).id for i in range(actions.option_count)]
        if action in action_names:
            actions.highlighted = action_names.index(action)
        self.select_action(action)
        self.action_run()
