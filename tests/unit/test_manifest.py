"""Reading plugin.yaml: limits, positions, safe loading, and the helpers built on the data."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from aro_tui.core.plugins import manifest as manifest_module
from aro_tui.core.plugins.discovery import default_plugins_path
from aro_tui.core.plugins.manifest import MAX_MANIFEST_BYTES, read_manifest
from aro_tui.core.plugins.model import (
    DiscoveredPlugin,
    declared_actions,
    provides_counts,
    source_host,
)
from aro_tui.core.plugins.problem import clean_text, describe

VALID = """\
name: text-tools
version: "1.2.0"
description: Tools
aro-version: ">=0.1.0 <2.0"
source:
  git: https://github.com/example/text-tools.git
  ref: main
provides:
  - type: python-plugin
    path: src/
    python:
      min-version: "3.9"
    actions:
      - analyze
      - name: to-html
        verbs: [render]
  - type: aro-files
    path: features/
"""


def _write(tmp_path: Path, text: str | bytes) -> Path:
    file = tmp_path / "plugin.yaml"
    if isinstance(text, bytes):
        file.write_bytes(text)
    else:
        file.write_text(text, encoding="utf-8")
    return file


def test_a_valid_manifest_has_no_problems_and_keeps_positions(tmp_path: Path) -> None:
    manifest = read_manifest(_write(tmp_path, VALID))
    assert manifest.problems == ()
    assert manifest.data is not None and manifest.data["name"] == "text-tools"
    assert manifest.positions["provides[0].python.min-version"] == (12, 20)
    assert manifest.positions["provides[1].path"] == (18, 11)


def test_helpers_read_source_provides_and_actions(tmp_path: Path) -> None:
    data = read_manifest(_write(tmp_path, VALID)).data
    assert source_host(data) == "github.com"
    assert provides_counts(data) == {"python-plugin": 1, "aro-files": 1}
    assert declared_actions(data) == ("analyze", "to-html")


@pytest.mark.parametrize(
    ("git", "host"),
    [
        ("https://github.com/a/b.git", "github.com"),
        ("git@gitlab.com:a/b.git", "gitlab.com"),
        ("ssh://git@Codeberg.org:22/a/b", "codeberg.org"),
        ("", "(local)"),
    ],
)
def test_source_host(git: str, host: str) -> None:
    assert source_host({"source": {"git": git}}) == host
    assert source_host({"name": "x"}) == "(local)"


def test_a_manifest_over_one_mib_is_refused_without_parsing(tmp_path: Path) -> None:
    file = _write(tmp_path, "name: x\n" + "#" * MAX_MANIFEST_BYTES)
    (problem,) = read_manifest(file).problems
    assert problem.code == "manifest-too-large"
    assert problem.found == f"{MAX_MANIFEST_BYTES + 8} bytes"
    assert problem.expected == "at most 1048576 bytes (1 MiB)"


def test_a_deep_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 12)]
    file = _write(tmp_path, "\n".join(lines) + "\n")
    (problem,) = read_manifest(file).problems
    assert (problem.code, problem.line, problem.column) == ("yaml-alias", 2, 10)
    assert problem.found == "alias *l0"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_manifest_is_a_problem(tmp_path: Path) -> None:
    file = _write(tmp_path, VALID)
    file.chmod(0)
    try:
        (problem,) = read_manifest(file).problems
    finally:
        file.chmod(0o644)
    assert problem.code == "manifest-unreadable"
    assert problem.found == "Permission denied"


def test_a_missing_manifest_is_a_problem(tmp_path: Path) -> None:
    (problem,) = read_manifest(tmp_path / "plugin.yaml").problems
    assert (problem.code, problem.found) == ("manifest-missing", "(missing)")


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    assert read_manifest(_write(tmp_path, b"\xef\xbb\xbf" + VALID.encode())).problems == ()


def test_yaml_tags_that_build_objects_are_refused(tmp_path: Path) -> None:
    file = _write(tmp_path, "name: !!python/object/apply:os.system [echo hi]\n")
    (problem,) = read_manifest(file).problems
    assert (problem.code, problem.line, problem.column) == ("yaml-syntax", 1, 7)


def test_the_c_loader_is_used_when_libyaml_is_there() -> None:
    if getattr(yaml, "__with_libyaml__", False):
        assert manifest_module._Loader is yaml.CSafeLoader


def test_control_characters_are_escaped_in_findings(tmp_path: Path) -> None:
    file = _write(tmp_path, 'name: "bad\\e[31mname"\nversion: "1"\nprovides: []\n')
    problem = read_manifest(file).problems[0]
    assert problem.code == "name-pattern"
    assert "\x1b" not in problem.found
    assert problem.found == '"bad\\x1b[31mname"'
    assert clean_text("a\x9bb\tc\n\x00") == "a\\x9bb\tc\n\\x00"
    assert describe("x" * 100).endswith('…"')


def test_many_manifests_read_fast_enough_to_matter(tmp_path: Path) -> None:
    file = _write(tmp_path, VALID)
    started = time.perf_counter()
    for _ in range(50):
        read_manifest(file)
    assert time.perf_counter() - started < 5.0


def test_the_bundled_text_plugin_manifest_has_no_errors() -> None:
    file = default_plugins_path() / "plugin-python-text" / "plugin.yaml"
    if not file.exists():
        pytest.skip("the bundled text plugin is not there yet")
    manifest = read_manifest(file)
    assert [p for p in manifest.problems if p.is_error] == []
    assert manifest.data is not None and manifest.data["name"] == "plugin-python-text"


def test_binary_and_set_values_are_not_shown_as_python_reprs(tmp_path: Path) -> None:
    """``list --json`` showed "b'1.0.0'" and a set whose order changed between runs."""
    plugin = _loaded(
        tmp_path,
        "name: odd\nversion: !!binary MS4wLjA=\ndescription: !!set {a, b}\n"
        "provides:\n  - type: python-plugin\n    path: src/\n",
    )
    assert plugin.version is None and plugin.description is None
    found = {problem.field: (problem.found, problem.message) for problem in plugin.problems}
    assert found["version"] == ("binary data of 5 byte(s)", "version is not a string; quote it")
    assert found["description"][0] == "a set of 2 item(s) (a, b)"  # sorted: the same every run


def test_flow_nesting_past_the_scanners_own_limit_is_the_nesting_problem(
    tmp_path: Path,
) -> None:
    """1,000 brackets deep, PyYAML's scanner stops first: that was a "yaml-syntax" error
    under ARO's rules, where 100 deep was aro-tui's "yaml-too-deep"."""
    deep = "name: d\nversion: 1.0.0\nextra: " + "[" * 1000 + "]" * 1000 + "\n"
    (problem,) = read_manifest(_write(tmp_path, deep)).problems
    assert (problem.code, problem.rules) == ("yaml-too-deep", ("host",))


def test_min_version_in_fullwidth_digits_and_null_fields_are_named_plainly(
    tmp_path: Path,
) -> None:
    plugin = _loaded(
        tmp_path,
        "name: p\nversion: 1.0.0\ndescription: null\nprovides:\n  - type: python-plugin\n"
        '    path: src/\n    python:\n      min-version: "３.９"\n',
    )
    problems = {problem.code: problem for problem in plugin.problems}
    assert "min-version-format" in problems  # ３.９ was taken as a version
    assert problems["not-a-string"].message == (
        "description is not a string; give it a value, or leave the field out"
    )


def _loaded(tmp_path: Path, manifest: str) -> DiscoveredPlugin:
    """A plugin folder with ``manifest`` as its plugin.yaml (and an empty module), read."""
    from aro_tui.core.plugins.discovery import load_plugin

    folder = tmp_path / "plugin"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "plugin.py").write_text("")
    (folder / "plugin.yaml").write_text(manifest)
    return load_plugin(folder)


def test_an_unclosed_quote_is_placed_where_it_opens_not_at_the_end(tmp_path: Path) -> None:
    """PyYAML finds the mistake at the end of the file; the line to fix is where it opened."""
    text = 'name: x\ndescription: "unterminated\nversion: 1.0.0\nprovides: []\n\n'
    (problem,) = read_manifest(_write(tmp_path, text)).problems
    assert (problem.code, problem.line, problem.column) == ("yaml-syntax", 2, 14)
    assert problem.found == "while scanning a quoted scalar, found unexpected end of stream"
    assert problem.message == "YAML syntax error at line 2, column 14"


def test_a_bracket_left_open_mid_file_is_placed_where_it_opens(tmp_path: Path) -> None:
    """`actions: [a, b` on line 6 was reported at 7:7, the next key, with no word of line 6."""
    text = (
        "name: x\nversion: 1.0.0\nprovides:\n  - type: python-plugin\n    path: src/\n"
        "    actions: [a, b\nauthor: me\n"
    )
    (problem,) = read_manifest(_write(tmp_path, text)).problems
    assert (problem.code, problem.line, problem.column) == ("yaml-syntax", 6, 14)
    assert problem.found.endswith("did not find expected ',' or ']' (at line 7, column 7)")
    # A bad line inside a block mapping keeps its own place, not the mapping's start.
    (indent,) = read_manifest(_write(tmp_path, "name: x\nversion: 1\n  bad: indent\n")).problems
    assert (indent.line, indent.column) != (1, 1)
