"""``aro-tui list`` and ``aro-tui check``: tables, JSON, exit statuses, untrusted text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runs import run_piped

from aro_tui.cli import main

MANIFEST = """\
name: {name}
version: 1.0.0
description: {description}
source:
  git: {git}
provides:
  - type: python-plugin
    path: src/
    actions: [analyze, {{name: to-html, verbs: [render]}}]
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")


def write_plugin(
    plugins: Path, folder: str, name: str, *, description: str = "d", git: str = '""'
) -> Path:
    root = plugins / folder
    (root / "src").mkdir(parents=True)
    (root / "src" / "plugin.py").write_text("")
    text = MANIFEST.format(name=name, description=description, git=git)
    (root / "plugin.yaml").write_text(text)
    return root


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    plugins = tmp_path / "app" / "Plugins"
    write_plugin(plugins, "good", "good-plugin", git="https://github.com/example/good.git")
    write_plugin(plugins, "bad", "Bad_Name")
    (plugins / "empty").mkdir()
    return tmp_path / "app"


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    write_plugin(tmp_path / "Plugins", "good", "good-plugin")
    return tmp_path / "Plugins"


def test_list_shows_a_table(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", str(mixed)]) == 0
    out = capsys.readouterr().out
    good_row = next(line for line in out.splitlines() if "good-plugin" in line)
    for cell in ("1.0.0", "github.com", "python-plugin ×1", "valid", "dashboard", "analyze"):
        assert cell in good_row
    bad_row = next(line for line in out.splitlines() if "Bad_Name" in line)
    assert "(local)" in bad_row and "invalid" in bad_row
    assert f"skipped {mixed / 'Plugins' / 'empty' / 'plugin.yaml'}" in out


def test_list_fits_80_columns_without_breaking_words(
    mixed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["list", str(mixed)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = [line for line in lines if not line.startswith("skipped ")]  # one long path
    assert all(len(line) <= 80 for line in table)
    header = next(line for line in lines if "Name" in line)
    assert header.split() == ["Name", "Version", "Status", "Python", "Actions"]
    good_row = next(line for line in lines if "good-plugin" in line)
    assert good_row.split() == ["good-plugin", "1.0.0", "valid", "3.11.7", "analyze,", "to-html"]
    below = lines[lines.index(good_row) + 1]
    assert below.split() == ["dashboard"]


def test_list_json_is_documented_shape(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", str(mixed), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "aro-tui/list/1"
    assert document["plugins_dir"] == str(mixed / "Plugins")
    bad, good = document["plugins"]
    assert (good["name"], good["status"], good["source"]) == ("good-plugin", "valid", "github.com")
    assert good["provides"] == {"python-plugin": 1}
    assert good["interpreter"]["origin"] == "dashboard"
    assert good["interpreter"]["version"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert good["actions"] == [
        {
            "name": "analyze",
            "function": "aro_action_analyze",
            "spec_function": "aro_action_analyze",
        },
        {
            "name": "to-html",
            "function": "aro_action_to_html",
            "spec_function": "aro_action_to_html",
        },
    ]
    assert (bad["status"], bad["errors"], bad["warnings"]) == ("invalid", 1, 0)
    assert [p["code"] for p in document["skipped"]] == ["no-manifest"]


def test_check_reports_problems_and_exits_1(
    mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(mixed)]) == 1
    out = capsys.readouterr().out
    manifest = mixed / "Plugins" / "bad" / "plugin.yaml"
    assert f"  error [strict] {manifest}:1:7 name" in out
    assert '      found:    "Bad_Name"' in out
    assert "      expected: a name matching ^[a-z][a-z0-9-]*[a-z0-9]$" in out
    assert "2 plugin(s): 1 valid, 1 invalid; 1 error(s), 0 warning(s); 1 folder(s) skipped" in out


def test_check_json_groups_problems_per_plugin(
    mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--json", str(mixed)]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "aro-tui/check/1"
    assert document["valid"] is False
    assert document["summary"] == {
        "plugins": 2,
        "valid": 1,
        "invalid": 1,
        "errors": 1,
        "warnings": 0,
        "skipped": 1,
    }
    bad = document["plugins"][0]
    assert bad["valid_under"] == {"strict": False, "runtime": True, "host": True}
    (problem,) = bad["problems"]
    assert problem == {
        "code": "name-pattern",
        "severity": "error",
        "rules": ["strict"],
        "file": str(mixed / "Plugins" / "bad" / "plugin.yaml"),
        "field": "name",
        "line": 1,
        "column": 7,
        "found": '"Bad_Name"',
        "expected": "a name matching ^[a-z][a-z0-9-]*[a-z0-9]$",
        "message": "name must be lower-case letters, digits and '-', starting with a letter",
    }


def test_check_exits_0_when_everything_is_valid(
    clean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(clean)]) == 0
    assert "1 plugin(s): 1 valid, 0 invalid" in capsys.readouterr().out


def test_a_missing_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("list", "check"):
        assert main([command, str(tmp_path / "nope")]) == 2
        captured = capsys.readouterr()
        assert captured.err == f"aro-tui {command}: error: {tmp_path / 'nope'} does not exist\n"
        assert captured.out == ""


def test_no_path_uses_plugins_in_the_current_folder(
    clean: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(clean.parent)
    assert main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["plugins_dir"] == str(clean.parent / "Plugins")


def test_plugin_text_is_never_markup_or_terminal_control(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_plugin(tmp_path, "evil", '"[bold]x"', description='"\\e[2J\\e[31mred"')
    assert main(["list", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[bold]x" in out
    assert main(["check", str(tmp_path)]) == 1
    out += capsys.readouterr().out
    assert "\x1b" not in out
    assert main(["list", "--json", str(tmp_path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["plugins"][0]["description"] == "\x1b[2J\x1b[31mred"


def test_configured_interpreter_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_plugin(tmp_path, "p", "p-plugin")
    assert main(["list", "--json", "--python", str(tmp_path / "no-python"), str(tmp_path)]) == 0
    interpreter = json.loads(capsys.readouterr().out)["plugins"][0]["interpreter"]
    assert interpreter["origin"] == "configured" and interpreter["version"] is None
    assert main(["check", "--python", str(tmp_path / "no-python"), str(tmp_path)]) == 1


def test_check_through_a_real_subprocess(mixed: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, "-m", "aro_tui", "check", "--json", str(mixed)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert [plugin["status"] for plugin in document["plugins"]] == ["invalid", "valid"]
    missing = subprocess.run(
        [sys.executable, "-m", "aro_tui", "check", str(mixed / "nope")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ["check", ""],
        ["list", "--json", ""],
        ["call", "--plugins-dir", "", "noop", "echo", "{}"],
        ["sessions", "--sessions-dir", ""],
    ],
)
def test_an_empty_path_is_a_usage_error(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``check ""`` quietly checked the current folder (``Path("")`` is ``.``)."""
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert "an empty path (leave the option out for the default)" in capsys.readouterr().err


def test_a_folder_name_with_a_newline_cannot_split_checks_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = tmp_path / "Plugins"
    write_plugin(plugins, "a\nb", "Bad_Name")  # invalid: its folder is printed
    write_plugin(plugins, "r\u202el", "Bad_Name2")  # a right-to-left override, printed raw
    assert main(["check", str(plugins)]) == 1
    out = capsys.readouterr().out
    assert "a\\x0ab" in out and "r\\u202el" in out and "\u202e" not in out
    assert not any(line == "b" or line.startswith("b/") for line in out.splitlines())


def test_one_very_long_name_or_version_leaves_every_column_in_view(
    clean: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 300-character name dropped Version and Status at 80 columns; an 89-digit version
    squeezed Source and Actions to nothing at 140."""
    root = write_plugin(clean, "long", "a" * 300)
    manifest = root / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("1.0.0", "1" + "0" * 88))
    for columns, header in (
        ("80", ["Name", "Version", "Status", "Python", "Actions"]),
        ("140", ["Name", "Version", "Source", "Provides", "Status", "Python", "Actions"]),
    ):
        monkeypatch.setenv("COLUMNS", columns)
        assert main(["list", str(clean)]) == 0
        lines = capsys.readouterr().out.splitlines()
        shown = next(line for line in lines if "Name" in line)
        assert shown.replace("┃", " ").split() == header, columns
        good_row = next(line for line in lines if "good-plugin" in line)
        assert "good-plugin" in good_row and "1.0.0" in good_row and "valid" in good_row


def test_json_paths_are_absolute_for_a_relative_path_argument(
    clean: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(clean.parent)
    for argument in (clean.name, f"../{clean.parent.name}/./{clean.name}"):
        assert main(["list", "--json", argument]) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["plugins_dir"] == str(clean), argument
        assert document["plugins"][0]["root"] == str(clean / "good")


def test_a_path_argument_that_cannot_be_read_is_a_usage_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name too long for the file system (or a folder without search permission) ended
    check, list and call with an OSError traceback and exit 1."""
    too_long = str(tmp_path / ("z" * 300))
    for argv in (["check", too_long], ["list", too_long], ["call", too_long, "echo"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"aro-tui {argv[0]}: error:" in err and "File name too long" in err, err


def test_check_says_why_it_fails_and_which_folder_it_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt manifest failed check under a summary of "0 error(s)"; an empty folder
    failed with no word why; a ./Plugins that is a file made check read the bundled plugins
    instead, and pass."""
    typo = write_plugin(tmp_path / "Plugins", "typo", "typo")
    (typo / "plugin.yaml").rename(typo / "plugin.yml")
    assert main(["check", str(tmp_path / "Plugins")]) == 1
    out = capsys.readouterr().out
    assert "skipped (error) " in out and "1 folder(s) skipped, 1 of them for an error" in out
    assert f"No plugin found in {tmp_path / 'Plugins'}." in out
    app = tmp_path / "app"
    app.mkdir()
    (app / "Plugins").write_text("not a folder")
    monkeypatch.chdir(app)
    assert main(["check"]) == 2
    assert f"{app / 'Plugins'} is not a folder" in capsys.readouterr().err


def test_a_reader_that_went_away_ends_check_with_141_like_the_other_commands(
    mixed: Path,
) -> None:
    """`aro-tui check | true`: rich exited with 1 and no word, where call and batch give 141."""
    result = subprocess.run(
        f"{sys.executable} -m aro_tui check {mixed} | true; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        check=False,
    )
    assert result.returncode == 141
    assert b"Traceback" not in result.stderr


LONG_NAME = "plugin-python-" + "-".join(["transformer"] * 12)


def test_list_on_a_terminal_names_the_folders_of_plugins_that_share_a_name(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two rows "good-plugin … invalid" did not say which folder each was."""
    write_plugin(clean, "copy", "good-plugin")
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["list", str(clean)]) == 0
    out = capsys.readouterr().out
    assert "in copy/" in out and "in good/" in out


def test_list_to_a_pipe_keeps_each_plugin_on_one_line_with_its_whole_name(clean: Path) -> None:
    """`aro-tui list | grep -c plugin-python-transformer` printed 0: rich laid the table out
    at 80 columns and split the name over two lines."""
    write_plugin(clean, "long", LONG_NAME)
    result = run_piped(["list", str(clean)])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    [row] = [line for line in lines if LONG_NAME in line]
    assert row.split()[:2] == [LONG_NAME, "1.0.0"]  # awk '{print $1}' gives the names
    assert row.rstrip().endswith("analyze, to-html")
    assert "python-plugin ×1" in row and "dashboard" in row
    [good] = [line for line in lines if "good-plugin" in line]
    assert good.split()[:2] == ["good-plugin", "1.0.0"]


def test_check_and_list_name_the_python_aro_would_run_when_it_is_another(
    clean: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A plugin importing a package only aro-tui's environment held passed check and call,
    and failed under ARO, which runs python3 from PATH: nothing said the two differ."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for folder in (ours, theirs):
        folder.mkdir()
        (folder / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(theirs))
    assert main(["check", str(clean), "--python", str(ours / "python3")]) == 0
    out = capsys.readouterr().out
    assert f"note: ARO runs plugins with python3 from PATH ({theirs / 'python3'})" in out
    assert f"aro-tui runs these with {ours / 'python3'}" in out
    assert main(["list", str(clean), "--python", str(ours / "python3")]) == 0
    listed = capsys.readouterr()
    assert "note: ARO runs" in listed.err and "note:" not in listed.out  # grep reads stdout
    monkeypatch.setenv("PATH", str(ours))  # the same Python: nothing to say
    assert main(["check", str(clean), "--python", str(ours / "python3")]) == 0
    assert "note:" not in capsys.readouterr().out
