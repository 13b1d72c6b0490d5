"""aro-tui's harness: runs inside the plugin's interpreter and serves framed requests.

Standard library only, Python >= 3.9, started by path (the plugin's venv has no aro_tui):

    python /abs/path/aro_tui/harness/start.py --module /plugin/src/plugin.py --token T

(``start.py`` loads this file as a module so that its bytecode can be cached; running this file
directly works the same.)

Framing (see docs/host-protocol.md). A request on stdin is one header line
``<kind> <id> <length> <sent> <action>\\n`` followed by exactly ``length`` raw bytes (the
action's input JSON text, UTF-8; ``sent`` is ``p`` when the host sent it while another request
was in flight, else ``-``). A response on the protocol fd is a fixed 60-byte binary header
(``_FRAME_HEADER``: the magic ``AF``, a status code, the end flag, the body's length, the id,
``action_ns``, ``rss_pages``, ``printed``, ``answered_ns``, ``peak_pages``; little-endian)
followed by the
body's raw bytes (``action_ns``: how long the action ran, -1 for other requests;
``rss_pages``: this process's resident pages, -1 unless ``--report-rss``, see
``_resident_pages``; ``printed``: bytes written through ``sys.stdout`` since the request was
read, i.e. during the call, or during import for the first frame; ``answered_ns``:
``time.monotonic_ns()`` as the frame is written, the clock the host reads too, so a round trip
does not include the host's event loop being busy elsewhere; ``peak_pages``: the most resident
pages since the previous frame, for an action of 1 ms or more, else -1, see ``_peak_pages``).
Why binary: packing it costs a
third of formatting text, and the host reads it with one ``unpack_from`` instead of a split
and five ``int()`` (about 1 µs a call on both sides together, a twentieth of a no-op round
trip).

stderr markers let the host attribute every stderr line to the call that printed it although
stdout and stderr are separate pipes. Before each response the harness flushes Python's
streams; for a request sent alone it then asks the pipe how many bytes the host has not read
yet (``FIONREAD``): none means every line of this call is already with the host, and the frame
says so (``end`` = ``c``, no marker). Otherwise, and always for a pipelined request, it writes
``\\x1e<token> end <id>\\n`` on stderr before the frame (``end`` = ``s``). A pipelined
request that follows a ``c`` frame first writes ``\\x1e<token> begin <id>\\n``, so its lines
cannot be taken for the previous call's. An action that left a non-daemon thread or
multiprocessing child running gets ``\\x1e<token> running <id> <json>\\n`` before its frame
(see ``_report_left_running``).

The harness owns stdin and stdout: the protocol uses private duplicates of fds 0 and 1, fd 0 is
pointed at /dev/null and fd 1 at stderr, so whatever the plugin prints (``print`` or C-level
writes to fd 1) shows up as stderr and can never corrupt the stream. Markers go through a
private duplicate of fd 2, so they reach the host even if the plugin points fd 2 elsewhere.
What goes through ``sys.stdout`` is also counted: under the chapter's main loop and the ARO
runtime it would have become part of the answer, and the host warns about that.
"""

from __future__ import annotations

import _thread
import io
import json
import os
import signal
import struct
import sys
from time import monotonic_ns as _monotonic_ns
from time import perf_counter_ns as _perf_counter_ns
from types import FrameType, FunctionType, ModuleType, TracebackType

# Every start of a plugin pays for what the harness imports: ``typing`` is needed only by the
# type checker and ``traceback`` only when something fails.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Dict, List, Optional, Set, Tuple

_ioctl: Optional[Callable[[int, int, bytes], bytes]] = None
_FIONREAD = 0
if sys.platform.startswith("linux"):  # where FIONREAD on a pipe's write end is known to work
    import fcntl
    import termios

    _ioctl = fcntl.ioctl
    _FIONREAD = termios.FIONREAD

# These names are module globals on purpose: a test plugin reaches `_PROTO_FD` through
# `sys.modules["aro_tui_harness"]` (see start.py) to write garbage onto the protocol stream.
_PROTO_FD = -1
_CANCEL_FD = -1
_cancel_waiting: Optional[Callable[[int], List[Any]]] = None
"""``poll`` on the cancel pipe: whether ids wait there, without a failing ``read`` (raising
BlockingIOError per pipelined call cost them ~15 % of their throughput)."""
_STATM_FD = -1  # /proc/self/statm, kept open when the host asked for --report-rss (Linux)
_STATUS_FD = -1  # /proc/self/status (its VmHWM), likewise
_CLEAR_REFS_FD = -1  # /proc/self/clear_refs: writing 5 resets VmHWM to the rss now
PEAK_READ_ACTION_NS = 1_000_000
"""Actions that ran at least this long get their peak resident memory read (VmHWM): the read
costs ~14 µs, and a shorter action can fault in only a few MiB more than it leaves."""
_PAGE_BYTES = 4096
_MARKER_FD = 2  # a private duplicate of the stderr pipe, for the begin/end markers
_end_marker_always = True  # whether the call being answered was pipelined
_previous_frame_clean = False  # whether the last frame went without an end marker ("c")
_current_id: Optional[int] = None  # the id of the call whose action is running, else None
_cancelled_ids: Set[int] = set()
_declared_actions: Set[str] = set()
_printed_bytes = 0  # written through sys.stdout since the request was read (UTF-8 bytes)
_stdout: Any = None  # the harness's sys.stdout for plugin code (a _CountingStdout)
_stderr: Any = None  # sys.stderr as the interpreter made it

_FRAME_HEADER = struct.Struct("<2sBBqqqqqqq")
_FRAME_MAGIC = b"AF"
# The host's protocol.HARNESS_STATUSES lists the same names in the same order.
_STATUS_CODES = {
    name: code
    for code, name in enumerate(
        ("ok", "raised", "unknown", "badtype", "cancelled", "ready", "import-error", "imported")
    )
}

MODULE_CANDIDATES = ("plugin.py", "{underscored}.py", "__init__.py", "main.py")
MAX_ERROR_REPR_CHARS = 2000
KEEP_MAX_BYTES = 8 << 20
_kept: Tuple[Any, ...] = ()  # the last call's buffers, see _keep


def _parse_args(argv: List[str]) -> Dict[str, Any]:
    """The harness's options as a dict (argparse is avoided to keep start-up lean)."""
    options: Dict[str, Any] = {
        "module": None,
        "source_dir": None,
        "plugin_name": "",
        "token": "aro-tui",
        "cancel_fd": -1,
        "parent_pid": 0,
        "module_name": None,
        "report_rss": False,
        "protocol": None,
    }
    keys = {
        "--protocol": "protocol",
        "--module": "module",
        "--source-dir": "source_dir",
        "--plugin-name": "plugin_name",
        "--token": "token",
        "--cancel-fd": "cancel_fd",
        "--parent-pid": "parent_pid",
        "--module-name": "module_name",
    }
    index = 0
    while index < len(argv):
        if argv[index] == "--report-rss":
            options["report_rss"] = True
            index += 1
            continue
        key = keys.get(argv[index])
        if key is None or index + 1 >= len(argv):
            raise SystemExit("harness: bad argument %r" % argv[index])
        value = argv[index + 1]
        options[key] = int(value) if key in ("cancel_fd", "parent_pid") else value
        index += 2
    return options


def _set_parent_death_signal(parent_pid: int) -> None:
    """Ask Linux to SIGKILL us when the host dies, even by SIGKILL (a backstop only)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except Exception:
        return
    if parent_pid and os.getppid() != parent_pid:
        os._exit(70)  # the host died before prctl took effect


class _CountingStdout(io.TextIOWrapper):
    """``sys.stdout`` for plugin code: writes go to stderr (fd 1 points there), and their size
    is reported in the next frame header."""

    def write(self, text: str) -> int:
        global _printed_bytes
        if isinstance(text, str):
            size = len(text) if text.isascii() else len(text.encode("utf-8", "backslashreplace"))
            _printed_bytes += size
        try:
            return super().write(text)
        except OSError:
            # The plugin closed fd 1: what could not be written waits in the buffer.
            if not _reopen_closed_fd(1):
                raise
            self.flush()
            return len(text)


def _take_stdio() -> BinaryIO:
    """Keep private copies of fds 0/1 for the protocol and of fd 2 for the markers; give the
    plugin /dev/null and stderr."""
    global _PROTO_FD, _MARKER_FD, _stdout, _stderr
    request_fd = os.dup(0)
    _PROTO_FD = os.dup(1)
    _MARKER_FD = os.dup(2)
    devnull_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull_fd, 0)
    os.close(devnull_fd)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull, "r")  # noqa: SIM115 - lives as long as the process
    sys.stdout = _open_stdio(1)
    sys.__stdout__ = sys.stdout  # type: ignore[misc]
    sys.__stdin__ = sys.stdin  # type: ignore[misc]
    _stdout = sys.stdout
    _stderr = sys.stderr
    return os.fdopen(request_fd, "rb", buffering=1 << 16)


def _open_stdio(fd: int) -> Any:
    """A line-buffered UTF-8 text stream on fd 1 (counted, see ``_CountingStdout``) or fd 2
    that never closes the fd."""
    stream_class = _CountingStdout if fd == 1 else io.TextIOWrapper
    stream = stream_class(
        io.BufferedWriter(io.FileIO(fd, "w", closefd=False)),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    stream.mode = "w"  # type: ignore[misc]  # io.open() sets it; some libraries read it
    return stream


def _repair_stdio() -> None:
    """Flush the plugin's streams when ``_write_frame``'s plain flush failed, putting back
    what the plugin broke so that its answer is still delivered; each repair is said on
    stderr.

    A plugin may set ``sys.stdout``/``sys.stderr`` to None or to an object that cannot flush
    (the harness's stream is put back), close the stream (a new one is opened on the same fd)
    or close fd 1 or 2 (pointed at the stderr pipe again).
    """
    global _stdout, _stderr
    _stdout = _repair_stream("stdout", 1, _stdout)
    _stderr = _repair_stream("stderr", 2, _stderr)


def _repair_stream(name: str, fd: int, own: Any) -> Any:
    """Make ``sys.<name>`` flushable again; the harness's stream for it, new if it was closed."""
    current: Any = getattr(sys, name, None)
    if current is not own:
        try:
            current.flush()  # a replacement that works is the plugin's choice: it stays
        except Exception as error:
            setattr(sys, name, own)
            _say_on_stderr(
                "the plugin set sys.%s to %s, which cannot flush (%s); it is the harness's "
                "stream again" % (name, _str_of(current, repr)[:200], type(error).__name__)
            )
    if own is None or own.closed:
        replacement = _open_stdio(fd)
        for attribute in (name, "__%s__" % name):
            if getattr(sys, attribute, None) is own:
                setattr(sys, attribute, replacement)
        _say_on_stderr("the plugin closed sys.%s; a new one is open on fd %d" % (name, fd))
        return replacement
    try:
        own.flush()
    except OSError as error:
        if not _reopen_closed_fd(fd):
            _say_on_stderr("sys.%s could not be flushed: %s" % (name, _error_text(error)))
            return own
        try:
            own.flush()
        except Exception as again:
            _say_on_stderr("sys.%s could not be flushed: %s" % (name, _error_text(again)))
    except Exception as error:
        _say_on_stderr("sys.%s could not be flushed: %s" % (name, _error_text(error)))
    return own


def _reopen_closed_fd(fd: int) -> bool:
    """Point `fd` (1 or 2) at the stderr pipe again if the plugin closed it; whether it had."""
    try:
        os.fstat(fd)
        return False
    except OSError:
        pass
    os.dup2(_MARKER_FD, fd)
    _say_on_stderr("the plugin closed fd %d; it points at the stderr pipe again" % fd)
    return True


def _say_on_stderr(text: str) -> None:
    """One line from the harness on the stderr pipe, among the current call's output."""
    os.write(_MARKER_FD, ("aro-tui harness: %s\n" % text).encode("utf-8", "backslashreplace"))


def _on_sigint(signum: int, frame: Optional[FrameType]) -> None:
    """Turn SIGINT into KeyboardInterrupt only inside the call the host asked to cancel."""
    _read_cancelled()
    if _current_id is not None and _current_id in _cancelled_ids:
        raise KeyboardInterrupt


def _read_cancelled() -> None:
    """Add the ids the host wrote on the cancel pipe to ``_cancelled_ids``."""
    if _CANCEL_FD < 0:
        return
    try:
        data = os.read(_CANCEL_FD, 65536)
    except OSError:  # nothing there (EAGAIN), or a plugin closed the fd
        return
    for word in data.split():
        if word.isdigit():
            _cancelled_ids.add(int(word))


RSS_REUSE_ACTION_NS = 20_000
RSS_REUSE_AGE_NS = 1_000_000
_rss_pages = -1  # the last statm reading, and when it was taken
_rss_read_ns = 0


def _resident_pages(now_ns: int, action_ns: int) -> int:
    """This process's resident pages (statm's second field), or -1.

    Why a reading is sometimes reused: reading ``/proc/self/statm`` is a system call that cost
    ~4 µs a call on a virtual machine where a no-op round trip took ~30 µs. Resident memory
    changes only as fast as pages are faulted in or unmapped (there, freeing a buffer released
    ~15 MiB per ms and filling one grew ~2 MiB per ms), so an action that ran under
    ``RSS_REUSE_ACTION_NS`` moved it by well under 1 MiB; its frame carries the previous
    reading if that is under ``RSS_REUSE_AGE_NS`` old. Every other frame (a longer action, the
    first call after a pause, anything that is not an action) reads it afresh. What the
    plugin's own threads change between calls shows at the latest 1 ms later.
    """
    global _rss_pages, _rss_read_ns
    if _STATM_FD < 0:
        return -1
    if 0 <= action_ns < RSS_REUSE_ACTION_NS and now_ns - _rss_read_ns < RSS_REUSE_AGE_NS:
        return _rss_pages
    try:
        pages = int(os.pread(_STATM_FD, 64, 0).split(None, 2)[1])
    except (OSError, IndexError, ValueError):
        pages = -1
    _rss_pages = pages
    _rss_read_ns = now_ns
    return pages


def _peak_pages(action_ns: int) -> int:
    """The highest resident pages since the peak was last reset (VmHWM, see
    ``_reset_peak_after``), or -1: not asked for, not Linux, or an action under
    ``PEAK_READ_ACTION_NS`` (the host then takes the larger of before and after)."""
    if action_ns < PEAK_READ_ACTION_NS or _STATUS_FD < 0:
        return -1
    try:
        status = os.pread(_STATUS_FD, 8192, 0)
        start = status.index(b"VmHWM:") + 6
        kib = int(status[start : status.index(b"kB", start)])
    except (OSError, ValueError):
        return -1
    return kib * 1024 // _PAGE_BYTES


_peak_base = -1  # the resident pages when the peak was last reset


def _reset_peak_after(peak: int, rss: int) -> None:
    """Start the next peak from the memory held now, written after the frame (off the round
    trip's critical path when host and plugin run on different cores).

    Only after a frame whose peak was read, or when memory fell below where the last reset
    left it: otherwise the peak since then is the memory held now, give or take what calls
    under ``PEAK_READ_ACTION_NS`` took for a moment (they can fault in a few MiB at most).
    Resetting after every frame cost 0.8 µs a call, 5 % of a no-op round trip on one core.
    """
    global _CLEAR_REFS_FD, _peak_base
    if peak < 0 and 0 <= _peak_base <= rss:
        return
    try:
        os.pwrite(_CLEAR_REFS_FD, b"5", 0)
    except OSError:  # refused (a sandbox): no peaks from now on
        _CLEAR_REFS_FD = -1
    _peak_base = rss


_NOTHING_UNREAD = b"\0\0\0\0"


def _stderr_unread() -> bool:
    """Whether the stderr pipe holds bytes the host has not read (True when unknown)."""
    if _ioctl is None:
        return True
    try:
        return _ioctl(_MARKER_FD, _FIONREAD, _NOTHING_UNREAD) != _NOTHING_UNREAD
    except OSError:  # not a pipe any more, or no FIONREAD here
        return True


def _write_frame(request_id: int, status: str, body: bytes, action_ns: int = -1) -> None:
    """End the call's stderr, then write one response frame on the protocol fd.

    The end marker is skipped only for a call sent alone when the host has read everything on
    stderr (see the module docstring); the start-up frame always gets one. With
    ``--report-rss`` the header carries this process's resident pages (a ``pread`` of an
    open ``/proc/self/statm``, or the last one, see ``_resident_pages``), so the host need not
    read them itself.
    """
    global _previous_frame_clean
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # the plugin replaced or closed a stream, or closed fd 1 or 2
        _repair_stdio()
    if request_id and not _end_marker_always and not _stderr_unread():
        end = 0
        _previous_frame_clean = True
    else:
        os.write(_MARKER_FD, _MARKER_PREFIX + b"end " + str(request_id).encode() + b"\n")
        end = 1
        _previous_frame_clean = False
    answered_ns = _monotonic_ns()
    rss = _resident_pages(answered_ns, action_ns)
    peak = _peak_pages(action_ns)
    header = _FRAME_HEADER.pack(
        _FRAME_MAGIC,
        _STATUS_CODES[status],
        end,
        len(body),
        request_id,
        action_ns,
        rss,
        _printed_bytes,
        answered_ns,
        peak,
    )
    if len(body) < 65536:
        written = os.writev(_PROTO_FD, (header, body))
        if written != len(header) + len(body):
            _write_all(memoryview(header + body)[written:])
    else:
        _write_all(memoryview(header))
        _write_all(memoryview(body))
    if _CLEAR_REFS_FD >= 0:
        _reset_peak_after(peak, rss)


def _write_start_progress(status: str) -> None:
    """A start-up frame saying how far the start got: no body, and no end marker (the
    start's stderr goes on until the ``ready`` frame)."""
    header = _FRAME_HEADER.pack(
        _FRAME_MAGIC, _STATUS_CODES[status], 0, 0, 0, -1, -1, _printed_bytes, _monotonic_ns(), -1
    )
    _write_all(memoryview(header))


def _write_all(view: memoryview) -> None:
    while view:
        view = view[os.write(_PROTO_FD, view) :]


def _json_bytes(value: Any) -> bytes:
    """Compact JSON text of `value` as UTF-8 bytes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr).encode(
        "utf-8", "backslashreplace"
    )


def _find_module_file(source_dir: str, plugin_name: str) -> Optional[str]:
    """The module file the ARO runtime would import from `source_dir`."""
    underscored = plugin_name.replace("-", "_")
    for pattern in MODULE_CANDIDATES:
        candidate = os.path.join(source_dir, pattern.format(underscored=underscored))
        if os.path.isfile(candidate):
            return candidate
    return None


def _import_plugin(module_path: str, source_dir: str, module_name: Optional[str]) -> ModuleType:
    """Import the plugin module from its file, with its source folder first on sys.path."""
    import importlib.util

    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path[0] = source_dir
    else:
        sys.path.insert(0, source_dir)
    if module_name is None:
        # As the runtime's `from <stem> import ...`: a top-level module named after the file,
        # also for __init__.py (whose relative imports then fail there as they do here).
        module_name = os.path.splitext(os.path.basename(module_path))[0]
    spec = importlib.util.spec_from_file_location(module_name, module_path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load %s" % module_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _doc_of(thing: Any) -> Optional[str]:
    """What ``inspect.getdoc(thing)`` returns, or None for None.

    Why not call it: importing ``inspect`` costs ~7 ms, a fifth of a plugin's start, and the
    harness starts with every plugin start and restart. Its own docstring is cleaned here as
    ``inspect.cleandoc`` does. Without one, ``inspect`` looks for an inherited docstring, which
    only a method can have: a module or a module-level function (no dot in its qualified name)
    has none, and anything else is handed to ``inspect``.
    """
    if thing is None:
        return None
    try:
        doc = thing.__doc__
    except AttributeError:
        return None
    if isinstance(doc, str):
        return _cleandoc(doc)
    if doc is not None or isinstance(thing, ModuleType):
        return None
    if isinstance(thing, FunctionType) and "." not in thing.__qualname__:
        return None
    import inspect

    return inspect.getdoc(thing)


def _cleandoc(doc: str) -> str:
    """``inspect.cleandoc``: the first line stripped, the common indentation of the others
    removed, and blank lines at both ends dropped."""
    lines = doc.expandtabs().split("\n")
    margins = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    lines[0] = lines[0].lstrip()
    if margins:
        margin = min(margins)
        lines[1:] = [line[margin:] for line in lines[1:]]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


def _describe(module: ModuleType, module_path: str) -> Dict[str, Any]:
    """The info document: what aro_plugin_info() declares and which functions exist."""
    info: Dict[str, Any] = {
        "module_file": module_path,
        "module_doc": _doc_of(module),
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
    }
    declared = []
    info_function = getattr(module, "aro_plugin_info", None)
    if info_function is None:
        info["info_error"] = "the module defines no aro_plugin_info()"
    else:
        try:
            plugin_info = info_function()
            info["plugin_info"] = json.loads(_json_bytes(plugin_info).decode("utf-8"))
            if isinstance(plugin_info, dict) and isinstance(plugin_info.get("actions"), list):
                declared = [_action_name(action) for action in plugin_info["actions"]]
            else:
                info["info_error"] = _info_shape_error(plugin_info)
        except BaseException as error:  # sys.exit() in it too: the plugin still loads
            info["info_error"] = "aro_plugin_info() raised " + _error_text(error)
    actions = []
    for name in declared:
        function_name = "aro_action_" + name.replace("-", "_")
        function = getattr(module, function_name, None)
        actions.append(
            {
                "name": name,
                "function": function_name,
                "defined": callable(function),
                "doc": _doc_of(function),
            }
        )
    declared_functions = {action["function"] for action in actions}
    undeclared = []
    for attribute in sorted(vars(module)):
        if attribute.startswith("aro_action_") and attribute not in declared_functions:
            function = getattr(module, attribute)
            if callable(function):
                undeclared.append(
                    {
                        "name": attribute[len("aro_action_") :],
                        "function": attribute,
                        "doc": _doc_of(function),
                    }
                )
    info["actions"] = actions
    _declared_actions.update(declared)
    info["undeclared"] = undeclared
    info["qualifiers"] = _describe_qualifiers(module, info.get("plugin_info"))
    return info


def _describe_qualifiers(module: ModuleType, plugin_info: Any) -> List[Dict[str, Any]]:
    """The qualifiers ``aro_plugin_info()`` lists, each as an action named
    ``qualifier:<name>`` that calls ``aro_plugin_qualifier(name, input_json)``."""
    listed = plugin_info.get("qualifiers") if isinstance(plugin_info, dict) else None
    if not isinstance(listed, list):
        return []
    function = getattr(module, "aro_plugin_qualifier", None)
    qualifiers = []
    seen: Set[str] = set()
    for entry in listed:
        name = _qualifier_name(entry)
        if name is None or name in seen:
            continue  # not a name ARO could register: 42, None, "", "a\nb"; or twice
        seen.add(name)
        _declared_qualifiers.add(name)
        description = entry.get("description") if isinstance(entry, dict) else None
        about = description if isinstance(description, str) else _doc_of(function)
        qualifiers.append(
            {
                "name": QUALIFIER_PREFIX + name,
                "function": "aro_plugin_qualifier",
                "defined": callable(function),
                "doc": (about + "\n\n" if about else "") + _QUALIFIER_DOC % name,
            }
        )
    return qualifiers


QUALIFIER_PREFIX = "qualifier:"
_QUALIFIER_DOC = """Called as aro_plugin_qualifier("%s", input_json), as ARO applies a qualifier.

Input:
    - value: The value the qualifier applies to
    - type: Its ARO type (default: "String")"""


_declared_qualifiers: Set[str] = set()


def _qualifier_name(entry: Any) -> Optional[str]:
    """A ``qualifiers`` entry's name (a string, or an object's ``name``), or None when it has
    none that a request could carry."""
    name = entry.get("name") if isinstance(entry, dict) else entry
    if not isinstance(name, str) or not name or any(c in name for c in "\n\r\x00"):
        return None
    return name


def _qualifier(module: ModuleType, name: str) -> Optional[Callable[[str], Any]]:
    """``aro_plugin_qualifier`` bound to qualifier ``name``, or None when the module defines
    none or ``aro_plugin_info()`` does not list that qualifier (ARO applies only those)."""
    function = getattr(module, "aro_plugin_qualifier", None)
    if not callable(function) or name not in _declared_qualifiers:
        return None
    return lambda text: function(name, text)


def _info_shape_error(plugin_info: Any) -> str:
    """Why ``plugin_info`` is not a dict with an actions list, naming what it is."""
    if not isinstance(plugin_info, dict):
        got = "None" if plugin_info is None else "a " + type(plugin_info).__name__
    elif "actions" not in plugin_info:
        got = "a dict without actions"
    else:
        got = "a dict whose actions is a " + type(plugin_info["actions"]).__name__
    return "aro_plugin_info() returned %s, not a dict with an actions list" % got


def _action_name(action: Any) -> str:
    """An entry of aro_plugin_info()'s actions: a name, or (as a manifest's) {"name": ...}."""
    if isinstance(action, dict) and isinstance(action.get("name"), str):
        return str(action["name"])
    return str(action)


def _call(module: ModuleType, request_id: int, action: str, body: bytes) -> None:
    """Run one action exactly as the chapter's main loop dispatches it; write its frame."""
    global _current_id
    function_name = "aro_action_" + action.replace("-", "_")
    function = getattr(module, function_name, None)
    if function is None and action.startswith(QUALIFIER_PREFIX):
        function = _qualifier(module, action[len(QUALIFIER_PREFIX) :])
        function_name = "aro_plugin_qualifier"
    if function is None:
        if function_name == "aro_plugin_qualifier":
            if action[len(QUALIFIER_PREFIX) :] not in _declared_qualifiers:
                detail = "aro_plugin_info() lists no such qualifier"
            else:
                detail = "the module defines no aro_plugin_qualifier()"
        elif action in _declared_actions:
            detail = "declared by aro_plugin_info() but the module defines no %s()" % function_name
        else:
            detail = "aro_plugin_info() does not list it, and the module defines no %s()" % (
                function_name
            )
        _write_frame(
            request_id,
            "unknown",
            _json_bytes({"error": "Unknown action: " + action, "detail": detail}),
        )
        return
    thread_count = _thread_count()
    child_count = len(getattr(sys.modules.get(_MP_PROCESS), "_children", ()))
    busy_pools = _busy_pools() if _pools else None
    started_ns = _perf_counter_ns()
    try:
        _current_id = request_id
        text = body.decode("utf-8", "surrogateescape")
        try:
            result = function(text)
        finally:
            if (
                _thread_count() != thread_count
                or child_count != len(getattr(sys.modules.get(_MP_PROCESS), "_children", ()))
                or (busy_pools is not None and not _busy_pools() <= busy_pools)
            ):
                _report_left_running(request_id, busy_pools or set())
        _current_id = None
    except KeyboardInterrupt as interrupt:
        _current_id = None
        action_ns = _perf_counter_ns() - started_ns
        if request_id in _cancelled_ids:
            module_name = _import_interrupted(interrupt)
            where = b"" if module_name is None else _json_bytes({"import": module_name})
            _write_frame(request_id, "cancelled", where, action_ns)
            return
        _write_frame(request_id, "raised", _exception_body(interrupt), action_ns)
        return
    except SystemExit:
        raise  # the plugin ends its process, as under the chapter's loop; the host reports it
    except BaseException as error:  # GeneratorExit and the plugin's own subclasses too
        _current_id = None
        action_ns = _perf_counter_ns() - started_ns
        _write_frame(request_id, "raised", _exception_body(error), action_ns)
        return
    action_ns = _perf_counter_ns() - started_ns
    if type(result) is not str and isinstance(result, str):
        # A str subclass (numpy.str_, markupsafe.Markup...): the chapter's loop prints it, so
        # its answer is what print() writes, str(result).
        try:
            result = str(result)
        except SystemExit:
            raise
        except BaseException as error:
            said = "Exception: <str() of the answer, a %s, failed: %s>" % (
                type(result).__name__,
                _error_text(error),
            )
            _write_frame(request_id, "raised", _exception_body(error, said), action_ns)
            return
    if type(result) is str:
        try:
            payload = result.encode("utf-8")
        except UnicodeEncodeError:
            payload = result.encode("utf-8", "surrogateescape")  # the host reports bad UTF-8
        _keep(body, text, result, payload)
        _write_frame(request_id, "ok", payload, action_ns)
    else:
        shown = _str_of(result, repr)
        if len(shown) > MAX_ERROR_REPR_CHARS:
            shown = shown[:MAX_ERROR_REPR_CHARS] + "..."
        details = _json_bytes({"type": type(result).__name__, "repr": shown})
        _write_frame(request_id, "badtype", details, action_ns)


_thread_count: Callable[[], int] = getattr(_thread, "_count", None) or (lambda: 0)
"""How many threads run besides the main one (``_thread._count``: a C call, far cheaper than
``threading.active_count()``, which takes a lock)."""
_MP_PROCESS = "multiprocessing.process"
"""Its ``_children``: the processes multiprocessing started and has not reaped yet."""
MAX_WORKERS_NAMED = 5
MAX_WORKER_NAME_CHARS = 200
_known_workers: Set[Any] = set()
"""The non-daemon threads and child processes running when they were last looked at (at
ready, and after each call that changed their count): not started by the calls after."""
_pools: List[Any] = []
"""Weak references to the ``ThreadPoolExecutor`` s whose workers have been seen: before and
after each call their state is compared, as a call can hand an idle pool work without starting
a thread."""


def _report_left_running(request_id: int, busy_before: Set[Any]) -> None:
    """Tell the host which non-daemon threads and multiprocessing children the action started
    and left running (a ``running`` marker on stderr, before the call's frame); a thread pool's
    workers count when the pool was idle before the call (``busy_before``) and is busy now.

    Why: the ARO runtime runs each call as ``python3 -c``, and Python joins non-daemon threads
    and non-daemon multiprocessing children at exit, so there the call would last until they
    end, and what they print would join the answer. An idle ``ThreadPoolExecutor`` 's workers
    are the exception: Python's exit hook stops them without waiting. Only called when the
    number of threads or children changed during the action, or a pool became busy, so a
    normal call pays two counts, not this.
    """
    global _known_workers
    try:
        running = _running_workers()
        started = [
            (kind, worker)
            for kind, worker, pool in running
            if (worker not in _known_workers if pool is None else pool not in busy_before)
        ]
        _known_workers = {worker for _, worker, pool in running if pool is None}
        if not started:
            return
        named = [_describe_worker(kind, worker) for kind, worker in started[:MAX_WORKERS_NAMED]]
        payload = _json_bytes({"workers": named, "count": len(started)})
    except Exception as error:  # a plugin's odd Thread subclass must not cost the answer
        _say_on_stderr("could not list the threads the call left running: %s" % _error_text(error))
        return
    os.write(_MARKER_FD, _MARKER_PREFIX + b"running %d %s\n" % (request_id, payload))


def _running_workers() -> List[Tuple[str, Any, Any]]:
    """The non-daemon threads (not the main one) and non-daemon multiprocessing children alive
    now, which Python waits for at exit, each with its thread pool when it is a busy pool's
    worker (else None): one worker stands for a busy pool, and an idle pool's are left out.
    Only modules the plugin imported are asked."""
    workers: List[Tuple[str, Any, Any]] = []
    threading = sys.modules.get("threading")
    if threading is not None:
        main_thread = threading.main_thread()
        for thread in threading.enumerate():
            if thread.daemon or thread is main_thread:
                continue
            pool = _pool_of(thread)
            if pool is None:
                workers.append(("thread", thread, None))
            elif _pool_busy(pool) and all(pool is not seen for _, _, seen in workers):
                workers.append(("thread", thread, pool))  # one per pool: which works is unknown
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is not None and sys.modules.get(_MP_PROCESS) is not None:
        for child in multiprocessing.active_children():
            if not child.daemon:
                workers.append(("process", child, None))
    return workers


def _pool_of(thread: Any) -> Any:
    """The ``concurrent.futures.ThreadPoolExecutor`` whose worker ``thread`` is, remembered in
    :data:`_pools`; None for any other thread, or when the pool's private state (Python 3.8 to
    3.14: ``_work_queue``, ``_idle_semaphore``, ``_threads``) is not as expected, so that the
    thread counts as a plain one and the note errs towards showing."""
    target = getattr(thread, "_target", None)
    if getattr(target, "__module__", None) != "concurrent.futures.thread":
        return None
    try:
        reference = thread._args[0]  # a weak reference to the executor
        pool = reference()
        _pool_busy(pool)
    except Exception:
        return None
    if not any(known() is pool for known in _pools):  # each worker has its own reference
        _pools.append(reference)
    return pool


def _pool_busy(pool: Any) -> bool:
    """Whether ``pool`` has work queued or a worker not idle (what Python's exit waits for)."""
    idle = pool._idle_semaphore._value
    return not (pool._work_queue.empty() and idle >= len(pool._threads))


def _busy_pools() -> Set[Any]:
    """The pools in :data:`_pools` that are busy now (any whose state cannot be read counts
    as busy, so it never looks newly busy); forgets the ones that are gone."""
    busy = set()
    for reference in list(_pools):
        pool = reference()
        if pool is None:
            _pools.remove(reference)
            continue
        try:
            if _pool_busy(pool):
                busy.add(pool)
        except Exception:
            busy.add(pool)
    return busy


def _describe_worker(kind: str, worker: Any) -> Dict[str, Any]:
    """A worker as the host names it: its kind, name and (a process's) pid."""
    described = {"kind": kind, "name": _str_of(worker.name)[:MAX_WORKER_NAME_CHARS]}
    if kind == "process":
        described["pid"] = worker.pid
    return described


def _import_interrupted(interrupt: BaseException) -> Optional[str]:
    """The module whose import the interrupt stopped part way, or None.

    Why it matters: a module cut off mid-import leaves its finished submodules behind (C
    extensions registered, torch's half-initialised), and every later import of it fails
    ("partially initialized module", "generic_type: ... already defined"); the host restarts
    the process. Python strips importlib's own frames from the traceback, but the module's
    top-level code runs in a ``<module>`` frame; the outermost is named, the import the action
    itself started.
    """
    tb = interrupt.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "<module>":
            name = frame.f_globals.get("__name__")
            return name if isinstance(name, str) else "?"
        tb = tb.tb_next
    return None


def _keep(body: bytes, text: str, result: str, payload: bytes) -> None:
    """Hold a call's request and answer until the next call has made its own, as the
    chapter's main loop does (its loop variables keep the last line and result).

    Why: freeing them at once left a free top of the heap above glibc's trim threshold after
    every large call, so the heap shrank and the next call faulted the same pages back in
    (1 MB echo calls: about 1,140 page faults a call more than the chapter's loop; now about
    375, from Python's small-object arenas, and each call ~5 % faster). Nothing is kept when
    request and answer together exceed ``KEEP_MAX_BYTES``, so that a large answer does not
    linger in the resident memory shown between calls. The previous call's buffers are let
    go here, before the frame's memory reading.
    """
    global _kept
    small = len(body) + len(payload) <= KEEP_MAX_BYTES
    _kept = (body, text, result, payload) if small else ()


_OWN_FILE = _keep.__code__.co_filename
"""This file as the interpreter names it in tracebacks (also when run from its bytecode)."""


def _exception_body(error: BaseException, said: Optional[str] = None) -> bytes:
    """The chapter's error text for an exception (or `said`), plus its traceback."""
    import traceback

    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename == _OWN_FILE:
        tb = tb.tb_next  # start at the plugin's code: the harness's frames are not its author's
    try:
        lines = "".join(traceback.format_exception(type(error), error, tb))
    except Exception as failure:
        lines = "<the traceback could not be formatted: %s>" % _error_text(failure)
    return _json_bytes(
        {
            "error": ("Exception: " + _str_of(error)) if said is None else said,
            "type": type(error).__name__,
            "traceback": lines,
        }
    )


def _str_of(value: Any, function: Callable[[Any], str] = str) -> str:
    """``str(value)`` (or ``repr``), or ``<str() of T failed: E: text>`` when it raises.

    Why: a plugin's class can make ``str()`` raise, and the harness must answer all the same.
    Any exception is text here, as in ``traceback``'s own fallback.
    """
    try:
        return function(value)
    except BaseException as error:
        try:
            detail = str(error)
        except BaseException:
            detail = ""
        name = type(error).__name__
        return "<%s() of %s failed: %s>" % (
            function.__name__,
            type(value).__name__,
            name + ": " + detail if detail else name,
        )


def _error_text(error: BaseException) -> str:
    """``Type: text`` for an exception, ``Type`` when its text is empty."""
    said = _str_of(error)
    return type(error).__name__ + (": " + said if said else "")


def serve(requests: BinaryIO, module: ModuleType, module_path: str) -> None:
    """Answer requests until stdin closes or the host sends `exit`."""
    global _end_marker_always, _printed_bytes
    while True:
        header = requests.readline()
        if not header:
            return
        try:
            kind, id_text, length_text, sent, action = header[:-1].decode("utf-8").split(" ", 4)
            request_id = int(id_text)
            length = int(length_text)
        except ValueError:
            os.write(_MARKER_FD, b"harness: malformed request header %r\n" % header[:200])
            os._exit(65)
        body = requests.read(length) if length else b""
        if len(body) != length:
            return
        _printed_bytes = 0  # what the plugin's threads printed between calls is not this call's
        _end_marker_always = sent == "p"
        if _end_marker_always and _previous_frame_clean:
            os.write(_MARKER_FD, _MARKER_PREFIX + b"begin " + id_text.encode() + b"\n")
        if kind == "call":
            if _end_marker_always and (_cancel_waiting is None or _cancel_waiting(0)):
                # Sent while others were in flight, so it may have been cancelled while it
                # waited: a plugin that installs its own SIGINT handler never lets ours read
                # the pipe (a stop then ran the queued calls). Calls sent alone never wait.
                _read_cancelled()
            if request_id in _cancelled_ids:
                _write_frame(request_id, "cancelled", b'{"skipped": true}')
            else:
                _call(module, request_id, action, body)
        elif kind == "info":
            _write_frame(request_id, "ok", _json_bytes(_describe(module, module_path)))
        elif kind == "ping":
            _write_frame(request_id, "ok", b"{}")
        elif kind == "exit":
            _write_frame(request_id, "ok", b"{}")
            return
        else:
            _write_frame(
                request_id, "unknown", _json_bytes({"error": "Unknown request kind: " + kind})
            )


_MARKER_PREFIX = b""

PROTOCOL = 2
"""The frame format's version, which the host passes (``--protocol``): the host's
``protocol.HARNESS_PROTOCOL``. Raise both when frames change."""
EXIT_OTHER_PROTOCOL = 4


def _enable_faulthandler() -> None:
    """Have a fatal signal (SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL) write every thread's
    Python stack on the stderr pipe before the process dies: without it a segfault in a C
    extension said only "killed by signal 11 (SIGSEGV)". It goes through the harness's own
    copy of fd 2, so it reaches the host as the call's last stderr lines even when the plugin
    pointed fd 2 elsewhere. ``faulthandler`` then calls the handler that was there before, and
    a handler the plugin installs later (a JVM's, its own ``faulthandler.enable()``) takes over
    as usual; calls pay nothing.
    """
    try:
        import faulthandler

        faulthandler.enable(_MARKER_FD, all_threads=True)
    except (ImportError, AttributeError, OSError, RuntimeError, ValueError):
        return  # no faulthandler here: a crash shows no stack, as before


def main(argv: List[str]) -> int | str | None:
    """Set up stdio and signals, import the plugin, report ready, then serve."""
    global _CANCEL_FD, _MARKER_PREFIX, _STATM_FD, _STATUS_FD, _CLEAR_REFS_FD, _PAGE_BYTES
    global _cancel_waiting
    options = _parse_args(argv)
    if options["protocol"] != str(PROTOCOL):
        # Its frames would not be read right: aro-tui, in memory, is older or newer than
        # the harness on disk (it was updated while it ran).
        sys.stderr.write(
            "aro-tui's harness on disk speaks protocol %d, the running aro-tui %s: aro-tui "
            "was updated while it ran; restart it\n" % (PROTOCOL, options["protocol"] or "1")
        )
        return EXIT_OTHER_PROTOCOL
    if options["report_rss"]:
        cloexec = getattr(os, "O_CLOEXEC", 0)
        try:
            _STATM_FD = os.open("/proc/self/statm", os.O_RDONLY | cloexec)
        except OSError:
            _STATM_FD = -1  # not Linux: the host reads the tree's memory itself
        try:
            _STATUS_FD = os.open("/proc/self/status", os.O_RDONLY | cloexec)
            _CLEAR_REFS_FD = os.open("/proc/self/clear_refs", os.O_WRONLY | cloexec)
            _PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):  # no peaks: the host takes the larger of before/after
            _STATUS_FD = _CLEAR_REFS_FD = -1
    _set_parent_death_signal(options["parent_pid"])
    _MARKER_PREFIX = ("\x1e%s " % options["token"]).encode("utf-8")
    _CANCEL_FD = options["cancel_fd"]
    if _CANCEL_FD >= 0:
        os.set_inheritable(_CANCEL_FD, False)
        os.set_blocking(_CANCEL_FD, False)
        try:
            import select

            poller = select.poll()
            poller.register(_CANCEL_FD, select.POLLIN)
            _cancel_waiting = poller.poll
        except (ImportError, AttributeError, OSError):  # no poll here: read every time
            _cancel_waiting = None
    signal.signal(signal.SIGINT, _on_sigint)
    requests = _take_stdio()
    _enable_faulthandler()
    module_path = options["module"]
    source_dir = options["source_dir"]
    if module_path is None and source_dir is not None:
        module_path = _find_module_file(source_dir, options["plugin_name"])
    if module_path is None:
        _write_frame(
            0,
            "import-error",
            _json_bytes(
                {
                    "error": "no plugin module found (plugin.py, <name>.py, __init__.py, main.py)",
                    "traceback": "",
                }
            ),
        )
        return 3
    module_path = os.path.abspath(module_path)
    if source_dir is None:
        source_dir = os.path.dirname(module_path)
    source_dir = os.path.abspath(source_dir)
    try:
        module = _import_plugin(module_path, source_dir, options["module_name"])
    except BaseException as error:  # SystemExit too: sys.exit() at import said no more
        _write_frame(0, "import-error", _json_bytes(_import_error_body(error, source_dir)))
        return error.code if isinstance(error, SystemExit) else 3
    _write_start_progress("imported")  # so a hang in aro_plugin_info() is told apart
    _write_frame(0, "ready", _json_bytes(_describe(module, module_path)))
    _known_workers.update(worker for _, worker, _ in _running_workers())  # not the calls'
    serve(requests, module, module_path)
    return 0


def _import_error_body(error: BaseException, source_dir: str) -> Dict[str, Any]:
    """The ``import-error`` frame's body: the error, its traceback from the plugin's own code,
    and whether it is an ``ImportError`` (which the ARO runtime swallows).

    A ``SystemExit`` (``sys.exit()`` at the module's top level) says where it was raised:
    without it the start failed as "exited during start (exited with code 0)".
    """
    import traceback

    tb = _plugin_traceback(error.__traceback__)
    try:
        lines = "".join(traceback.format_exception(type(error), error, tb))
    except Exception as failure:
        lines = "<the traceback could not be formatted: %s>" % _error_text(failure)
    said = _error_text(error)
    if isinstance(error, SystemExit):
        said += " (sys.exit() at import, %s)" % _raised_at(tb, source_dir)
    return {"error": said, "traceback": lines, "import_error": isinstance(error, ImportError)}


_IMPORT_MACHINERY = ("importlib._bootstrap", "importlib._bootstrap_external")


def _plugin_traceback(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """``tb`` from the first frame that is neither the harness's nor importlib's, or None when
    every frame is theirs (a ``SyntaxError`` in the module itself: its text then says only
    where in the plugin's file, with the caret)."""
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename != _OWN_FILE and (
            frame.f_globals.get("__name__") not in _IMPORT_MACHINERY
        ):
            return tb
        tb = tb.tb_next
    return None


def _raised_at(tb: Optional[TracebackType], source_dir: str) -> str:
    """Where the traceback ends in the plugin's own files (``src/plugin.py line 4``, relative
    to the source folder's parent); else its last frame, with the full path."""
    inside = outside = None
    prefix = os.path.join(source_dir, "")
    while tb is not None:
        place = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        if place[0].startswith(prefix):
            inside = place
        else:
            outside = place
        tb = tb.tb_next
    if inside is not None:
        return "%s line %d" % (os.path.relpath(inside[0], os.path.dirname(source_dir)), inside[1])
    if outside is not None:
        return "%s line %d" % outside
    return "no Python frame"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
