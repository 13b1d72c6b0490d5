"""The command palette: run any action, manage plugins, switch theme, export, copy, save."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from aro_tui.core.sanitize import sanitize_line

if TYPE_CHECKING:
    pass

Command = tuple[str, Callable[[], object], str]

READ_ONLY_OFF = frozenset(
    {"rerun", "run_like_runtime", "restart_resend", "reset_input", "clear_input"}
)
"""Palette commands a recording leaves out: they run, restart or edit what it cannot."""

STATUS_FILTERS = ("ok", "plugin_error", "timeout", "crashed", "cancelled", "protocol_error")


class DashboardCommands(Provider):
    """Commands built from the plugins the dashboard knows and what the screen can do."""

    def _commands(self) -> list[Command]:
        from aro_tui.ui.app import AroApp

        app = self.app
        if not isinstance(app, AroApp):
            return []
        screen = app.main_screen
        commands: list[Command] = [("Show keys (help)", app.action_help, "every binding")]
        for entry in app.registry.entries.values():
            name = sanitize_line(entry.name)
            if entry.process is None or app.read_only:  # a recording runs and starts nothing
                continue
            for action, _doc in entry.actions():
                commands.append(
                    (
                        f"Run {name} {sanitize_line(action)}",
                        partial(screen.run_plugin_action, entry.name, action),
                        "send the action's current input",
                    )
                )
            commands.append(
                (
                    f"Drop the calls queued for {name}",
                    partial(screen.drop_queued_calls, entry.name),
                    "the calls waiting behind the one it runs; that one runs on (ctrl+g stops it)",
                )
            )
            commands.append(
                (
                    f"Show what {name} printed lately",
                    partial(screen.show_recent_stderr, entry.name),
                    "its last 200 stderr lines: at import, in calls and between them",
                )
            )
            # Offered whatever the plugin's state (it may change while the palette is open);
            # Start on a running plugin, Stop on a stopped one, say so.
            lifecycle: list[tuple[str, Callable[[], object]]] = [
                ("start", partial(screen.start_named, entry.name)),
                ("stop", partial(screen.stop_named, entry.name)),
                ("restart", partial(screen.lifecycle_command, entry.name, "restart")),
            ]
            for verb, callback in lifecycle:
                commands.append(
                    (f"{verb.capitalize()} {name}", callback, f"{verb} the plugin process")
                )
        actions: list[tuple[str, str, str]] = [
            ("Rerun the selected exchange", "rerun", "send its request again"),
            (
                "Run like the ARO runtime (new process per call)",
                "run_like_runtime",
                "python3 -c, stdout read after exit: what ARO would get",
            ),
            ("Restart plugin and resend", "restart_resend", "for a crash or a timeout"),
            ("Export the selected exchange as JSON", "export", "request, response, stderr"),
            ("Export the whole log as JSON", "export_log", "every exchange, with bodies"),
            ("Copy the exchange as an aro-tui call command", "copy_command", "a shell line"),
            (
                "Compare: rerun the selected exchange (replay + diff)",
                "compare",
                "against the plugin as it is now; compare with the previous run",
            ),
            ("Replay all exchanges and diff", "replay_all", "every logged exchange, in order"),
            ("Stop the replay", "stop_replay", "show what it compared so far (ctrl+g twice)"),
            ("Save the response to a file", "save_response", "asks for a path"),
            ("Copy the response", "copy_response", "to the clipboard (OSC 52)"),
            ("View the whole response", "view_all", "page through a large one"),
            ("Reset the input to the docstring template", "reset_input", "from Input:"),
            ("Clear the input", "clear_input", "empty the editor (ctrl+z undoes)"),
            ("Cancel the running call", "cancel", ""),
            ("Clear the log filter", "clear_filter", ""),
            ("Show/hide the memory chart (telemetry)", "toggle_telemetry", "GPU, host, models"),
            ("Show/hide internal calls", "toggle_internal", "aro-tui's models queries"),
            (
                "Memory chart: axis to the GPU total / fit to the lines",
                "toggle_chart_axis",
                "z; fitted by default, so small models show",
            ),
            ("Edit the input", "focus_input", "the JSON editor"),
            ("Show the action's docs", "show_docs", "? on the actions; the panel below them"),
        ]
        for title, action_name, help_text in actions:
            if app.read_only and action_name in READ_ONLY_OFF:
                continue
            method = getattr(screen, f"action_{action_name}")
            commands.append((title, method, help_text))
        for status in STATUS_FILTERS:
            commands.append(
                (f"Filter log: status {status}", partial(screen.filter_log, f"status:{status}"), "")
            )
        if app.start_problems:
            commands.append(
                (
                    "Show start-up problems",
                    app.action_show_start_problems,
                    f"{len(app.start_problems)}: theme files, settings, the recording",
                )
            )
        for theme in sorted(app.available_themes):
            commands.append((f"Switch theme: {theme}", partial(setattr, app, "theme", theme), ""))

        return commands

    async def discover(self) -> Hits:
        """The list the palette opens with: ``Show keys (help)`` and the rest of what only
        shows, before anything that sends to a plugin or stops one (those follow, and a
        search finds them all).

        Why: the palette keeps this list, its top row highlighted, until a query's results
        arrive; Enter typed right after a query that matches nothing chose that row. With
        "Run PLUGIN ACTION" first, it ran the first plugin's first action (faulty's `echo`,
        and its `exit` four rows down)."""
        commands = self._commands()
        harmless = [command for command in commands if _only_shows(command)]
        acting = [command for command in commands if not _only_shows(command)]
        for title, callback, help_text in harmless + acting:
            yield DiscoveryHit(Content(title), callback, text=title, help=help_text or None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score, _highlight(matcher, title), callback, text=title, help=help_text or None
                )


SHOWING_PREFIXES = ("Show ", "Filter log", "Switch theme", "Edit the input", "Clear the log")
"""Palette commands that only change what is shown (or the theme), never a plugin."""


def _only_shows(command: Command) -> bool:
    return command[0].startswith(SHOWING_PREFIXES)


def _highlight(matcher: Matcher, title: str) -> Content:
    """``title`` with the query's matched characters styled, as ``Matcher.highlight`` does,
    but never read as markup: plugin and action names are in it (``x[/]`` raised MarkupError)."""
    content = Content(title)
    score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    for offset in offsets if score else ():
        if not title[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
