"""``aro-tui list`` and ``aro-tui check``: the plugins in a folder, and what is wrong with them.

Plugin-provided text is never read as Rich markup (cells are ``rich.text.Text``) and its
control characters are shown as ``\\xNN`` escapes. The ``--json`` forms are documented in
docs/json-output.md and versioned by their ``schema`` key.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from aro_tui.commands import UNFITTED_WIDTH, path_argument, table_console
from aro_tui.core.plugins.discovery import Discovery, DiscoveryError, discover, resolve_search_path
from aro_tui.core.plugins.model import DiscoveredPlugin
from aro_tui.core.plugins.naming import full_function_name
from aro_tui.core.plugins.problem import Problem, clean_line, clean_text

LIST_SCHEMA = "aro-tui/list/1"
CHECK_SCHEMA = "aro-tui/check/1"
EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
_STATUS_STYLES = {"valid": "green", "warnings": "yellow", "invalid": "bold red"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``list`` and ``check`` subcommands."""
    for name, func, summary in (
        ("list", run_list, "list the plugins in a folder, like `aro plugins list`"),
        ("check", run_check, "check every plugin's manifest, layout and interpreter"),
    ):
        parser = subparsers.add_parser(name, help=summary, description=summary)
        parser.add_argument(
            "path",
            nargs="?",
            type=path_argument,
            metavar="PATH",
            help="an app folder (its Plugins/ is used), a plugins folder or one plugin "
            "folder; default: ./Plugins if present, else the bundled plugins",
        )
        parser.add_argument("--json", action="store_true", help="print stable JSON instead")
        parser.add_argument(
            "--python",
            type=path_argument,
            metavar="EXE",
            help="interpreter for plugins without their own .venv (default: this Python)",
        )
        parser.set_defaults(func=func)


def _discover(args: argparse.Namespace, command: str) -> Discovery | None:
    path = resolve_search_path(args.path)
    try:
        return discover(path, configured_interpreter=args.python)
    except DiscoveryError as error:
        print(f"aro-tui {command}: error: {clean_line(str(error))}", file=sys.stderr)
        return None


def run_list(args: argparse.Namespace) -> int:
    """``aro-tui list``: a table of plugins (or JSON); exit 2 when the path is unusable."""
    found = _discover(args, "list")
    if found is None:
        return EXIT_USAGE
    if args.json:
        _print_json(list_report(found))
    else:
        _print_list(found)
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    """``aro-tui check``: every problem; exit 1 when any plugin is invalid or none was found
    (a CI step pointed at the wrong folder, or at a plugin whose manifest is misnamed, must
    not pass), 2 on a bad path."""
    found = _discover(args, "check")
    if found is None:
        return EXIT_USAGE
    if args.json:
        _print_json(check_report(found))
    else:
        _print_check(found)
    return EXIT_OK if _passes(found) else EXIT_INVALID


def _passes(found: Discovery) -> bool:
    """``check``'s verdict: at least one plugin, every one valid, and no folder skipped for
    an error (a misspelt ``plugin.yml``: a plugin ARO will not load)."""
    skipped_for_an_error = any(problem.is_error for problem in found.skipped)
    return bool(found.plugins) and found.valid and not skipped_for_an_error


def _interpreter_json(plugin: DiscoveredPlugin) -> dict[str, Any]:
    interpreter = plugin.interpreter
    return {
        "path": str(interpreter.path),
        "origin": interpreter.origin,
        "version": interpreter.version_text if interpreter.version else None,
        "error": interpreter.error,
    }


def _counts(plugin: DiscoveredPlugin) -> tuple[int, int]:
    errors = sum(1 for problem in plugin.problems if problem.is_error)
    return errors, len(plugin.problems) - errors


def list_report(found: Discovery) -> dict[str, Any]:
    """The ``aro-tui/list/1`` JSON document for ``found``."""
    plugins = []
    for plugin in found.plugins:
        errors, warnings = _counts(plugin)
        plugins.append(
            {
                "name": plugin.name,
                "root": str(plugin.root),
                "version": plugin.version,
                "description": plugin.description,
                "source": plugin.source,
                "provides": plugin.provides,
                "status": plugin.status,
                "valid": plugin.valid,
                "errors": errors,
                "warnings": warnings,
                "module": str(plugin.module_path) if plugin.module_path else None,
                "interpreter": _interpreter_json(plugin),
                "actions": [
                    {
                        "name": action,
                        "function": full_function_name(action),
                        "spec_function": full_function_name(action, rule="spec"),
                    }
                    for action in plugin.declared_actions
                ],
            }
        )
    return {
        "schema": LIST_SCHEMA,
        "plugins_dir": str(found.plugins_dir),
        "plugins": plugins,
        "skipped": [problem.to_json() for problem in found.skipped],
    }


def check_report(found: Discovery) -> dict[str, Any]:
    """The ``aro-tui/check/1`` JSON document for ``found``."""
    totals = [_counts(plugin) for plugin in found.plugins]
    return {
        "schema": CHECK_SCHEMA,
        "plugins_dir": str(found.plugins_dir),
        "valid": _passes(found),
        "summary": {
            "plugins": len(found.plugins),
            "valid": sum(1 for plugin in found.plugins if plugin.valid),
            "invalid": sum(1 for plugin in found.plugins if not plugin.valid),
            "errors": sum(errors for errors, _ in totals),
            "warnings": sum(warnings for _, warnings in totals),
            "skipped": len(found.skipped),
        },
        "plugins": [
            {
                "name": plugin.name,
                "root": str(plugin.root),
                "status": plugin.status,
                "valid": plugin.valid,
                "valid_under": {
                    rule_set: plugin.valid_under(rule_set)
                    for rule_set in ("strict", "runtime", "host")
                },
                "problems": [problem.to_json() for problem in plugin.problems],
            }
            for plugin in found.plugins
        ],
        "skipped": [problem.to_json() for problem in found.skipped],
    }


def _print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")


def _console() -> Any:
    return table_console()


def _interpreter_text(plugin: DiscoveredPlugin, separator: str = " ") -> str:
    """The interpreter's version and where it comes from."""
    interpreter = plugin.interpreter
    version = interpreter.version_text if interpreter.version else "unusable"
    return f"{version}{separator}{interpreter.origin}"


WIDE_LIST_COLUMNS = 110
"""Below this console width ``list`` leaves out the Source and Provides columns and draws no
vertical rules, so that names, versions and action names are never broken mid-word at 80."""


def _print_list(found: Discovery) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = _console()
    if not found.plugins:
        console.print(Text(f"No plugins in {clean_line(str(found.plugins_dir))}"))
        _print_skipped(console, found.skipped)
        return
    wide = console.width >= WIDE_LIST_COLUMNS
    # Not fitted to a terminal (stdout a pipe or a file): a row a line, cells apart by blanks
    # rather than rules, for grep and awk.
    fitted = console.width < UNFITTED_WIDTH
    table = Table(
        title=Text(f"Plugins in {clean_line(str(found.plugins_dir))}"),
        box=box.HEAVY_HEAD if wide and fitted else box.SIMPLE_HEAD,
    )
    # A name or version far longer than usual is folded at a cap, so one odd plugin cannot
    # squeeze every other column (and every other row) to nothing, and nothing of it is lost.
    table.add_column("Name", overflow="fold", max_width=max(16, console.width // 4))
    table.add_column("Version", overflow="fold", max_width=max(14, console.width // 6))
    if wide:
        table.add_column("Source", overflow="fold")
        table.add_column("Provides", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Python", no_wrap=True)
    table.add_column("Actions", overflow="fold", ratio=1, min_width=12)
    repeated = {name for name, count in Counter(p.name for p in found.plugins).items() if count > 1}
    for plugin in found.plugins:
        name = Text(clean_line(plugin.name))
        # Which folder is which: the rows are alike otherwise. Only on a terminal: a row a
        # line for awk keeps its columns (--json has each root).
        if plugin.name in repeated and fitted:
            name.append(f"\nin {clean_line(plugin.root.name)}/", "dim")
        cells = [name, Text(clean_line(plugin.version or "-"))]
        if wide:
            kinds = (f"{kind} ×{count}" for kind, count in plugin.provides.items())
            provides = ("\n" if fitted else ", ").join(kinds)
            cells += [Text(clean_text(plugin.source)), Text(clean_text(provides or "-"))]
        cells += [
            Text(plugin.status, style=_STATUS_STYLES[plugin.status]),
            Text(clean_text(_interpreter_text(plugin, " " if wide else "\n"))),
            Text(clean_line(", ".join(plugin.declared_actions) or "-")),
        ]
        table.add_row(*cells)
    console.print(table)
    _print_skipped(console, found.skipped)
    note = runtime_interpreter_note(found)
    if note is not None:  # on stderr: the table stays what grep and awk read
        print(f"note: {note}", file=sys.stderr)


def _print_skipped(console: Any, skipped: list[Problem]) -> None:
    from rich.text import Text

    for problem in skipped:
        error = problem.is_error
        line = Text(
            "skipped (error) " if error else "skipped ", style="bold red" if error else "yellow"
        )
        line.append(clean_line(f"{problem.file}: {problem.message}"))
        console.print(line, soft_wrap=True)


def runtime_interpreter_note(found: Discovery) -> str | None:
    """That ARO would run these plugins with another Python than aro-tui does (python3 on
    PATH), naming both; None when it would use the same, or there is no python3.

    Why: a plugin that imports a package only aro-tui's environment has passed every check
    and call here and failed under ARO. A plugin's own ``.venv`` has a warning of its own.
    """
    from aro_tui.core.runtime_run import other_interpreter_note, runtime_interpreter

    runtime = runtime_interpreter()
    if runtime is None:
        return None
    others = {
        plugin.interpreter.path
        for plugin in found.plugins
        if plugin.interpreter.origin != "plugin-venv"
        and other_interpreter_note(runtime, plugin.interpreter.path) is not None
    }
    if not others:
        return None
    ours = ", ".join(sorted(map(str, others)))
    return clean_line(
        f"ARO runs plugins with python3 from PATH ({runtime}); aro-tui runs these with {ours}: "
        "a package only that one has is missing under ARO (`aro-tui call --runtime` runs one "
        "call as ARO would)"
    )


def problem_text(problem: Problem) -> Any:
    """One problem as ``check`` prints it: severity, rules, location, message, found and
    expected (a ``rich.text.Text``; ``.plain`` for plain text)."""
    from rich.text import Text

    style = "bold red" if problem.is_error else "yellow"
    text = Text("  ")
    text.append(problem.severity, style=style)
    text.append(f" [{', '.join(problem.rules)}] ")
    text.append(clean_line(problem.location()))
    if problem.field:
        text.append(" " + clean_line(problem.field), style="bold")
    text.append("\n      " + clean_line(problem.message))
    text.append("\n      found:    " + clean_line(problem.found))
    text.append("\n      expected: " + clean_line(problem.expected))
    return text


def _print_check(found: Discovery) -> None:
    from rich.text import Text

    console = _console()
    for plugin in found.plugins:
        header = Text(clean_line(plugin.name), style="bold")
        header.append("  ")
        header.append(plugin.status, style=_STATUS_STYLES[plugin.status])
        header.append("  " + clean_line(str(plugin.root)))
        console.print(header, soft_wrap=True)
        for problem in plugin.problems:
            console.print(problem_text(problem), soft_wrap=True)
    _print_skipped(console, found.skipped)
    report = check_report(found)["summary"]
    summary = (
        f"{report['plugins']} plugin(s): {report['valid']} valid, {report['invalid']} invalid; "
        f"{report['errors']} error(s), {report['warnings']} warning(s)"
    )
    if report["skipped"]:
        summary += f"; {report['skipped']} folder(s) skipped"
        skipped_errors = sum(1 for problem in found.skipped if problem.is_error)
        if skipped_errors:
            summary += f", {skipped_errors} of them for an error"
    console.print(Text(summary), soft_wrap=True)
    note = runtime_interpreter_note(found)
    if note is not None:
        console.print(Text(f"note: {note}"), soft_wrap=True)
    if not found.plugins:  # exit 1 too: a check pointed at the wrong folder must not pass
        console.print(Text(f"No plugin found in {clean_line(str(found.plugins_dir))}."))
