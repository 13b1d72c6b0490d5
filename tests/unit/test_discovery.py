"""Discovery: app folder vs Plugins folder, hidden and broken entries, never running code."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

import aro_tui
from aro_tui.core.plugins.discovery import (
    AmbiguousPluginName,
    DiscoveryError,
    PluginNotFound,
    default_plugins_path,
    discover,
    find_plugin,
    resolve_search_path,
)
from aro_tui.core.plugins.interpreter import VersionProbe, venv_python


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def write_plugin(
    parent: Path,
    folder: str,
    *,
    name: str | None = None,
    module: str = "plugin.py",
    body: str = "",
    actions: str = "[analyze]",
) -> Path:
    """A small, valid python plugin folder under ``parent``."""
    root = parent / folder
    (root / "src").mkdir(parents=True)
    (root / "src" / module).write_text(body)
    (root / "plugin.yaml").write_text(
        f"name: {name or folder}\nversion: 1.0.0\nprovides:\n  - type: python-plugin\n"
        f"    path: src/\n    actions: {actions}\n"
    )
    return root


@pytest.fixture
def app(tmp_path: Path) -> Path:
    plugins = tmp_path / "app" / "Plugins"
    plugins.mkdir(parents=True)
    write_plugin(plugins, "alpha")
    write_plugin(plugins, "beta", module="beta.py")
    write_plugin(plugins, ".hidden")
    (plugins / "no-manifest").mkdir()
    (plugins / "README.md").write_text("not a plugin")
    (plugins / "loop").symlink_to(plugins / "loop")
    (plugins / "dangling").symlink_to(tmp_path / "gone")
    return tmp_path / "app"


def test_app_folder_and_plugins_folder_find_the_same_plugins(app: Path) -> None:
    for path in (app, app / "Plugins"):
        found = discover(path)
        assert found.plugins_dir == app / "Plugins"
        assert [plugin.name for plugin in found.plugins] == ["alpha", "beta"]
        assert all(plugin.valid and plugin.problems == () for plugin in found.plugins)


def test_skipped_entries_are_reported_and_hidden_ones_ignored(app: Path) -> None:
    skipped = {
        (p.file.relative_to(app / "Plugins").as_posix(), p.code, p.found)
        for p in discover(app).skipped
    }
    assert skipped == {
        ("dangling", "unreadable-entry", "a broken symbolic link"),
        ("loop", "unreadable-entry", "Too many levels of symbolic links"),
        ("no-manifest/plugin.yaml", "no-manifest", "(missing)"),
    }
    assert all(p.severity == "warning" for p in discover(app).skipped)


def test_the_module_is_located_like_the_runtime_does(app: Path) -> None:
    alpha, beta = discover(app).plugins
    assert alpha.module_path == app / "Plugins" / "alpha" / "src" / "plugin.py"
    assert beta.module_path == app / "Plugins" / "beta" / "src" / "beta.py"
    assert alpha.declared_actions == ("analyze",)


def test_discovery_never_imports_plugin_code(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    body = f"open({str(marker)!r}, 'w').close()\n"
    write_plugin(tmp_path / "Plugins", "sneaky", body=body)
    (plugin,) = discover(tmp_path).plugins
    assert plugin.module_path is not None and plugin.valid
    assert not marker.exists()


def test_a_plugin_venv_is_preferred(tmp_path: Path) -> None:
    root = write_plugin(tmp_path, "own-venv")
    own = venv_python(root)
    own.parent.mkdir(parents=True)
    own.symlink_to(sys.executable)
    write_plugin(tmp_path, "shared")
    with_venv, shared = discover(tmp_path).plugins
    assert (with_venv.interpreter.origin, with_venv.interpreter.path) == ("plugin-venv", own)
    assert shared.interpreter.origin == "dashboard"


def test_a_symlink_loop_inside_a_plugin_is_a_problem(tmp_path: Path) -> None:
    root = write_plugin(tmp_path, "looped")
    (root / "lib").symlink_to(root / "lib")
    (root / "plugin.yaml").write_text(
        "name: looped\nversion: 1.0.0\nprovides:\n  - type: python-plugin\n    path: lib/\n"
    )
    (plugin,) = discover(tmp_path).plugins
    assert [p.code for p in plugin.problems] == ["provides-path-loop", "no-python-plugin"]
    assert plugin.module_path is None


def test_a_module_symlinked_outside_the_plugin_is_refused(tmp_path: Path) -> None:
    root = write_plugin(tmp_path / "Plugins", "leaky", module="other.py")
    (root / "src" / "plugin.py").symlink_to(tmp_path / "outside.py")
    (tmp_path / "outside.py").write_text("")
    (plugin,) = discover(tmp_path).plugins
    assert [p.code for p in plugin.problems] == ["module-escape"]
    assert plugin.module_path is None


def test_duplicate_names_are_errors(tmp_path: Path) -> None:
    write_plugin(tmp_path, "one", name="same-name")
    write_plugin(tmp_path, "two", name="same-name")
    found = discover(tmp_path)
    assert [[p.code for p in plugin.problems] for plugin in found.plugins] == [
        ["duplicate-name"],
        ["duplicate-name"],
    ]
    assert not found.valid
    assert str(tmp_path / "two") in found.plugins[0].problems[0].message
    # Where the name is, as every other manifest finding says it.
    assert found.plugins[1].problems[0].location() == f"{tmp_path / 'two' / 'plugin.yaml'}:1:7"


def test_modules_named_like_the_standard_library_are_a_warning(tmp_path: Path) -> None:
    root = write_plugin(tmp_path, "shadow")
    for own in ("base64.py", "helpers.py", "_ssl.py"):
        (root / "src" / own).write_text("")
    (root / "src" / "json").mkdir()
    (root / "src" / "json" / "__init__.py").write_text("")
    (root / "src" / "email").mkdir()  # no __init__.py: the standard package still wins
    (plugin,) = discover(tmp_path).plugins
    (problem,) = plugin.problems
    assert (problem.code, problem.severity) == ("shadows-stdlib", "warning")
    assert problem.found == "base64.py, json/"
    assert plugin.valid and plugin.runnable


def test_many_plugins_with_one_name_each_name_a_few_of_the_others(tmp_path: Path) -> None:
    for index in range(12):
        write_plugin(tmp_path, f"copy-{index:02}", name="same-name")
    first = discover(tmp_path).plugins[0].problems[0].message
    assert first.count(str(tmp_path)) == 3 and "and 8 more" in first
    assert str(tmp_path / "copy-00") not in first  # not itself


def test_a_single_plugin_folder_can_be_scanned(tmp_path: Path) -> None:
    root = write_plugin(tmp_path, "solo")
    found = discover(root)
    assert found.plugins_dir == root
    assert [plugin.name for plugin in found.plugins] == ["solo"]


def test_an_unreadable_manifest_keeps_the_folder_name(tmp_path: Path) -> None:
    root = tmp_path / "garbled"
    root.mkdir()
    (root / "plugin.yaml").write_bytes(b"\xff\xfe\x00")
    (plugin,) = discover(tmp_path).plugins
    assert (plugin.name, plugin.manifest, plugin.status) == ("garbled", None, "invalid")


def test_a_missing_path_or_a_file_is_a_discovery_error(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="does not exist"):
        discover(tmp_path / "nope")
    (tmp_path / "file").write_text("")
    with pytest.raises(DiscoveryError, match="is not a folder"):
        discover(tmp_path / "file")


def test_two_hundred_plugins_probe_the_shared_interpreter_once(tmp_path: Path) -> None:
    for index in range(200):
        write_plugin(tmp_path, f"plugin-{index:03d}")
    probe = VersionProbe(cache_path=tmp_path / "probe.json")
    found = discover(tmp_path, probe=probe)
    assert len(found.plugins) == 200 and found.valid
    assert probe.probes_run == 1


def test_find_plugin_by_name_folder_or_path(app: Path) -> None:
    assert find_plugin("alpha", app).root == app / "Plugins" / "alpha"
    assert find_plugin(str(app / "Plugins" / "beta")).name == "beta"
    with pytest.raises(PluginNotFound) as caught:
        find_plugin("gamma", app)
    assert caught.value.known_names == ["alpha", "beta"]
    assert "known plugins: alpha, beta" in str(caught.value)


def test_a_name_two_plugins_share_is_refused_naming_both_folders(app: Path) -> None:
    """`call multimod` ran the folder named m-dupname (its manifest says multimod too), picked
    by folder order, while the dashboard refuses both."""
    plugins = app / "Plugins"
    write_plugin(plugins, "a-copy", name="alpha")
    with pytest.raises(AmbiguousPluginName) as caught:
        find_plugin("alpha", app)
    assert f"are named 'alpha', which ARO loads only one of: {plugins / 'a-copy'}, " in str(
        caught.value
    )
    assert str(caught.value).endswith(f"{plugins / 'alpha'}; give the folder of the one to run")
    assert find_plugin(str(plugins / "a-copy")).root == plugins / "a-copy"
    # A folder's name still finds it when no manifest has that name.
    write_plugin(plugins, "folder-x", name="other")
    assert find_plugin("folder-x", app).name == "other"


def test_a_plugin_yml_is_named_when_its_folder_is_asked_for(app: Path) -> None:
    plugins = app / "Plugins"
    (write_plugin(plugins, "yml") / "plugin.yaml").rename(plugins / "yml" / "plugin.yml")
    for wanted in ("yml", str(plugins / "yml")):
        with pytest.raises(PluginNotFound) as caught:
            find_plugin(wanted, app)
        assert str(caught.value) == (
            f"no plugin {wanted!r}: {plugins / 'yml'} has 'plugin.yml' and no plugin.yaml, "
            "the only name ARO reads (rename it)"
        )


def test_default_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package_dir = Path(aro_tui.__file__).resolve().parent
    bundled = package_dir / "bundled_plugins"
    expected = bundled if bundled.is_dir() else package_dir.parent / "plugins"
    assert default_plugins_path() == expected
    monkeypatch.chdir(tmp_path)
    assert resolve_search_path(None) == expected
    (tmp_path / "Plugins").mkdir()
    assert resolve_search_path(None) == tmp_path / "Plugins"
    assert resolve_search_path(tmp_path / "x") == tmp_path / "x"


def test_files_that_cannot_be_looked_at_are_that_plugins_problem(tmp_path: Path) -> None:
    """A name too long for the file system, or a NUL in a path, ended the whole scan with a
    traceback (every command, and the dashboard, for every plugin in the folder)."""
    plugins = tmp_path / "Plugins"
    write_plugin(plugins, "good")
    write_plugin(plugins, "long", name="a" * 300, module="main.py")  # tries a…a.py first
    nul = write_plugin(plugins, "nul")
    manifest = nul / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("path: src/", 'path: "src\\0"'))
    found = {plugin.root.name: plugin for plugin in discover(plugins).plugins}
    assert found["good"].valid
    for folder, text in (("long", "File name too long"), ("nul", "embedded null byte")):
        plugin = found[folder]
        assert not plugin.valid
        codes = [(p.code, p.is_error) for p in plugin.problems]
        assert codes == [("files-unreadable", True)], plugin.problems
        assert text in plugin.problems[0].found


def test_a_manifest_with_another_spelling_is_named_and_check_fails(tmp_path: Path) -> None:
    """``check`` on a plugin whose manifest is plugin.yml blamed its src/ folder and passed."""
    from aro_tui.cli import main

    folder = write_plugin(tmp_path / "Plugins", "typo")
    (folder / "plugin.yaml").rename(folder / "plugin.yml")
    for path in (folder, folder.parent):  # the plugin folder itself, or its plugins folder
        found = discover(path)
        assert found.plugins == []
        (problem,) = found.skipped
        assert (problem.code, problem.severity) == ("misnamed-manifest", "error")
        assert problem.file == folder / "plugin.yml"
        assert problem.message == (
            "folder skipped: ARO reads only plugin.yaml, not plugin.yml (rename it)"
        )
        assert main(["check", str(path)]) == 1  # nothing was checked: not a pass
    write_plugin(tmp_path / "Plugins", "fine")
    assert main(["check", str(tmp_path / "Plugins")]) == 1  # beside a valid one too


@pytest.mark.skipif(os.geteuid() == 0, reason="root searches folders whatever their mode")
def test_a_plugin_folder_that_cannot_be_searched_is_named_so(tmp_path: Path) -> None:
    folder = write_plugin(tmp_path / "Plugins", "closed")
    folder.chmod(0o644)
    try:
        (problem,) = discover(folder.parent).skipped
    finally:
        folder.chmod(0o755)
    assert (problem.code, problem.found) == ("unreadable-entry", "Permission denied")


def test_layout_problems_say_what_is_there_instead(tmp_path: Path) -> None:
    """A file where a folder belongs was called missing, a folder named plugin.py went
    unmentioned, and a name leading outside was blamed on a symbolic link."""
    plugins = tmp_path / "Plugins"

    def found(folder: str, code: str) -> str:
        plugin = next(p for p in discover(plugins).plugins if p.root.name == folder)
        return next(p.found for p in plugin.problems if p.code == code)

    file_path = write_plugin(plugins, "file-path")
    (file_path / "lib").write_text("")
    manifest = file_path / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("path: src/", "path: lib"))
    assert found("file-path", "provides-path-not-found") == '"lib" (a file, not a folder)'

    folder_module = write_plugin(plugins, "folder-module", module="other.txt")
    (folder_module / "src" / "plugin.py").mkdir()
    assert "(plugin.py is a folder)" in found("folder-module", "module-not-found")

    requirements = write_plugin(plugins, "reqs")
    (requirements / "src" / "requirements.txt").mkdir()
    manifest = requirements / "plugin.yaml"
    text = manifest.read_text().replace(
        "    path: src/\n", "    path: src/\n    python:\n      requirements: requirements.txt\n"
    )
    manifest.write_text(text)
    assert found("reqs", "requirements-not-found") == '"requirements.txt" (a folder)'

    fifo_module = write_plugin(plugins, "fifo-module", module="other.txt")
    os.mkfifo(fifo_module / "src" / "plugin.py")
    assert "(plugin.py is not a regular file" in found("fifo-module", "module-not-found")

    broken_src = write_plugin(plugins, "broken-src")
    shutil.rmtree(broken_src / "src")
    (broken_src / "src").symlink_to("/nonexistent-aro-tui-target")  # was "leading outside"
    assert found("broken-src", "provides-path-not-found") == '"src/" (a broken link)'

    broken_manifest = write_plugin(plugins, "broken-manifest")
    (broken_manifest / "plugin.yaml").unlink()
    (broken_manifest / "plugin.yaml").symlink_to("gone.yaml")
    assert found("broken-manifest", "manifest-missing") == "a broken link"

    (plugins / "outside.py").write_text("")  # src/../../outside.py
    write_plugin(plugins, "escape", name='"../../outside"', module="other.txt")
    assert "the plugin's name makes it a path leading outside" in found("escape", "module-escape")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_module_the_user_cannot_read_is_a_problem_not_valid(tmp_path: Path) -> None:
    """check called a plugin with an unreadable plugin.py valid; its import then failed."""
    folder = write_plugin(tmp_path / "Plugins", "closed")
    (folder / "src" / "plugin.py").chmod(0)
    try:
        (plugin,) = discover(folder.parent).plugins
    finally:
        (folder / "src" / "plugin.py").chmod(0o644)
    assert not plugin.valid
    assert [p.code for p in plugin.problems] == ["module-unreadable"]


def test_with_a_plugins_folder_given_a_bare_name_is_looked_up_there_first(
    app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder named like the plugin in the working directory won over --plugins-dir, so a
    replay run in a plugin's own checkout compared another copy and passed."""
    here = tmp_path / "elsewhere"
    write_plugin(here, "alpha", name="alpha")
    monkeypatch.chdir(here)
    assert find_plugin("alpha", app).root == app / "Plugins" / "alpha"
    assert find_plugin("./alpha", app).root.resolve() == here / "alpha"  # a path is a path
    assert find_plugin("alpha").root.resolve() == here / "alpha"  # no folder given: as before
    write_plugin(here, "only-here")
    assert find_plugin("only-here", app).root.resolve() == here / "only-here"


def test_an_apps_plugins_folder_spelt_otherwise_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plugins/` in an app folder read as one plugin folder without a manifest, "No plugin
    found"; and `call NAME` there looked in the bundled plugins without a word."""
    write_plugin(tmp_path / "app" / "plugins", "p-mainloop")
    found = discover(tmp_path / "app")
    assert found.plugins == []
    (skipped,) = found.skipped
    assert (skipped.code, skipped.severity) == ("misnamed-plugins-folder", "error")
    assert "only from Plugins/, not plugins/" in skipped.message
    monkeypatch.chdir(tmp_path / "app")
    with pytest.raises(PluginNotFound) as raised:
        find_plugin("p-mainloop")
    assert "plugins/ here is not looked in: ARO reads an app's plugins from Plugins/" in str(
        raised.value
    )


def test_a_plugin_module_named_like_the_standard_library_is_a_warning(tmp_path: Path) -> None:
    """src/json.py, the module of a plugin named json, passed check; ARO's driver does
    `from json import aro_action_a` and got the standard json: the call failed."""
    write_plugin(tmp_path, "json", module="json.py")
    (plugin,) = discover(tmp_path).plugins
    (problem,) = plugin.problems
    assert (problem.code, problem.severity, problem.found) == (
        "module-shadows-stdlib",
        "warning",
        '"json.py"',
    )
    assert "from json import aro_action_" in problem.message
    write_plugin(tmp_path / "other", "helpers-plugin")
    assert discover(tmp_path / "other").plugins[0].problems == ()
