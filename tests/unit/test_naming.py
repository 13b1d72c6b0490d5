"""Action-name → function-name rules, and the order in which the runtime picks a module."""

from __future__ import annotations

from pathlib import Path

import pytest

from aro_tui.core.plugins.naming import (
    action_function_name,
    full_function_name,
    locate_module,
    module_candidates,
    spec_function_name,
)


@pytest.mark.parametrize(
    ("action", "runtime", "spec"),
    [
        ("to-html", "to_html", "to_html"),
        ("analyze", "analyze", "analyze"),
        ("extract-urls", "extract_urls", "extract_urls"),
        ("ExtractURLs", "extract_u_r_ls", "ExtractURLs"),
        ("getHTML", "get_h_t_m_l", "getHTML"),
        ("snake_case", "snake_case", "snake_case"),
        ("to-Html", "to__html", "to_Html"),
    ],
)
def test_runtime_and_spec_rules(action: str, runtime: str, spec: str) -> None:
    assert action_function_name(action) == runtime
    assert action_function_name(action, rule="spec") == spec
    assert spec_function_name(action) == spec


def test_full_function_name_has_the_prefix() -> None:
    assert full_function_name("ExtractURLs") == "aro_action_extract_u_r_ls"
    assert full_function_name("ExtractURLs", rule="spec") == "aro_action_ExtractURLs"


def test_module_candidates_follow_the_runtime_order() -> None:
    assert module_candidates("plugin-python-text") == (
        "plugin.py",
        "plugin_python_text.py",
        "__init__.py",
        "main.py",
    )
    assert module_candidates("plugin") == ("plugin.py", "__init__.py", "main.py")


def test_locate_module_takes_the_first_candidate_present(tmp_path: Path) -> None:
    assert locate_module(tmp_path, "my-plugin") is None
    for name in ("main.py", "__init__.py", "my_plugin.py", "plugin.py"):
        (tmp_path / name).write_text("")
        assert locate_module(tmp_path, "my-plugin") == tmp_path / name


def test_locate_module_ignores_a_folder_named_like_a_module(tmp_path: Path) -> None:
    (tmp_path / "plugin.py").mkdir()
    (tmp_path / "main.py").write_text("")
    assert locate_module(tmp_path, "x") == tmp_path / "main.py"
