"""Theme files → Textual themes: register them at start, apply and remember the user's choice.

Wiring (in the app)::

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults()      # $status-ok etc. under Textual's own themes

    def on_mount(self) -> None:
        for problem in load_themes(self):
            self.notify(problem, title="Theme file", severity="warning", markup=False)
        problem = apply_theme(self, load_settings().settings.theme)
        if problem:
            self.notify(problem, severity="warning", markup=False)
        remember_theme_changes(self)          # palette switches are saved from now on
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.theme import BUILTIN_THEMES, Theme

from aro_tui.core.settings import remember_theme
from aro_tui.core.theme_files import (
    DEFAULT_THEME,
    ThemeSpec,
    default_dashboard_variables,
    load_theme_folders,
    theme_folders,
)

__all__ = [
    "apply_theme",
    "load_themes",
    "remember_theme_changes",
    "theme_variable_defaults",
    "to_textual_theme",
]

FALLBACK_THEME = "textual-dark"
"""Used when even the bundled default theme could not be loaded."""


def theme_variable_defaults() -> dict[str, str]:
    """Every dashboard variable's value for themes that don't set it (Textual's built-ins)."""
    return default_dashboard_variables()


def to_textual_theme(spec: ThemeSpec) -> Theme:
    """The Textual theme for a validated theme file (``ValueError`` if Textual rejects it)."""
    colors = spec.colors
    theme = Theme(
        name=spec.name,
        primary=spec.primary,
        secondary=colors.get("secondary"),
        warning=colors.get("warning"),
        error=colors.get("error"),
        success=colors.get("success"),
        accent=colors.get("accent"),
        foreground=colors.get("foreground"),
        background=colors.get("background"),
        surface=colors.get("surface"),
        panel=colors.get("panel"),
        boost=colors.get("boost"),
        dark=spec.dark,
        variables=dict(spec.variables),
    )
    if spec.luminosity_spread is not None:
        theme.luminosity_spread = spec.luminosity_spread
    if spec.text_alpha is not None:
        theme.text_alpha = spec.text_alpha
    try:
        for value in [spec.primary, *spec.colors.values(), *spec.variables.values()]:
            Color.parse(value)
        theme.to_color_system().generate()
    except (ColorParseError, ValueError) as error:
        raise ValueError(f"Textual cannot use it: {error}") from error
    return theme


def load_themes(app: App[Any], folders: Iterable[Path] | None = None) -> list[str]:
    """Register every valid theme file with ``app``; return the problems, one line each.

    Bundled themes come first; a user file (``$XDG_CONFIG_HOME/aro-tui/themes/*.yaml``) may
    not reuse a bundled or built-in name. Warnings (unknown fields) are returned too.
    """
    result = load_theme_folders(
        theme_folders() if folders is None else folders, reserved_names=BUILTIN_THEMES
    )
    problems = [str(problem) for problem in result.problems]
    for spec in result.themes:
        try:
            theme = to_textual_theme(spec)
        except ValueError as error:
            problems.append(f"{spec.path}: {error}")
            continue
        app.register_theme(theme)
    return problems


def apply_theme(app: App[Any], name: str | None) -> str | None:
    """Switch to ``name`` (None: the default); if it isn't available, the default and a reason."""
    wanted = name or DEFAULT_THEME
    if wanted in app.available_themes:
        app.theme = wanted
        return None
    fallback = DEFAULT_THEME if DEFAULT_THEME in app.available_themes else FALLBACK_THEME
    app.theme = fallback
    return f"theme {wanted!r} is not available (see the problems above); using {fallback!r}"


def remember_theme_changes(app: App[Any], settings_file: Path | None = None) -> None:
    """Save the theme to the settings file whenever the user changes it (palette, code).

    The theme in force when this is called is not saved again, so a start-up fallback
    (a remembered theme whose file is broken today) doesn't overwrite the user's choice.
    """
    current = [app.theme]

    def save(theme: Theme) -> None:
        if theme.name == current[0]:
            return
        current[0] = theme.name
        try:
            remember_theme(theme.name, settings_file)
        except OSError as error:
            app.notify(f"Could not remember the theme: {error}", severity="warning", markup=False)

    app.theme_changed_signal.subscribe(app, save)
