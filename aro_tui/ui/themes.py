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

and in a ``TextArea``'s ``on_mount``, light syntax colours under a light theme::

    follow_app_theme(self, "monokai")         # its syntax theme under a dark one
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.style import Style
from textual.app import App
from textual.color import Color, ColorParseError
from textual.theme import BUILTIN_THEMES, Theme
from textual.widgets import TextArea
from textual.widgets.text_area import TextAreaTheme

from aro_tui.core.settings import remember_theme
from aro_tui.core.theme_files import (
    DEFAULT_THEME,
    VARIABLE_FALLBACKS,
    ThemeSpec,
    default_dashboard_variables,
    load_theme_folders,
    theme_folders,
)

__all__ = [
    "apply_theme",
    "contrast_ratio",
    "follow_app_theme",
    "legible_colour",
    "legible_region_border",
    "load_themes",
    "remember_theme_changes",
    "theme_variable_defaults",
    "to_textual_theme",
    "with_dashboard_colours",
]

FALLBACK_THEME = "textual-dark"
"""Used when even the bundled default theme could not be loaded."""

REGION_BORDER = "panel-lighten-2"
"""The Textual shade unfocused regions are outlined in (``screens/main.tcss``)."""

MIN_BORDER_CONTRAST = 3.0
"""WCAG's least contrast for a control's outline against its background."""

DERIVED_BORDER_CONTRAST = 3.5
"""What a derived outline aims for: a 256-colour terminal rounds it to a grey a little off."""

MIN_STATUS_CONTRAST = 4.5
"""WCAG's contrast for ordinary text: a status word ("ok", "timeout") against its ground."""

MIN_GRAPHIC_CONTRAST = 3.0
"""WCAG's contrast for graphics: a chart's lines and markers."""

TEXT_GROUNDS = ("surface", "background", "panel")
"""What status colours are drawn on: the regions (surface), the screen, a running call's card."""

WHITE, BLACK = Color(255, 255, 255), Color(0, 0, 0)


def text_grounds(colours: dict[str, str], *, dark: bool) -> list[Color]:
    """Every background status text is drawn on: ``TEXT_GROUNDS``, each as a table's other
    stripe draws it (``DataTable``'s even rows) and tinted as a focused region draws it
    (``background-tint: $foreground 5%``). A status on the focused log's stripe read 4.1:1
    where the plain surface gave 4.6:1."""
    foreground = Color.parse(colours["foreground"])
    stripe = (
        (Color.parse(colours["surface-darken-1"]), 0.4)
        if dark
        else (Color.parse(colours["surface-lighten-1"]), 0.5)
    )
    grounds = []
    for name in TEXT_GROUNDS:
        base = Color.parse(colours[name])
        for ground in (base, base.blend(*stripe)):
            grounds += [ground, ground.blend(foreground, 0.05)]
    return grounds


def _light_syntax_theme() -> TextAreaTheme:
    github = TextAreaTheme.get_builtin_theme("github_light")
    styles = dict(github.syntax_styles) if github is not None else {}
    # github_light's constants (#7daf9c) measure 2.2:1 on aro-light's surface, numbers 4.1:1.
    constant = Style(color="#0550ae")
    styles.update({"boolean": constant, "json.null": constant, "number": constant})
    return TextAreaTheme(name="aro-light-syntax", syntax_styles=styles)


LIGHT_SYNTAX_THEME = _light_syntax_theme()
"""Syntax colours for a light app theme; text and background come from the CSS (``$surface``)."""


def theme_variable_defaults(theme: Theme | None = None) -> dict[str, str]:
    """Every dashboard variable's value for a theme that doesn't set it (Textual's built-ins).

    From ``theme``'s own base colours (``status-ok`` from ``success``...), each darkened on a
    light theme, lightened on a dark one, until it reads on the theme's surfaces
    (:func:`legible_colour`); without a theme, fixed values for a dark one. Why: the fixed
    ones are tuned for dark backgrounds, and "ok" measured 1.5:1 on textual-light.
    """
    if theme is None:
        return default_dashboard_variables()
    colours = theme.to_color_system().generate()
    grounds = text_grounds(colours, dark=theme.dark)
    variables: dict[str, str] = {}
    for name, (base, _default) in VARIABLE_FALLBACKS.items():
        minimum = MIN_STATUS_CONTRAST if name.startswith("status-") else MIN_GRAPHIC_CONTRAST
        colour = Color.parse(colours[base])
        variables[name] = legible_colour(colour, grounds, minimum, dark=theme.dark).hex
    return variables


def legible_colour(colour: Color, grounds: Iterable[Color], minimum: float, *, dark: bool) -> Color:
    """``colour``, or the nearest shade of it (towards white on a ``dark`` theme, black on a
    light one) that reads at ``minimum`` contrast on every one of ``grounds``.

    A terminal's own ANSI colours, and grounds it draws itself (transparent, its default
    background), cannot be measured: ``colour`` is kept as it is.
    """
    grounds = list(grounds)
    if colour.ansi is not None or any(g.ansi is not None or g.a < 1 for g in grounds):
        return colour

    def reads(candidate: Color) -> bool:
        return all(contrast_ratio(candidate, ground) >= minimum for ground in grounds)

    target = WHITE if dark else BLACK
    for step in range(20):
        shade = colour.blend(target, step / 20)
        if reads(shade):
            return shade
    return target


def with_dashboard_colours(theme: Theme) -> Theme:
    """``theme`` with every dashboard variable it leaves out drawn from its own colours
    (:func:`theme_variable_defaults`), for Textual's own themes, which set none."""
    variables = {**theme_variable_defaults(theme), **theme.variables}
    return dataclasses.replace(theme, variables=variables)


def _relative_luminance(colour: Color) -> float:
    """WCAG 2 relative luminance of an opaque colour: 0 for black, 1 for white."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(colour.r) + 0.7152 * linear(colour.g) + 0.0722 * linear(colour.b)


def contrast_ratio(first: Color, second: Color) -> float:
    """WCAG 2 contrast ratio of two opaque colours: 1 (the same) to 21 (black on white)."""
    lighter, darker = sorted((_relative_luminance(first), _relative_luminance(second)))[::-1]
    return (lighter + 0.05) / (darker + 0.05)


def legible_region_border(theme: Theme) -> str | None:
    """An outline colour for unfocused regions where Textual's shade is too faint, else None.

    Textual lightens ``panel`` for it, which ends at white on a light theme; the derived colour
    is the theme's foreground mixed into its surface, just enough for the contrast WCAG asks.
    """
    colours = theme.to_color_system().generate()
    surface = Color.parse(colours["surface"])
    if contrast_ratio(Color.parse(colours[REGION_BORDER]), surface) >= MIN_BORDER_CONTRAST:
        return None
    foreground = Color.parse(colours["foreground"])
    for step in range(1, 20):
        border = surface.blend(foreground, step / 20)
        if contrast_ratio(border, surface) >= DERIVED_BORDER_CONTRAST:
            return border.hex
    return foreground.hex


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
    if REGION_BORDER not in spec.variables and (border := legible_region_border(theme)):
        theme.variables[REGION_BORDER] = border
    derived = theme_variable_defaults(theme)
    for name, (base, default) in VARIABLE_FALLBACKS.items():
        if base not in {*colors, "primary"} and spec.variables.get(name) == default:
            # The file has no such colour: it got a value tuned for a dark theme.
            theme.variables[name] = derived[name]
    return theme


def load_themes(app: App[Any], folders: Iterable[Path] | None = None) -> list[str]:
    """Register every valid theme file with ``app``, and Textual's own themes again with the
    dashboard's colours drawn from theirs (:func:`with_dashboard_colours`); return the
    problems, one line each.

    Bundled themes come first; a user file (``$XDG_CONFIG_HOME/aro-tui/themes/*.yaml``) may
    not reuse a bundled or built-in name. Warnings (unknown fields) are returned too.
    """
    for builtin in BUILTIN_THEMES.values():
        app.register_theme(with_dashboard_colours(builtin))
    if app.theme in BUILTIN_THEMES and app.is_running:
        app.refresh_css(animate=False)  # the theme in force now has its colours too
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


def follow_app_theme(area: TextArea, dark_syntax_theme: str = "css") -> None:
    """Colour ``area``'s syntax for the app's theme, now and after every switch.

    ``dark_syntax_theme`` under a dark theme, :data:`LIGHT_SYNTAX_THEME` under a light one:
    Textual's syntax themes are fixed, and a dark one on a light theme is a dark block
    (monokai) or pale text on white (the "css" theme's keys measure 2.6:1).
    """
    area.register_theme(LIGHT_SYNTAX_THEME)

    def use(theme: Theme) -> None:
        area.theme = dark_syntax_theme if theme.dark else LIGHT_SYNTAX_THEME.name

    use(area.app.current_theme)
    area.app.theme_changed_signal.subscribe(area, use)
