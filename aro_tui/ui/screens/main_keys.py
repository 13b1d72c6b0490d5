"""The main screen's keys: each with an id a user can remap (see docs/dashboard.md)."""

from __future__ import annotations

from textual.binding import Binding, BindingType

ALT_DIGIT_AS_OPTION_CHARACTER = {
    "1": "inverted_exclamation_mark",
    "2": "trade_mark_sign",
    "3": "pound_sign",
    "4": "cent_sign",
    "5": "infinity",
    "6": "section_sign",
    "7": "pilcrow_sign",
}
"""Why alt+N needs a second key: tmux, xterm and most terminals send alt+N as ESC N, and
Textual reads ESC N as the character macOS types for Option+N (``¡ ™ £ ¢ ∞ § ¶``, a table
meant for WezTerm), so ``alt+N`` alone never fires there. In a text field (the editor, the
filter) the character is typed, not taken as a key."""


def _alt_digit_bindings(digit: str, region: str, name: str, binding_id: str) -> list[Binding]:
    """alt+N as a priority key, so the keys typed after it reach the region it focuses
    (``jump_to``; off in a text field, where ESC N types its character), and alt+N alone as
    an ordinary one, which a text field lets through when the terminal sends alt+N itself."""
    focus = {"description": f"Focus {name}", "id": f"focus.{binding_id}", "show": False}
    character = ALT_DIGIT_AS_OPTION_CHARACTER[digit]
    return [
        Binding(
            f"alt+{digit},{character}",
            f"jump_to('{region}')",
            key_display=f"alt+{digit}",
            priority=True,
            **focus,  # type: ignore[arg-type]
        ),
        Binding(f"alt+{digit}", f"focus_region('{region}')", **focus),  # type: ignore[arg-type]
    ]


MAIN_SCREEN_BINDINGS: list[BindingType] = [
    # Help first: the footer shows the screen's keys before the app's, and cuts the end.
    Binding("f1", "app.help", "Help", id="help-first"),
    Binding("ctrl+r,f5", "run", "Run", id="run", priority=True),
    Binding("ctrl+g", "cancel", "Cancel", id="cancel", priority=True),
    Binding(
        "f6",
        "restart_resend",
        "Retry",
        tooltip="Restart the plugin and resend the selected request",
        id="restart-resend",
        priority=True,
        show=False,  # the crash card names it; the footer must fit 80 columns
    ),
    Binding("f9", "rerun", "Rerun", id="rerun", priority=True, show=False),
    Binding("ctrl+s", "save_response", "Save", id="save-response", priority=True, show=False),
    Binding("f7", "copy_response", "Copy", id="copy-response", priority=True, show=False),
    Binding("ctrl+f", "focus_filter", "Filter", id="filter", priority=True, show=False),
    Binding("ctrl+o", "export", "Export", id="export", show=False),
    Binding("ctrl+t", "reset_input", "Template input", id="reset-input", show=False, priority=True),
    Binding(
        "f8",
        "toggle_telemetry",
        "Memory",
        tooltip="Show/hide the memory chart and model cache",
        id="toggle-telemetry",
        priority=True,
    ),
    Binding(
        "z",
        "toggle_chart_axis",
        "Axis",
        tooltip="Memory chart: fit the axis to the lines, or let it reach the GPU total",
        id="chart-axis",
        show=False,  # the chart's status line names it
    ),
    Binding(
        "w",
        "chart_window",
        "Window",
        tooltip="Memory chart: show the last 2 min, 10 min, 30 min or hour",
        id="chart-window",
        show=False,  # the chart's title names it
    ),
    # F-keys reach every terminal the same way; alt+N below is the quicker set.
    Binding("f2", "focus_input", "Edit", id="focus.input-f2", priority=True),
    Binding(
        "f3",
        "focus_region('log-table')",
        "Focus log",
        id="focus.log-f3",
        show=False,
        priority=True,
    ),
    Binding(
        "f4",
        "focus_region('plugins')",
        "Focus plugins",
        id="focus.plugins-f4",
        show=False,
        priority=True,
    ),
    *(
        binding
        for digit, region, name, binding_id in (
            ("1", "plugins", "plugins", "plugins"),
            ("2", "actions", "actions", "actions"),
            ("3", "input-text", "input", "input"),
            ("4", "log-table", "log", "log"),
            ("5", "response-text", "response", "response"),
            ("6", "request-text", "request", "request"),
            ("7", "stderr", "stderr", "stderr"),
        )
        for binding in _alt_digit_bindings(digit, region, name, binding_id)
    ),
    # Tab as a priority key too, so the keys typed after it reach the next region; in
    # the editor Tab indents (check_action), and shift+tab or Escape leave it.
    Binding(
        "tab",
        "focus_next_region",
        "Next region (editor: indent)",
        id="focus.next",
        show=False,
        priority=True,
    ),
    Binding(
        "shift+tab",
        "focus_previous_region",
        "Previous region",
        id="focus.previous",
        show=False,
        priority=True,
    ),
]
