"""The in-plugin harness: imports like the ARO runtime, owns stdout, runs on Python 3.9."""

from __future__ import annotations

import ast
import os
import platform
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aro_tui.commands.bench import SpecLoopClient, make_payloads
from aro_tui.core.host.exchange import ExchangeStatus
from aro_tui.core.host.process import PluginLaunch, PluginProcess, PluginStartError
from aro_tui.harness import HARNESS_PATH

REPO = Path(__file__).resolve().parents[2]
TEST_PLUGINS = REPO / "tests" / "plugins"
PYTHON_39 = Path("/root/.pyenv/versions/3.9.18/bin/python3.9")
TOO_OLD_PYTHONS = [
    path
    for path in (
        Path("/root/.pyenv/versions/2.7.18/bin/python2.7"),
        Path("/root/.pyenv/versions/3.6.15/bin/python3.6"),
    )
    if path.exists()
]


def _launch(name: str, interpreter: Path | None = None) -> PluginLaunch:
    root = TEST_PLUGINS / name if name != "text" else REPO / "plugins" / "plugin-python-text"
    return PluginLaunch(
        name=name,
        module_path=root / "src" / "plugin.py",
        interpreter=interpreter or Path(sys.executable),
        default_timeout_s=10,
        start_timeout_s=10,
    )


@pytest.fixture
async def faulty() -> AsyncIterator[PluginProcess]:
    plugin = PluginProcess(_launch("faulty"))
    await plugin.start()
    yield plugin
    await plugin.stop()


def test_harness_is_python39_syntax_and_stdlib_only() -> None:
    source = HARNESS_PATH.read_text()
    tree = ast.parse(source, feature_version=(3, 9))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= set(sys.stdlib_module_names)


@pytest.mark.skipif(not PYTHON_39.exists(), reason="no Python 3.9 interpreter here")
async def test_harness_runs_plugins_under_python39() -> None:
    plugin = PluginProcess(_launch("faulty", PYTHON_39))
    try:
        await plugin.start()
        assert plugin.info is not None and plugin.info["python"].startswith("3.9")
        exchange = await plugin.call("chatty", '{"tag": "py39"}')
        assert exchange.status is ExchangeStatus.OK
        assert "python print py39" in exchange.stderr_lines
        assert exchange.printed_bytes == len("python print py39\n")  # counted on 3.9 too
    finally:
        await plugin.stop()


@pytest.mark.skipif(not TOO_OLD_PYTHONS, reason="no Python older than 3.7 here")
@pytest.mark.parametrize("python", TOO_OLD_PYTHONS, ids=lambda path: path.name)
async def test_an_interpreter_too_old_for_the_harness_is_named_at_start(python: Path) -> None:
    """It once failed with a SyntaxError traceback from inside harness.py."""
    plugin = PluginProcess(_launch("noop", python))
    with pytest.raises(PluginStartError) as raised:
        await plugin.start()
    (line,) = raised.value.stderr_tail
    assert line.startswith("aro-tui: this plugin runs under Python ")
    assert f"({python}); aro-tui's harness needs Python 3.7 or newer" in line
    assert raised.value.exit_code == 3


async def test_info_lists_actions_docstrings_and_undeclared(faulty: PluginProcess) -> None:
    assert faulty.info is not None
    actions = {action["name"]: action for action in faulty.info["actions"]}
    assert actions["echo"]["doc"] == "Return the input unchanged."
    assert actions["echo"]["defined"] is True
    assert actions["declared-missing"]["defined"] is False
    assert [action["name"] for action in faulty.info["undeclared"]] == ["undeclared"]
    assert faulty.action_names()[-1] == "undeclared"


async def test_prints_at_import_and_in_actions_become_stderr(faulty: PluginProcess) -> None:
    assert "faulty: printed at import" in faulty.recent_stderr
    exchange = await faulty.call("chatty", '{"tag": "t1"}')
    assert exchange.status is ExchangeStatus.OK
    assert exchange.response_bytes == b'{"tag": "t1"}'
    assert list(exchange.stderr_lines) == ["python print t1", "fd1 write t1", "stderr t1"]
    second = await faulty.call("chatty", '{"tag": "t2"}')
    assert list(second.stderr_lines) == ["python print t2", "fd1 write t2", "stderr t2"]


async def test_main_guard_does_not_run(faulty: PluginProcess) -> None:
    assert "never runs under the harness" not in faulty.recent_stderr


async def test_spec_text_plugin_without_main_loop_runs() -> None:
    plugin = PluginProcess(_launch("text"))
    try:
        exchange = await plugin.call("analyze", '{"text": "Hello world. Bye."}')
        assert exchange.status is ExchangeStatus.OK, exchange.error
        assert exchange.response_json()["words"] == 3
        missing = await plugin.call("analyze", "{}")
        assert missing.status is ExchangeStatus.PLUGIN_ERROR
        assert missing.error == "Missing 'text' field"
        dashed = await plugin.call("extract-emails", '{"text": "a@b.io"}')
        assert dashed.response_json()["emails"] == ["a@b.io"]
    finally:
        await plugin.stop()


async def test_plugin_with_its_own_main_loop_runs_under_the_harness() -> None:
    plugin = PluginProcess(_launch("noop"))
    try:
        exchange = await plugin.call("echo", '{"v": [1.5, 2]}')
        assert exchange.response_json() == {"v": [1.5, 2]}
        assert exchange.spec_request_line() == '{"action": "echo", "input": "{\\"v\\": [1.5, 2]}"}'
    finally:
        await plugin.stop()


STR_SUBCLASS_PLUGIN = """
import json


class JsonText(str):
    \"\"\"A str subclass, as numpy.str_ and markupsafe.Markup are.\"\"\"


class Shouting(str):
    def __str__(self):
        return self.upper()


def aro_plugin_info():
    return {"name": "sub", "version": "1.0.0", "actions": ["plain", "own-str"]}


def aro_action_plain(input_json):
    return JsonText(json.dumps({"ok": True}))


def aro_action_own_str(input_json):
    return Shouting('{"ok": true}')
"""


@pytest.mark.parametrize(
    ("action", "answer"), [("plain", b'{"ok": true}'), ("own-str", b'{"OK": TRUE}')]
)
async def test_a_str_subclass_answers_as_the_chapters_loop_prints_it(
    tmp_path: Path, action: str, answer: bytes
) -> None:
    """The chapter's loop prints the result, so a str subclass is an answer (its str());
    the harness used to call it a protocol error."""
    module = tmp_path / "plugin.py"
    module.write_text(STR_SUBCLASS_PLUGIN)
    plugin = PluginProcess(PluginLaunch("sub", module, Path(sys.executable)))
    try:
        exchange = await plugin.call(action, "{}")
        assert exchange.response_bytes == answer
        expected = ExchangeStatus.OK if action == "plain" else ExchangeStatus.PROTOCOL_ERROR
        assert exchange.status is expected  # TRUE is not JSON: what print() wrote is checked
    finally:
        await plugin.stop()


class _Base:
    def run(self) -> None:
        """Inherited documentation."""


class _Child(_Base):
    def run(self) -> None:
        pass


def test_docstrings_read_as_inspect_getdoc_reads_them() -> None:
    """The harness cleans docstrings itself (importing inspect costs ~7 ms per start)."""
    import collections
    import email.message
    import functools
    import inspect
    import json
    import textwrap

    from aro_tui.harness import harness

    def undocumented() -> None:
        pass

    borrowed = _Child.run  # a plain function, found on a class whose base documents it
    assert inspect.getdoc(borrowed) == "Inherited documentation."
    things: list[object] = [json, textwrap, harness, _Child().run, borrowed, undocumented, None]
    things.append(functools.partial(len))
    for module in (json, textwrap, collections, email.message, inspect, harness):
        for value in vars(module).values():
            if callable(value) or inspect.ismodule(value):
                things.append(value)
    odd = [
        "  one line  ",
        "\n\n  first\n\tindented with a tab\n      deeper\n\n   ",
        "first\n    a\n  b\n        \n",
        "",
    ]
    for text in odd:
        things.append(type("Documented", (), {"__doc__": text}))
    assert len(things) > 200
    for thing in things:
        expected = None if thing is None else inspect.getdoc(thing)
        assert harness._doc_of(thing) == expected, thing


def test_rss_reading_is_reused_only_for_short_actions_soon_after_it(tmp_path: Path) -> None:
    """Reading /proc/self/statm costs a system call per frame; a frame reuses the previous
    reading only when its action ran under RSS_REUSE_ACTION_NS and that reading is younger
    than RSS_REUSE_AGE_NS."""
    from aro_tui.harness import harness

    statm = tmp_path / "statm"
    statm.write_text("900 100 50 1 0 200 0\n")
    fd = os.open(statm, os.O_RDONLY)
    saved = harness._STATM_FD, harness._rss_pages, harness._rss_read_ns
    harness._STATM_FD = fd
    try:
        short, long = harness.RSS_REUSE_ACTION_NS - 1, harness.RSS_REUSE_ACTION_NS
        age = harness.RSS_REUSE_AGE_NS
        start_ns = 10 * age
        assert harness._resident_pages(start_ns, short) == 100  # nothing read yet
        statm.write_text("900 300 50 1 0 200 0\n")
        assert harness._resident_pages(start_ns + age - 1, short) == 100  # reused
        assert harness._resident_pages(start_ns + 1, long) == 300  # a real action: read
        statm.write_text("900 500 50 1 0 200 0\n")
        assert harness._resident_pages(start_ns + 2, -1) == 500  # not an action: read
        statm.write_text("900 700 50 1 0 200 0\n")
        assert harness._resident_pages(start_ns + 2 + age, short) == 700  # too old: read
    finally:
        os.close(fd)
        harness._STATM_FD, harness._rss_pages, harness._rss_read_ns = saved


def _minor_faults(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[7])  # minflt, after the command name


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="counts page faults through /proc under glibc's malloc",
)
async def test_large_answers_do_not_fault_the_plugins_memory_in_again_every_call() -> None:
    """Answering 1 MB calls, the plugin takes at most a few answers' worth of page faults per
    call more under the harness than under the chapter's own loop (about 1.5 where this was
    written, from Python's small-object arenas). Freeing each call's request and answer at
    once let glibc shrink the heap after every call, and the next call faulted it all back
    in: about 4.4 answers' worth more, and each call ~5 % slower."""
    payload = make_payloads()["1 MB"]
    warm_up, counted = 3, 6
    spec_loop = SpecLoopClient(Path(sys.executable), TEST_PLUGINS / "noop" / "src" / "plugin.py")
    try:
        for _ in range(warm_up):
            spec_loop.call("echo", payload)
        before = _minor_faults(spec_loop.process.pid)
        for _ in range(counted):
            spec_loop.call("echo", payload)
        spec_faults = (_minor_faults(spec_loop.process.pid) - before) / counted
    finally:
        spec_loop.close()
    plugin = PluginProcess(_launch("noop"))
    await plugin.start()
    try:
        assert plugin.pid is not None
        for _ in range(warm_up):
            await plugin.call("echo", payload)
        before = _minor_faults(plugin.pid)
        answers = [await plugin.call("echo", payload) for _ in range(counted)]
        harness_faults = (_minor_faults(plugin.pid) - before) / counted
    finally:
        await plugin.stop()
    assert all(answer.status is ExchangeStatus.OK for answer in answers)
    answer_pages = len(payload) // 4096
    assert harness_faults - spec_faults < 3 * answer_pages, (harness_faults, spec_faults)


def _info_plugin(source: Path, info_body: str) -> PluginProcess:
    """A plugin at ``source`` whose aro_plugin_info() body is ``info_body``, with an echo."""
    source.write_text(
        f"def aro_plugin_info():\n    {info_body}\n\n"
        "def aro_action_echo(input_json):\n    return input_json\n"
    )
    return PluginProcess(
        PluginLaunch(name="info", module_path=source, interpreter=Path(sys.executable))
    )


async def test_aro_plugin_info_exiting_or_giving_action_objects_still_loads(
    tmp_path: Path,
) -> None:
    """sys.exit() in aro_plugin_info() ended the start unnamed ("exited during start"), and
    an action given as {"name": ...} was listed as its dict's repr."""
    for info, expected_error, expected_actions in (
        ("raise SystemExit(3)", "aro_plugin_info() raised SystemExit: 3", ["echo"]),
        ("raise SystemExit", "aro_plugin_info() raised SystemExit", ["echo"]),  # no ": "
        ("return {'actions': [{'name': 'echo', 'verbs': ['say']}]}", None, ["echo"]),
    ):
        plugin = _info_plugin(tmp_path / "plugin.py", info)
        try:
            await plugin.start()
            assert plugin.info is not None
            assert plugin.info.get("info_error") == expected_error
            names = [a["name"] for a in [*plugin.info["actions"], *plugin.info["undeclared"]]]
            assert names == expected_actions
            assert (await plugin.call("echo", "{}")).status is ExchangeStatus.OK
        finally:
            await plugin.stop()


async def test_an_init_module_is_imported_as_the_runtime_imports_it(tmp_path: Path) -> None:
    """src/__init__.py was imported as a package named after its folder, so its relative
    imports worked here and failed under the runtime (`from __init__ import ...`)."""
    (tmp_path / "helpers.py").write_text("def shout(text):\n    return text.upper()\n")
    module = tmp_path / "__init__.py"
    launch = PluginLaunch(
        name="init", module_path=module, interpreter=Path(sys.executable), source_dir=tmp_path
    )
    body = (
        "def aro_plugin_info():\n    return {'actions': ['shout']}\n\n"
        "def aro_action_shout(input_json):\n"
        '    return \'{"said": "%s", "module": "%s"}\' % (shout(\'hi\'), __name__)\n'
    )
    module.write_text("from helpers import shout\n" + body)
    plugin = PluginProcess(launch)
    await plugin.start()
    try:
        exchange = await plugin.call("shout", "{}")
        assert exchange.response_bytes == b'{"said": "HI", "module": "__init__"}'
    finally:
        await plugin.stop()
    module.write_text("from .helpers import shout\n" + body)
    with pytest.raises(PluginStartError) as failed:
        await PluginProcess(launch).start()
    assert "attempted relative import with no known parent package" in str(failed.value)


async def test_an_info_function_returning_the_wrong_shape_says_what_it_returned(
    tmp_path: Path,
) -> None:
    """A JSON string from aro_plugin_info() read only "did not return a dict with an actions
    list", which did not say it got a str."""
    for returned, got in (
        ('\'{"actions": ["echo"]}\'', "a str"),
        ("None", "None"),
        ("{'name': 'x'}", "a dict without actions"),
        ("{'actions': 'echo'}", "a dict whose actions is a str"),
    ):
        plugin = _info_plugin(tmp_path / "plugin.py", f"return {returned}")
        try:
            await plugin.start()
            assert plugin.info is not None
            assert plugin.info["info_error"] == (
                f"aro_plugin_info() returned {got}, not a dict with an actions list"
            )
        finally:
            await plugin.stop()
