"""Where the public ARO runtime would treat a call differently from aro-tui's host.

aro-tui keeps one process per plugin and frames its stdio, so a call can succeed here that the
runtime would break (``docs/aro-runtime.md``). The runtime starts ``python3 -c <driver>`` for
every call, with the input embedded in the driver as base64; it reads stdout and stderr only
after the process exits, and takes the whole of stdout, trimmed, as the answer; it kills a call
after 30 s. From what was measured during one exchange this module says which of those would
have bitten, in words a plugin author can act on. Nothing here runs the runtime; each note is
arithmetic on facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.protocol import QUALIFIER_PREFIX, RESPONSE_NOT_JSON, RETURNED_NOT_STR
from aro_tui.core.plugins.naming import full_function_name
from aro_tui.core.sizes import format_size

__all__ = [
    "RuntimeContext",
    "RuntimeNote",
    "runtime_context_reach",
    "runtime_notes",
    "unreachable_actions",
    "unreached_reason",
]

RUNTIME_TIMEOUT_S = 30.0
"""The runtime's per-call limit (then SIGTERM, 0.1 s, SIGINT)."""
PIPE_BUFFER_BYTES = 64 * 1024
"""Linux's default pipe capacity: a child writing more blocks until someone reads."""
MAX_ARGUMENT_BYTES = 32 * 4096
"""Linux's ``MAX_ARG_STRLEN``: the longest single argument ``execve`` accepts, NUL included."""
DRIVER_BYTES = 480
"""About the size of the runtime's driver script without the plugin path and the input."""
QUIET_INPUT_BYTES = 64 * 1024
"""An input this small fits the argument limit with any path (base64 makes 64 KiB 86 KiB;
the driver and a ``PATH_MAX`` path add under 5 KiB)."""

_OK = ExchangeStatus.OK  # bound once: a member lookup costs ~100 ns on Python 3.11
_ANSWERED = (ExchangeStatus.OK, ExchangeStatus.PLUGIN_ERROR, ExchangeStatus.PROTOCOL_ERROR)


@dataclass(frozen=True)
class RuntimeContext:
    """What the notes need to know about the plugin besides the exchange."""

    source_dir: str = ""
    """The folder the runtime puts first on ``sys.path`` (its path is part of the driver)."""
    cold_start_s: float | None = None
    """Spawn to ready here: what every runtime call pays again before its action runs."""
    import_printed_bytes: int = 0
    """Written through ``sys.stdout`` while the module was imported."""
    reachable: frozenset[str] | None = None
    """Action names a call of which the runtime hands to the function aro-tui runs (None:
    not known, no note); see :func:`runtime_context_reach`."""
    unreachable: Mapping[str, str] = field(default_factory=dict)
    """Listed actions the runtime would not reach as aro-tui does, each with why
    (:func:`unreachable_actions`)."""
    functions: frozenset[str] = frozenset()
    """The ``aro_action_*`` functions the module defines."""


NO_ACTIONS_UNDER_ARO = (
    "the ARO runtime reads the plugin's actions from aro_plugin_info() and would register "
    "none, so every call would fail there"
)
"""What an ``info_error`` means under ARO (see :func:`unreachable_actions`)."""


@dataclass(frozen=True)
class RuntimeNote:
    """One difference: a stable ``code`` for scripts and a sentence for people."""

    code: str
    text: str


def runtime_notes(exchange: Exchange, context: RuntimeContext) -> tuple[RuntimeNote, ...]:
    """The ways the ARO runtime would have handled ``exchange`` differently, most severe first."""
    if _unremarkable(exchange, context):
        return ()
    return _all_notes(exchange, context)


def unreachable_actions(info: Mapping[str, Any]) -> dict[str, str]:
    """From the harness's info document: each action it lists a call of which the runtime
    would not hand to the function aro-tui runs, with why (the sentence after "ARO runtime: ").

    The runtime registers only what ``aro_plugin_info()`` declares and names functions by its
    own rule (``toHtml`` → ``aro_action_to_html``), where aro-tui, like the chapter's loop,
    runs ``aro_action_toHtml`` and any ``aro_action_*`` function. When ``aro_plugin_info()``
    gave no list the runtime registers nothing, which ``info_error`` already says. An action
    that fails both ways (no function under either rule) gets no reason: "Unknown action"
    says it here."""
    if info.get("info_error"):
        return {}
    declared, undeclared = _listed(info, "actions"), _listed(info, "undeclared")
    functions = _functions(info)
    rule = "its naming rule puts _ before each capital and lower-cases"
    reasons: dict[str, str] = {}
    for action in declared:
        name, ran = str(action.get("name")), str(action.get("function"))
        wanted = full_function_name(name)
        here, there = bool(action.get("defined")), wanted in functions
        if wanted == ran or not (here or there):
            continue
        if here and there:
            reasons[name] = (
                f"a call of {name} would run another function — {rule}, so it calls "
                f"{wanted}(), not {ran}()"
            )
        elif here:
            reasons[name] = (
                f"a call of {name} would fail — {rule}, so it looks for {wanted}(), which the "
                f"module does not define ({ran}() runs here)"
            )
        else:
            reasons[name] = (
                f"a call of {name} would run {wanted}() — {rule}; here, as under the "
                f"chapter's loop, it answers Unknown action (the module defines no {ran}())"
            )
    for action in undeclared:
        name = str(action.get("name"))
        reasons[name] = _undeclared(name, str(action.get("function")))
    return reasons


def _listed(info: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The info document's ``actions`` or ``undeclared`` entries."""
    return [entry for entry in info.get(key, ()) if isinstance(entry, dict)]


def _functions(info: Mapping[str, Any]) -> frozenset[str]:
    """Every ``aro_action_*`` function the module defines, as the info document lists them."""
    names = {str(a.get("function")) for a in _listed(info, "actions") if a.get("defined")}
    return frozenset(names | {str(a.get("function")) for a in _listed(info, "undeclared")})


def _undeclared(name: str, ran: str) -> str:
    return (
        f"no action {name} — aro_plugin_info() does not declare it, and the runtime knows "
        f"only the actions it declares ({ran}() runs here)"
    )


def runtime_context_reach(info: Mapping[str, Any] | None) -> dict[str, Any]:
    """The :class:`RuntimeContext` fields that say which calls the runtime reaches as aro-tui
    does (``reachable``, ``unreachable``, ``functions``), from the harness's info document."""
    if not info or info.get("info_error"):
        return {}
    unreachable = unreachable_actions(info)
    declared = {str(a.get("name")) for a in _listed(info, "actions")}
    return {
        "reachable": frozenset(declared - unreachable.keys()),
        "unreachable": unreachable,
        "functions": _functions(info),
    }


def unreached_reason(action: str, context: RuntimeContext) -> str | None:
    """Why the runtime would not hand a call of ``action`` to the function aro-tui runs, or
    None. Any name the plugin does not declare counts, not only those it lists: ``both-x``
    runs ``aro_action_both_x`` here as ``both_x`` does."""
    if context.reachable is None or action in context.reachable:
        return None
    known = context.unreachable.get(action)
    if known is not None:
        return known
    ran = full_function_name(action, rule="spec")
    return _undeclared(action, ran) if ran in context.functions else None


def _all_notes(exchange: Exchange, context: RuntimeContext) -> tuple[RuntimeNote, ...]:
    notes: list[RuntimeNote] = []
    unreached = unreached_reason(exchange.action, context)
    if unreached is not None:
        notes.append(RuntimeNote("action-not-reached", f"ARO runtime: {unreached}"))
    argument_bytes = _driver_bytes(len(exchange.request_bytes), context)
    if argument_bytes > MAX_ARGUMENT_BYTES:
        notes.append(
            RuntimeNote(
                "input-too-large",
                "ARO runtime: this call could not start — the input, as base64 inside the "
                f"`python3 -c` script, makes a {format_size(argument_bytes)} argument (Linux "
                "allows 128 KiB)",
            )
        )
    if exchange.status not in _ANSWERED:
        return tuple(notes)
    stdout_bytes = (
        context.import_printed_bytes
        + exchange.printed_bytes
        + len(exchange.response_bytes or b"")
        + 1  # print()'s newline
    )
    stderr_bytes = exchange.stderr_bytes - exchange.printed_bytes
    for stream, size in (("stdout", stdout_bytes), ("stderr", stderr_bytes)):
        if size > PIPE_BUFFER_BYTES:
            notes.append(
                RuntimeNote(
                    f"{stream}-fills-pipe",
                    "ARO runtime: this call would hang until the 30 s timeout — "
                    f"{format_size(size)} on {stream}, which the runtime reads only after the "
                    "process exits, overfills the 64 KiB pipe",
                )
            )
    if exchange.left_running:
        notes.append(_left_running_note(exchange.left_running))
    plain_text_note = _plain_text_note(exchange)
    if plain_text_note is not None:
        notes.append(plain_text_note)
    printed_note = _printed_note(exchange.printed_bytes, context.import_printed_bytes)
    if printed_note is not None:
        notes.append(printed_note)
    slow_note = _slow_note(exchange.action_duration_s, context.cold_start_s)
    if slow_note is not None:
        notes.append(slow_note)
    return tuple(notes)


def _unremarkable(exchange: Exchange, context: RuntimeContext) -> bool:
    """True when no note can apply, decided from sizes well inside every limit (the common
    call, which the host finishes thousands of times a second, skips the arithmetic)."""
    action_s = exchange.action_duration_s
    response = exchange.response_bytes
    return (
        exchange.status is _OK
        and (context.reachable is None or exchange.action in context.reachable)
        and len(exchange.request_bytes) < QUIET_INPUT_BYTES
        and not exchange.printed_bytes
        and not context.import_printed_bytes
        and not exchange.left_running
        and (response is None or len(response) < PIPE_BUFFER_BYTES // 2)
        and exchange.stderr_bytes < PIPE_BUFFER_BYTES // 2
        and (action_s is None or action_s + (context.cold_start_s or 0.0) <= RUNTIME_TIMEOUT_S)
    )


def _driver_bytes(input_bytes: int, context: RuntimeContext) -> int:
    base64_bytes = 4 * ((input_bytes + 2) // 3)
    return DRIVER_BYTES + len(context.source_dir.encode("utf-8", "replace")) + base64_bytes + 1


def _plain_text_note(exchange: Exchange) -> RuntimeNote | None:
    """The runtime takes an answer that is not JSON as a plain-text result, not a fault."""
    error = exchange.error
    if exchange.status is not ExchangeStatus.PROTOCOL_ERROR or error is None:
        return None
    if exchange.action.startswith(QUALIFIER_PREFIX):
        return None  # ARO applies a qualifier otherwise than it runs an action's driver
    if error.startswith(RETURNED_NOT_STR):
        why = "its driver print()s whatever the action returns, and that text is the answer"
    elif error.startswith(RESPONSE_NOT_JSON):
        why = "an answer that is not JSON is taken as text"
    else:
        return None
    return RuntimeNote(
        "plain-text-result", f"ARO runtime: a plain-text result, not an error — {why}"
    )


def _printed_note(during_call: int, at_import: int) -> RuntimeNote | None:
    if not during_call and not at_import:
        return None
    if during_call and at_import:
        where = f"{format_size(at_import)} at import and {format_size(during_call)} during the call"
    elif at_import:
        where = f"{format_size(at_import)} at import (which runs for every call)"
    else:
        where = f"{format_size(during_call)} during the call"
    return RuntimeNote(
        "printed-to-stdout",
        f"ARO runtime: the answer would not be JSON — the plugin printed {where} to stdout, "
        "and the runtime returns all of stdout; print to sys.stderr instead",
    )


def _left_running_note(workers: tuple[str, ...]) -> RuntimeNote:
    """Python joins non-daemon threads and multiprocessing children at exit, and the runtime
    reads stdout only once its process has exited."""
    from aro_tui.core.sanitize import sanitize_line  # rich's cell tables: only when needed

    names = [sanitize_line(name) for name in workers]  # thread names are the plugin's text
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    one = len(names) == 1
    return RuntimeNote(
        "worker-still-running",
        f"ARO runtime: this call would not end until the {listed} it started "
        f"{'ends' if one else 'end'} (the runtime's process waits for "
        f"{'it' if one else 'them'} at exit), and what {'it prints' if one else 'they print'} "
        "to stdout would become part of the answer",
    )


def _slow_note(action_s: float | None, cold_start_s: float | None) -> RuntimeNote | None:
    if action_s is None:
        return None
    if action_s > RUNTIME_TIMEOUT_S:
        return RuntimeNote(
            "over-runtime-timeout",
            f"ARO runtime: this call would be killed — the action ran {action_s:.0f} s, over "
            "the 30 s limit",
        )
    if cold_start_s is not None and cold_start_s + action_s > RUNTIME_TIMEOUT_S:
        return RuntimeNote(
            "over-runtime-timeout",
            "ARO runtime: this call would be killed — each call imports the plugin again "
            f"({cold_start_s:.0f} s here), and with the action ({action_s:.0f} s) that is over "
            "the 30 s limit",
        )
    return None
