"""Theme files: the bundled ones load; every kind of fault names the file, field and fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from aro_tui.core.theme_files import (
    DASHBOARD_VARIABLES,
    DEFAULT_THEME,
    ThemeFileError,
    bundled_themes_dir,
    check_theme_file,
    load_theme_file,
    load_theme_folders,
    parse_colour,
    theme_folders,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "themes"
BROKEN = DATA / "broken"
BUILTIN_NAMES = ("textual-dark", "textual-light")

# file → (field, words the message must contain, line or None)
EXPECTED_FAULTS: dict[str, tuple[str, str, int | None]] = {
    "not-yaml.yaml": ("", "not valid YAML", 3),
    "not-a-mapping.yaml": ("", "must be a mapping of fields, but it is a list", None),
    "empty.yaml": ("", "it is empty", None),
    "missing-name.yaml": ("name", "missing", None),
    "bad-name.yaml": ("name", "lower-case", 1),
    "missing-primary.yaml": ("primary", "missing", None),
    "bad-hex.yaml": ("primary", "'#12345' is not a colour", 2),
    "bad-colour-name.yaml": ("error", "'blurple' is not a colour", 3),
    "colour-not-text.yaml": ("primary", "must be a colour text", 2),
    "unquoted-hex.yaml": ("primary", 'is empty: quote hex colours, primary: "#4aa8ff"', 2),
    "unquoted-variable.yaml": ("variables.status-ok", 'status-ok: "#4ebf71"', 4),
    "dark-not-bool.yaml": ("dark", "must be true or false", 3),
    "bad-number.yaml": ("luminosity_spread", "from 0 to 1", 3),
    "variables-not-mapping.yaml": ("variables", "must be a mapping", 3),
    "bad-variable-colour.yaml": ("variables.status-ok", "'greenish' is not a colour", 4),
    "not-utf8.yaml": ("", "cannot be read", None),
}


def test_bundled_themes_load_with_every_dashboard_variable() -> None:
    result = load_theme_folders([bundled_themes_dir()])
    assert result.problems == []
    names = {spec.name for spec in result.themes}
    assert {"aro-dark", "aro-light", "aro-high-contrast", DEFAULT_THEME} <= names
    for spec in result.themes:
        # Each bundled theme sets every dashboard colour itself (no derived fallbacks).
        text = spec.path.read_text() if spec.path else ""
        for variable in DASHBOARD_VARIABLES:
            assert f"{variable}:" in text, f"{spec.name} does not set {variable}"
            assert spec.variables[variable].startswith("#")
    light = next(spec for spec in result.themes if spec.name == "aro-light")
    assert light.dark is False


def test_variables_are_documented_in_the_themes_readme() -> None:
    readme = (bundled_themes_dir() / "README.md").read_text()
    for variable in DASHBOARD_VARIABLES:
        assert f"`{variable}`" in readme


@pytest.mark.parametrize("file_name", sorted(EXPECTED_FAULTS))
def test_each_fault_names_file_field_and_what_is_wrong(file_name: str) -> None:
    path = BROKEN / file_name
    field, words, line = EXPECTED_FAULTS[file_name]
    spec, problems = check_theme_file(path)
    assert spec is None
    errors = [problem for problem in problems if problem.severity == "error"]
    assert [error.field for error in errors] == [field]
    error = errors[0]
    assert error.path == path
    assert words in error.message
    assert error.line == line
    text = str(error)
    assert text.startswith(str(path))
    if field:
        assert f"field {field!r}" in text
    with pytest.raises(ThemeFileError) as raised:
        load_theme_file(path)
    assert raised.value.field == field


def test_an_unquoted_hex_colour_is_named_as_the_empty_value_it_is(tmp_path: Path) -> None:
    """YAML reads ``primary: #4aa8ff`` as a comment; the note said "None must be a colour"."""
    _spec, [problem] = check_theme_file(BROKEN / "unquoted-hex.yaml")
    assert str(problem) == (
        f"{BROKEN / 'unquoted-hex.yaml'}:2: field 'primary' is empty: quote hex colours, "
        'primary: "#4aa8ff" (YAML reads an unquoted # as a comment)'
    )
    # With no colour on the line to quote, the message quotes an example of its own.
    (tmp_path / "blank.yaml").write_text("name: blank\nprimary:\n")
    _spec, [problem] = check_theme_file(tmp_path / "blank.yaml")
    assert problem.message.startswith('is empty: quote hex colours, primary: "#1e90ff"')


def test_every_fault_in_one_file_is_reported() -> None:
    spec, problems = check_theme_file(BROKEN / "many-faults.yaml")
    assert spec is None
    assert [(p.field, p.line) for p in problems] == [("name", 1), ("primary", 2), ("dark", 3)]


def test_corpus_is_covered() -> None:
    covered = {*EXPECTED_FAULTS, "many-faults.yaml", "builtin-name.yaml"}
    assert {path.name for path in BROKEN.iterdir()} == covered


def test_a_broken_file_does_not_stop_the_others_loading() -> None:
    result = load_theme_folders([bundled_themes_dir(), BROKEN], reserved_names=BUILTIN_NAMES)
    assert {spec.name for spec in result.themes} == {"aro-dark", "aro-light", "aro-high-contrast"}
    faulty_files = {problem.path.name for problem in result.problems}
    assert faulty_files == {*EXPECTED_FAULTS, "many-faults.yaml", "builtin-name.yaml"}
    builtin = next(p for p in result.problems if p.path.name == "builtin-name.yaml")
    assert builtin.field == "name"
    assert "duplicate name 'textual-dark' (a built-in theme)" in builtin.message


def test_duplicate_name_across_files_rejects_the_later_file() -> None:
    result = load_theme_folders([DATA / "duplicates"])
    assert [(spec.name, spec.primary) for spec in result.themes] == [("twin", "#336699")]
    [problem] = result.problems
    assert problem.path.name == "b-twin.yaml"
    assert str(DATA / "duplicates" / "a-twin.yaml") in problem.message


def test_user_file_cannot_take_a_bundled_name(tmp_path: Path) -> None:
    (tmp_path / "mine.yml").write_text('name: aro-dark\nprimary: "#000"\n')
    result = load_theme_folders([bundled_themes_dir(), tmp_path])
    [problem] = result.problems
    assert problem.path == tmp_path / "mine.yml"
    assert "duplicate name 'aro-dark'" in str(problem)


def test_user_theme_unknown_field_is_a_warning_and_missing_variables_are_derived() -> None:
    spec, problems = load_theme_file(DATA / "user" / "solarized-user.yaml")
    assert [(p.severity, p.field, p.line) for p in problems] == [("warning", "colour_scheme", 8)]
    assert "warning: field 'colour_scheme': unknown field" in str(problems[0])
    assert spec.variables["status-ok"] == "#859900"
    assert spec.variables["status-error"] == "#dc322f"  # from its error colour
    assert spec.variables["chart-gpu"] == "#268bd2"  # from its primary
    assert spec.colors["success"] == "#008000"  # a colour name, as hex
    assert set(DASHBOARD_VARIABLES) <= set(spec.variables)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#abc", "#aabbcc"),
        ("#AABBCC", "#aabbcc"),
        ("#11223344", "#11223344"),
        ("red", "#800000"),
        ("dodger_blue1", "#0087ff"),
        (" Bright Red ", "#ff0000"),
    ],
)
def test_colour_forms(text: str, expected: str) -> None:
    assert parse_colour(text) == expected


@pytest.mark.parametrize("text", ["#12", "#1234", "#gggggg", "rgb(1,2,3)", "", "blurple"])
def test_not_colours(text: str) -> None:
    with pytest.raises(ValueError, match="is not a colour"):
        parse_colour(text)


def test_user_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert theme_folders() == [bundled_themes_dir(), tmp_path / "aro-tui" / "themes"]
