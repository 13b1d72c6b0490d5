"""Theme files: YAML in ``themes/`` and the user's config folder, read into plain data.

No Textual here: ``aro_tui.ui.themes`` turns a :class:`ThemeSpec` into a Textual ``Theme``.
Every fault is a :class:`ThemeFileError` naming the file, the field and what was wrong; a
file with any error is skipped (the dashboard falls back to the default theme), unknown
fields are warnings. The format is documented in ``themes/README.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from rich.color import ANSI_COLOR_NAMES, Color, ColorParseError

__all__ = [
    "BASE_COLOR_FIELDS",
    "DASHBOARD_VARIABLES",
    "DEFAULT_THEME",
    "ThemeFileError",
    "ThemeLoadResult",
    "ThemeSpec",
    "bundled_themes_dir",
    "load_theme_file",
    "load_theme_folders",
    "parse_colour",
    "theme_folders",
    "user_themes_dir",
]

DEFAULT_THEME = "aro-dark"
MAX_THEME_FILE_BYTES = 256 * 1024

BASE_COLOR_FIELDS: tuple[str, ...] = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
    "boost",
)
"""Textual's base colours; ``primary`` is required, the rest are derived when absent."""

DASHBOARD_VARIABLES: dict[str, str] = {
    "status-ok": "an exchange that succeeded",
    "status-error": "a plugin error or protocol error",
    "status-timeout": "a timed-out or cancelled exchange",
    "status-crashed": "a crashed plugin or exchange",
    "status-running": "a running plugin or exchange in flight",
    "chart-gpu": "GPU memory used (whole device)",
    "chart-gpu-limit": "GPU memory total (the limit line)",
    "chart-plugin-gpu": "GPU memory of the selected plugin's process tree",
    "chart-host": "host memory (RSS) of the plugin's process tree",
    "chart-span": "request spans on the chart's time axis",
    "chart-load": "model load markers",
    "chart-unload": "model unload markers",
}
"""The custom colour variables the dashboard's CSS uses (``$status-ok``...), with meanings."""

# Where a theme leaves a dashboard variable out, it takes one of its own base colours.
VARIABLE_FALLBACKS: dict[str, tuple[str, str]] = {
    "status-ok": ("success", "#4ebf71"),
    "status-error": ("error", "#e5534b"),
    "status-timeout": ("warning", "#e0a030"),
    "status-crashed": ("error", "#e5534b"),
    "status-running": ("accent", "#4aa8ff"),
    "chart-gpu": ("primary", "#4aa8ff"),
    "chart-gpu-limit": ("error", "#e5534b"),
    "chart-plugin-gpu": ("accent", "#c678dd"),
    "chart-host": ("secondary", "#56b6c2"),
    "chart-span": ("warning", "#e0a030"),
    "chart-load": ("success", "#4ebf71"),
    "chart-unload": ("warning", "#e0a030"),
}

_KNOWN_FIELDS = frozenset(
    {
        "name",
        "description",
        "author",
        "dark",
        "luminosity_spread",
        "text_alpha",
        "variables",
        *BASE_COLOR_FIELDS,
    }
)
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})\Z")
_VARIABLE_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")
_COMMENTED_COLOUR = re.compile(r"[^:#]*:\s*(#[0-9A-Za-z]+)")
"""A ``key: #4aa8ff`` line, whose value YAML reads as a comment: the value is then empty."""


def _empty_colour(key: str, line_text: str) -> str:
    """Why the colour field ``key`` (on ``line_text``) is empty, and the fix.

    Almost always an unquoted hex colour, which YAML reads as a comment, leaving None
    ("None must be a colour text" left the user to work that out).
    """
    commented = _COMMENTED_COLOUR.match(line_text)
    example = commented.group(1) if commented else "#1e90ff"
    return (
        f'is empty: quote hex colours, {key}: "{example}" (YAML reads an unquoted # as a comment)'
    )


class ThemeFileError(Exception):
    """One fault in one theme file: ``path``, ``field`` ("" for the whole file), ``message``."""

    def __init__(
        self,
        path: Path,
        field: str,
        message: str,
        *,
        line: int | None = None,
        severity: Literal["error", "warning"] = "error",
    ) -> None:
        self.path = path
        self.field = field
        self.message = message
        self.line = line
        self.severity = severity
        super().__init__(str(self))

    def __str__(self) -> str:
        where = str(self.path) if self.line is None else f"{self.path}:{self.line}"
        # A message that reads on from the field ("is empty: …") follows it without a colon.
        joiner = " " if self.message.startswith("is ") else ": "
        subject = f"field {self.field!r}{joiner}" if self.field else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{subject}{self.message}"


@dataclass(frozen=True)
class ThemeSpec:
    """A validated theme: colours normalised to ``#rrggbb`` / ``#rrggbbaa`` text."""

    name: str
    path: Path | None
    primary: str
    colors: Mapping[str, str] = field(default_factory=dict)
    """The other base colours present in the file (keys from ``BASE_COLOR_FIELDS``)."""
    dark: bool = True
    luminosity_spread: float | None = None
    text_alpha: float | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    """Every dashboard variable (filled in where the file left one out) plus any other."""
    description: str = ""


@dataclass
class ThemeLoadResult:
    """The themes that loaded, and every problem found (errors and warnings)."""

    themes: list[ThemeSpec] = field(default_factory=list)
    problems: list[ThemeFileError] = field(default_factory=list)


def parse_colour(text: str) -> str:
    """``#rgb``/``#rrggbb``/``#rrggbbaa`` or a colour name → lower-case hex (``ValueError``)."""
    value = text.strip()
    if _HEX.match(value):
        digits = value[1:].lower()
        if len(digits) == 3:
            digits = "".join(digit * 2 for digit in digits)
        return f"#{digits}"
    name = value.lower().replace(" ", "_")
    if name in ANSI_COLOR_NAMES:
        try:
            triplet = Color.parse(name).get_truecolor()
        except ColorParseError:  # pragma: no cover - every ANSI name parses
            pass
        else:
            return triplet.hex
    raise ValueError(
        f"{text!r} is not a colour (expected #rgb, #rrggbb, #rrggbbaa or a colour name "
        "such as 'red' or 'dodger_blue1')"
    )


def load_theme_file(path: Path) -> tuple[ThemeSpec, list[ThemeFileError]]:
    """Read one theme file; raise its first error, else return it and its warnings.

    Every error is also collected: use :func:`check_theme_file` to see them all.
    """
    spec, problems = check_theme_file(path)
    errors = [problem for problem in problems if problem.severity == "error"]
    if spec is None or errors:
        raise errors[0]
    return spec, problems


def check_theme_file(path: Path) -> tuple[ThemeSpec | None, list[ThemeFileError]]:
    """Read one theme file: the theme (None if it has any error) and every problem found."""
    problems: list[ThemeFileError] = []
    try:
        if path.stat().st_size > MAX_THEME_FILE_BYTES:
            return None, [ThemeFileError(path, "", f"larger than {MAX_THEME_FILE_BYTES} bytes")]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [ThemeFileError(path, "", f"cannot be read: {error}")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        reason = getattr(error, "problem", None) or str(error)
        return None, [ThemeFileError(path, "", f"not valid YAML: {reason}", line=line)]
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        return None, [ThemeFileError(path, "", f"must be a mapping of fields, but it is {kind}")]
    lines = _key_lines(node)
    source_lines = text.splitlines()

    def line_text(name: str) -> str:
        line = lines.get(name)
        return source_lines[line - 1] if line is not None and line <= len(source_lines) else ""

    def fault(name: str, message: str, severity: Literal["error", "warning"] = "error") -> None:
        problems.append(
            ThemeFileError(path, name, message, line=lines.get(name), severity=severity)
        )

    for key in data:
        if key not in _KNOWN_FIELDS:
            fault(str(key), "unknown field (ignored)", "warning")

    name = data.get("name")
    if name is None:
        fault("name", "missing (every theme needs a name)")
    elif not isinstance(name, str) or not _NAME.match(name):
        fault("name", f"{name!r} must be lower-case letters, digits, '-' or '_'")

    colors: dict[str, str] = {}
    for color_field in BASE_COLOR_FIELDS:
        if color_field not in data:
            if color_field == "primary":
                fault("primary", "missing (every theme needs a primary colour)")
            continue
        raw = data[color_field]
        if raw is None:
            fault(color_field, _empty_colour(color_field, line_text(color_field)))
            continue
        if not isinstance(raw, str):
            fault(color_field, f"{raw!r} must be a colour text such as '#1e90ff'")
            continue
        try:
            colors[color_field] = parse_colour(raw)
        except ValueError as error:
            fault(color_field, str(error))

    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        fault("dark", f"{dark!r} must be true or false")
    numbers: dict[str, float | None] = {}
    for number_field in ("luminosity_spread", "text_alpha"):
        value = data.get(number_field)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
        if value is not None and not ok:
            fault(number_field, f"{value!r} must be a number from 0 to 1")
        numbers[number_field] = float(value) if ok and value is not None else None
    description = data.get("description", "")
    if not isinstance(description, str):
        fault("description", f"{description!r} must be text")

    variables = _check_variables(data.get("variables", {}), fault, line_text)
    if any(problem.severity == "error" for problem in problems):
        return None, problems
    assert isinstance(name, str) and isinstance(dark, bool)
    return (
        ThemeSpec(
            name=name,
            path=path,
            primary=colors["primary"],
            colors={key: value for key, value in colors.items() if key != "primary"},
            dark=dark,
            luminosity_spread=numbers["luminosity_spread"],
            text_alpha=numbers["text_alpha"],
            variables=_complete_variables(variables, colors),
            description=str(description),
        ),
        problems,
    )


def _check_variables(raw: Any, fault: Any, line_text: Callable[[str], str]) -> dict[str, str]:
    if not isinstance(raw, dict):
        fault("variables", f"must be a mapping of variable names to values, not {raw!r}")
        return {}
    variables: dict[str, str] = {}
    for key, value in raw.items():
        where = f"variables.{key}"
        if not isinstance(key, str) or not _VARIABLE_NAME.match(key):
            fault(where, "a variable name is lower-case letters, digits and '-'")
        elif value is None:
            fault(where, _empty_colour(key, line_text(where)))
        elif not isinstance(value, str):
            fault(where, f"{value!r} must be a colour text such as '#1e90ff'")
        else:
            # Textual's own variables (footer-key-foreground, ...) must be colours too: a
            # value Textual's CSS cannot read would break the stylesheet at switch time.
            try:
                variables[key] = parse_colour(value)
            except ValueError as error:
                fault(where, str(error))
    return variables


def _complete_variables(variables: dict[str, str], colors: Mapping[str, str]) -> dict[str, str]:
    complete = dict(variables)
    for name, (base, default) in VARIABLE_FALLBACKS.items():
        complete.setdefault(name, colors.get(base) or default)
    return complete


def default_dashboard_variables() -> dict[str, str]:
    """Values for every dashboard variable under a theme that defines none (Textual's own)."""
    return {name: default for name, (_, default) in VARIABLE_FALLBACKS.items()}


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines[key] = key_node.start_mark.line + 1
            if key == "variables" and isinstance(value_node, yaml.MappingNode):
                for sub_key, _ in value_node.value:
                    lines[f"variables.{sub_key.value}"] = sub_key.start_mark.line + 1
    return lines


def load_theme_folders(
    folders: Iterable[Path], reserved_names: Iterable[str] = ()
) -> ThemeLoadResult:
    """Every ``*.yaml``/``*.yml`` theme in ``folders`` (in order; missing folders skipped).

    A name already taken by an earlier file, or listed in ``reserved_names`` (Textual's
    built-in themes), is an error for the later file, which is skipped.
    """
    result = ThemeLoadResult()
    owners: dict[str, Path | None] = dict.fromkeys(reserved_names)
    for folder in folders:
        try:
            paths = sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".yml"})
        except OSError:
            continue
        for path in paths:
            spec, problems = check_theme_file(path)
            result.problems.extend(problems)
            if spec is None:
                continue
            if spec.name in owners:
                owner = owners[spec.name]
                where = "a built-in theme" if owner is None else str(owner)
                result.problems.append(
                    ThemeFileError(path, "name", f"duplicate name {spec.name!r} ({where})")
                )
                continue
            owners[spec.name] = path
            result.themes.append(spec)
    return result


def bundled_themes_dir() -> Path:
    """The themes shipped with aro-tui: ``aro_tui/themes`` when installed, else ``themes/``."""
    package_dir = Path(__file__).resolve().parents[1]
    installed = package_dir / "themes"
    return installed if installed.is_dir() else package_dir.parent / "themes"


def user_themes_dir() -> Path:
    """``$XDG_CONFIG_HOME/aro-tui/themes`` (default ``~/.config/aro-tui/themes``)."""
    from aro_tui.core.settings import config_dir

    return config_dir() / "themes"


def theme_folders() -> list[Path]:
    """Where themes are read from, bundled first (so a user file can't take their names)."""
    return [bundled_themes_dir(), user_themes_dir()]
