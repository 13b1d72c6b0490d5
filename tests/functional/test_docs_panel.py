"""The docs panel wraps a real plugin's docstring without splitting the words that fit."""

from __future__ import annotations

from pathlib import Path

from helpers import REPO, make_app, plugin_state, wait_until, write_plugin_folder

from aro_tui.ui.widgets.sidebar.action_list import DocText

TRANSFORMER = REPO / "plugins" / "plugin-python-transformer"
NAME = "plugin-python-transformer"
HANG = 6
"""Where an ``Input:`` item's wrapped lines start (``    - ``)."""


async def test_the_embed_doc_breaks_only_the_model_name_and_not_mid_line(tmp_path: Path) -> None:
    app = make_app(tmp_path, TRANSFORMER)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, NAME) == "ready", "plugin ready")
        screen.select_action("embed")
        panel = screen.query_one("#action-doc-text", DocText)
        await wait_until(pilot, lambda: "Generate embeddings" in str(panel.render()), "the doc")
        width = panel.size.width
        lines = str(panel.render()).splitlines()
        doc = dict(app.registry[NAME].actions())["embed"]
    assert doc is not None and width == 28, "the panel as a 140-column terminal shows it"
    assert all(len(line) <= width for line in lines), "the terminal wraps nothing again"
    shown_words = {word for line in lines for word in line.split()}
    fitting = {word for word in doc.split() if len(word) <= width - HANG}
    assert fitting <= shown_words, "every word that fits a line is shown whole"
    start = lines.index('      "sentence-transformers')  # was `installed (default: "s`
    assert lines[start - 1] == "      installed (default:"
    assert lines[start + 1] == '      /all-MiniLM-L6-v2")'
    assert "".join("".join(lines).split()) == "".join(doc.split()), "no character lost"


ECHO = "def aro_action_echo(input_json):\n    '''Echo.'''\n    return input_json\n"


async def _echo_docs(tmp_path: Path, name: str, info: str) -> str:
    """The docs panel on ``echo`` of a started plugin ``name`` whose info function is
    ``info``, on one line."""
    folder = write_plugin_folder(tmp_path / "Plugins" / "p", name, info + "\n\n" + ECHO)
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, name) == "ready", "ready")
        app.main_screen.select_action("echo")
        panel = app.main_screen.query_one("#action-doc-text", DocText)
        await wait_until(pilot, lambda: "Echo." in str(panel.render()), "the doc")
        return " ".join(str(panel.render()).split())


async def test_a_raising_aro_plugin_info_is_named_above_the_docs(tmp_path: Path) -> None:
    info = "def aro_plugin_info():\n    raise RuntimeError('no info today')"
    shown = await _echo_docs(tmp_path, "info-raises", info)
    assert shown.startswith(
        "⚠ aro_plugin_info() raised RuntimeError: no info today (the ARO runtime reads the "
        "plugin's actions from aro_plugin_info() and would register none, so every call would "
        "fail there; the ones listed here are the module's aro_action_ functions)"
    )


async def test_a_plugin_only_aros_package_manager_refuses_still_runs(tmp_path: Path) -> None:
    """The runtime loads a plugin whose name breaks the package manager's pattern, and
    `aro-tui call` ran it; the dashboard refused it as invalid."""
    info = "def aro_plugin_info():\n    return {'actions': ['echo']}"
    shown = await _echo_docs(tmp_path, "Strict_Only", info)
    assert shown.startswith("⚠ runs, but aro add would refuse it: • name: name must be")


async def test_a_declared_action_without_its_function_is_said_so_in_the_docs(
    tmp_path: Path,
) -> None:
    """The docs said "This action has no docstring." of an action whose function is missing."""
    app = make_app(tmp_path, REPO / "tests" / "plugins" / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        app.main_screen.select_action("declared-missing")
        panel = app.main_screen.query_one("#action-doc-text", DocText)
        await wait_until(pilot, lambda: "declares" in str(panel.render()), "the doc")
        shown = " ".join(str(panel.render()).split())
    assert "defines no aro_action_declared_missing(): a call of it answers" in shown


async def test_an_action_the_runtime_would_not_reach_says_so_before_it_is_run(
    tmp_path: Path,
) -> None:
    """An undeclared action looked exactly like a declared one, and ran here without a word,
    though the runtime knows only what aro_plugin_info() declares."""
    info = "def aro_plugin_info():\n    return {'actions': ['say']}"
    shown = await _echo_docs(tmp_path, "undeclared", info)
    assert shown.startswith(
        "⚠ ARO runtime: no action echo — aro_plugin_info() does not declare it, and the runtime "
        "knows only the actions it declares (aro_action_echo() runs here) Echo."
    )


async def test_below_36_rows_the_docs_open_in_a_pager_with_question_mark(tmp_path: Path) -> None:
    """At 80x24 to 120x35 the docs panel is hidden, and with it the docstring, an invalid
    plugin's errors and a crash's reason: no key showed them."""
    from aro_tui.ui.screens.pager import PagerScreen
    from aro_tui.ui.widgets.sidebar.action_list import ActionList

    app = make_app(tmp_path, REPO / "plugins")
    async with app.run_test(size=(100, 30)) as pilot:
        text_plugin = "plugin-python-text"
        await wait_until(pilot, lambda: plugin_state(app, text_plugin) == "ready", "ready")
        screen = app.main_screen
        screen.select_plugin(text_plugin)
        screen.select_action("hash")
        assert not screen.query_one("#action-doc").display  # the panel is hidden here
        screen.query_one(ActionList).focus()
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, PagerScreen), "the pager")
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = app.screen.query_one("#pager-text").text  # type: ignore[attr-defined]
        assert "Hash" in shown or "hash" in shown
        assert shown.strip() == screen.query_one(DocText).plain_text().strip()


async def test_where_aro_would_run_a_plugin_otherwise_is_in_the_docs_panel(
    tmp_path: Path,
) -> None:
    """docs/aro-runtime.md said the Docs panel warns where ARO would run a plugin otherwise
    (its .venv, an unmet python.min-version, a module named like the standard library's);
    the dashboard showed errors only. A packaging warning stays with `check`."""
    folder = write_plugin_folder(
        tmp_path / "Plugins" / "warned",
        "warned",
        "def aro_plugin_info():\n"
        '    return {"name": "warned", "actions": ["a"]}\n'
        "def aro_action_a(input_json):\n"
        '    """Do a."""\n'
        '    return "{}"\n',
    )
    (folder / "src" / "signal.py").write_text("")  # ARO's `import signal` would get the stdlib's
    manifest = folder / "plugin.yaml"
    manifest.write_text(
        manifest.read_text().replace("version: 1.0.0\n", "version: 1.0.0\ncolour: red\n")
    )
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "warned") == "ready", "ready")
        screen = app.main_screen
        screen.select_plugin("warned")
        screen.select_action("a")
        await pilot.pause()
        docs = app.main_screen.query_one(DocText).plain_text()
        assert docs.startswith("⚠ aro-tui check warns:\n• ")
        assert "signal.py" in docs
        assert "colour" not in docs  # a field ARO ignores: check says so, the docs need not
        assert docs.rstrip().endswith("Do a.")


async def test_switching_between_plugins_with_the_same_actions_shows_the_chosen_ones_docs(
    tmp_path: Path,
) -> None:
    """Two versions of one plugin: choosing the second left no action chosen and the first's
    docs up, as the action list, unchanged by name, was not filled again."""
    for version in (1, 2):
        write_plugin_folder(
            tmp_path / "Plugins" / f"v{version}",
            f"v{version}",
            "def aro_plugin_info():\n"
            f'    return {{"name": "v{version}", "actions": ["analyze"]}}\n'
            "def aro_action_analyze(input_json):\n"
            f'    """Version {version} analyzes."""\n'
            '    return "{}"\n',
        )
    app = make_app(tmp_path, tmp_path / "Plugins" / "v1", tmp_path / "Plugins" / "v2")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "v1") == "ready", "v1")
        screen.start_plugin("v2")
        await wait_until(pilot, lambda: plugin_state(app, "v2") == "ready", "v2")
        panel = screen.query_one(DocText)
        for name in ("v1", "v2", "v1"):
            screen.select_plugin(name)
            await pilot.pause()
            version = name[1]
            await wait_until(
                pilot,
                lambda v=version: f"Version {v} analyzes." in panel.plain_text(),
                name,  # type: ignore[misc]
            )
            assert screen.current_action == "analyze"


async def test_the_docs_pager_holds_the_whole_of_a_long_docstring(tmp_path: Path) -> None:
    """It showed the panel's text, cut at 16 KiB, and "Save all of it" saved the cut."""
    from aro_tui.ui.screens.pager import PagerScreen

    lines = "\\n    ".join(f"line {n:05d} of a long docstring" for n in range(1200))
    folder = write_plugin_folder(
        tmp_path / "Plugins" / "long",
        "long",
        "def aro_plugin_info():\n"
        '    return {"name": "long", "actions": ["a"]}\n'
        "def aro_action_a(input_json):\n"
        f'    """Begin.\n    {lines}\n    The end."""\n'
        '    return "{}"\n',
    )
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "long") == "ready", "ready")
        screen = app.main_screen
        screen.select_action("a")
        await pilot.pause()
        assert "more characters of this docstring" in screen.query_one(DocText).plain_text()
        screen.action_show_docs()
        await wait_until(pilot, lambda: isinstance(app.screen, PagerScreen), "the pager")
        pager = app.screen
        assert isinstance(pager, PagerScreen)
        whole = pager.read_slice(0, pager.total_bytes).decode()
        assert whole.rstrip().endswith("The end.") and "line 01199" in whole
