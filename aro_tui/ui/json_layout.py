"""JSON laid out for the panes: one member a line at the top, a small container on one line,
arrays of scalars (an embedding, token ids) packed several to a line.

:func:`layout_json` lays out a parsed value; :func:`lay_out_prefix` lays out the first part of
a body too large to parse (a 64 KiB preview of a 50 MB answer), a token at a time and to the
same rules, so both give the same lines where they overlap.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_right
from itertools import accumulate
from operator import add

import msgspec

from aro_tui.core.json_values import loads_exact

PACKED_LINE_CHARS = 60
"""How wide a laid-out JSON line grows (indent included) when the pane's width is not known:
the response pane's at 140 columns. A narrower pane wraps the line at a space."""


_CONTAINERS = (dict, list)
_NUMBERS = (int, float)


def layout_json(value: object, line_chars: int = PACKED_LINE_CHARS) -> str:
    """Lay out a parsed JSON document for a pane ``line_chars`` wide.

    The top level keeps one member a line; below it, an object or array whose one-line form
    fits the line stays on one line (``"shape": [2, 384]``, a ``{"label": …, "score": …}``
    record, a ``["the", 2]`` pair); an array of scalars too long for one line (an embedding,
    token ids, tokens) is packed several items to a line, as many as the width allows; other
    containers open one member a line. Indented one item a line, a 384-float embedding is 384
    lines and a list of pairs is four lines a pair. Runs in a worker thread: the work is a
    Python loop over the values with small C calls, so the UI gets the GIL every few ms.
    Raises ``RecursionError`` for nesting deeper than Python's recursion limit.
    """
    lines: list[str] = []
    if (type(value) is dict or type(value) is list) and value:
        _expanded(value, "", "", "", line_chars, lines)
    else:
        lines.append(_scalar_text(value))
    return "\n".join(lines)


def _scalar_text(value: object) -> str:
    return msgspec.json.encode(value).decode("utf-8")


def _lay_out(
    value: object, indent: str, prefix: str, suffix: str, width: int, lines: list[str]
) -> None:
    """Append ``value`` at ``indent`` after ``prefix`` (a key), followed by ``suffix``."""
    head = indent + prefix
    if type(value) is dict or type(value) is list:
        inline = _inline(value, width - len(head) - len(suffix))
        if inline is None:
            _expanded(value, indent, prefix, suffix, width, lines)
            return
        lines.append(head + inline + suffix)
        return
    lines.append(head + _scalar_text(value) + suffix)


def _expanded(
    value: dict[str, object] | list[object],
    indent: str,
    prefix: str,
    suffix: str,
    width: int,
    lines: list[str],
) -> None:
    inner = indent + "  "
    if isinstance(value, dict):
        lines.append(indent + prefix + "{")
        last = len(value) - 1
        for position, (key, item) in enumerate(value.items()):
            key_prefix = _scalar_text(key) + ": "
            _lay_out(item, inner, key_prefix, "," if position < last else "", width, lines)
        lines.append(indent + "}" + suffix)
        return
    lines.append(indent + prefix + "[")
    if all(type(item) not in _CONTAINERS for item in value):
        _pack(_scalar_texts(value), inner, width, lines)
    else:
        last = len(value) - 1
        for position, item in enumerate(value):
            _lay_out(item, inner, "", "," if position < last else "", width, lines)
    lines.append(indent + "]" + suffix)


def _scalar_texts(items: list[object]) -> list[str]:
    """Each scalar's JSON text; numbers in one C call (their text has no comma to split on)."""
    if all(type(item) in _NUMBERS for item in items):
        return msgspec.json.encode(items).decode("utf-8")[1:-1].split(",")
    return [_scalar_text(item) for item in items]


def _pack(texts: list[str], indent: str, width: int, lines: list[str]) -> None:
    """Fill lines of ``width`` with ``texts``, comma-separated (:class:`_Packer`)."""
    packer = _Packer(indent, width, lines)
    packer.add(texts)
    packer.finish()


class _Packer:
    """Fills lines ``width`` wide with comma-separated items, an item wider than the room left
    on a line of its own; items may come a few at a time (:func:`_lay_out_prefix`)."""

    def __init__(self, indent: str, width: int, lines: list[str]) -> None:
        self.indent = indent
        self.room = width + 1 - len(indent)  # the last item's space is not printed
        self.lines = lines
        self.line: list[str] = []
        self.used = 0

    def add(self, texts: list[str]) -> None:
        """Add ``texts``, a line at a time: where each line ends is found by bisecting their
        running width, so a long run costs its lines, not its items, in Python."""
        count = len(texts)
        # where each item's comma and the space after it end, counted from the first item
        ends = list(map(add, accumulate(map(len, texts)), range(2, 2 * count + 2, 2)))
        start = 0
        while start < count:
            line_began = (ends[start - 1] if start else 0) - self.used
            stop = bisect_right(ends, line_began + self.room, start)
            if stop == start and not self.line:  # wider than a line: one of its own
                stop = start + 1
            self.line.extend(texts[start:stop])
            if stop == count:
                self.used = ends[-1] - line_began
                return
            self.lines.append(self.indent + ", ".join(self.line) + ",")
            self.line = []
            self.used = 0
            start = stop

    def add_cut(self, text: str) -> None:
        """Add the item the text is cut in to the line being filled, however wide.

        Why: its whole text may be wider or narrower than the cut one, so only there does
        every line before it stay as the whole document's layout has it.
        """
        self.line.append(text)

    def finish(self, comma: str = "") -> None:
        if self.line:
            self.lines.append(self.indent + ", ".join(self.line) + comma)
            self.line = []


def _inline(value: object, room: int) -> str | None:
    """``value`` on one line (``{"a": 1, "b": [2, 3]}``) if that fits in ``room`` characters;
    an empty one always is.

    Gives up as soon as the text grows past ``room``, so a large container costs no more
    than the few items that fill a line.
    """
    if type(value) is dict:
        if not value:
            return "{}"
        if 6 * len(value) > room:  # each member needs at least `"":0` and ", "
            return None
        parts: list[str] = []
        used = 2
        for key, item in value.items():
            key_text = _scalar_text(key) + ": "
            separator = 2 if parts else 0
            item_text = _inline(item, room - used - separator - len(key_text))
            if item_text is None:
                return None
            parts.append(key_text + item_text)
            used += separator + len(key_text) + len(item_text)
        return "{" + ", ".join(parts) + "}" if used <= room else None
    if type(value) is list:
        if not value:
            return "[]"
        if 3 * len(value) > room:  # each item needs at least one character and ", "
            return None
        parts = []
        used = 2
        for item in value:
            separator = 2 if parts else 0
            item_text = _inline(item, room - used - separator)
            if item_text is None:
                return None
            parts.append(item_text)
            used += separator + len(item_text)
        return "[" + ", ".join(parts) + "]" if used <= room else None
    if type(value) is str and len(value) + 2 > room:
        return None  # before encoding: a 1 MB string must not be encoded to learn that
    text = _scalar_text(value)
    return text if len(text) <= room else None


_WHITESPACE = " \t\n\r"
_SPACE = re.compile(r"[ \t\n\r]*+")
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:(")|\\)?', re.DOTALL)
"""A string, its closing quote in group 1 unless the text ends first (after a ``\\``, say)."""
_BARE = re.compile(r'[^ \t\n\r\[\]{},:"]++')
_PLAIN_STRING = re.compile(r'"[^"\\\x00-\x1f]*+"')
"""A string written as msgspec writes it (it escapes only quotes, backslashes and controls)."""
_PLAIN_INT = re.compile(r"-?[1-9][0-9]*+|0")
_STRING_ITEM = r'"[^"\\\x00-\x1f]*+(?:\\.[^"\\\x00-\x1f]*+)*+"'
_STRING_RUN = re.compile(f"{_STRING_ITEM}(?:[ \t\n\r]*+,[ \t\n\r]*+{_STRING_ITEM})*+")
_STRING_ITEMS = re.compile(_STRING_ITEM)
_NUMBER_RUN = re.compile(r"-?[0-9][0-9.eE+-]*+(?:[ \t\n\r]*+,[ \t\n\r]*+-?[0-9][0-9.eE+-]*+)*+")
_SCALAR_ITEMS = re.compile(
    r'(?:[ \t\n\r,]++|"[^"\\]*+(?:\\.[^"\\]*+)*+"?|[^ \t\n\r\[\]{},"]++)*+', re.DOTALL
)
"""Scalars and commas, up to the first bracket: whether an array is packed."""
_NO_BRACKETS = re.compile(r'(?:[^"\[\]{}]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
_FLAT_ITEM = f"[\\[{{]{_NO_BRACKETS.pattern}[\\]}}]"
_FLAT_RUN = re.compile(f"{_FLAT_ITEM}(?:[ \\t\\n\\r]*+,[ \\t\\n\\r]*+{_FLAT_ITEM})*+", re.DOTALL)
"""Containers that hold no others (records, pairs), comma-separated."""
_RUN_CHARS = 64 * 1024
"""How much of an array of scalars is laid out at a time (its texts are a list meanwhile)."""
_ESCAPED_CHARS = 12
"""The most characters a JSON string spends on one of its own (``\\ud83d\\ude00``)."""


class _Open:
    """A container :func:`_lay_out_prefix` is inside: where its lines start, what is pending."""

    __slots__ = ("comma_last", "indent", "inner", "is_object", "key", "packer", "wants_key")

    def __init__(self, indent: str, is_object: bool) -> None:
        self.indent = indent
        self.inner = indent + "  "
        self.is_object = is_object
        self.wants_key = is_object
        self.key = ""
        """The member's ``"key": `` while its value has not come."""
        self.packer: _Packer | None = None
        """Set for an array of scalars alone: its items are packed."""
        self.comma_last = False


def lay_out_prefix(raw: str, width: int) -> str:
    """Lay out JSON text that may be cut anywhere as :func:`layout_json` lays out the document,
    token by token, never parsing it whole.

    Why: a body too large to parse is previewed from its first bytes, and an embedding there
    was one number a line. Each line comes out as the whole document's layout has it, but the
    last, and for one thing the text cannot tell: an array still open where the text ends is
    packed when its items so far are all scalars, though a container may follow them.
    """
    lines: list[str] = []
    stack: list[_Open] = []
    end = len(raw)
    pos = 0
    while pos < end:
        char = raw[pos]
        open_ = stack[-1] if stack else None
        if char in _WHITESPACE:
            pos = _end_of(_SPACE, raw, pos)
        elif char in "[{":
            if open_ is not None and not open_.is_object and open_.packer is None:
                flat_end = _lay_out_flat_items(raw, pos, open_.inner, width, lines)
                if flat_end > pos:
                    pos = flat_end
                    continue
            if open_ is not None and open_.packer is not None:  # after text that is not JSON
                open_.packer.finish("," if open_.comma_last else "")
                open_.packer = None
            head = (open_.inner + open_.key) if open_ is not None else ""
            after = _space_end(raw, pos + 1)
            if after < end and raw[after] in "]}":  # empty: one line at any width
                pos = _taken(lines, open_, head + char + raw[after], after + 1)
                continue
            if open_ is not None:
                one_line, closed_at = _one_line(raw, pos, width - len(head))
                if one_line is not None:
                    pos = _taken(lines, open_, head + one_line, closed_at)
                    continue
            lines.append(head + char)
            inner = _Open(open_.inner if open_ is not None else "", char == "{")
            if open_ is not None:
                open_.key = ""
            if char == "[":
                scalars_end = _end_of(_SCALAR_ITEMS, raw, pos + 1)
                if scalars_end == end or raw[scalars_end] not in "[{":
                    inner.packer = _Packer(inner.inner, width, lines)
            stack.append(inner)
            pos += 1
        elif char in "]}":
            if open_ is None:
                lines.append(char)  # not JSON: shown all the same
            else:
                _finish(stack.pop(), lines)
                lines.append(open_.indent + char)
            pos += 1
        elif char == ",":
            if open_ is not None and open_.packer is not None:
                open_.comma_last = True
            else:
                if open_ is not None and open_.key:
                    _finish(open_, lines)
                if lines:
                    lines[-1] += ","
                else:
                    lines.append(",")
                if open_ is not None:
                    open_.wants_key = open_.is_object
            pos += 1
        elif char == ":" and open_ is not None and open_.is_object:
            pos += 1  # the key's ": " stands for it
        elif open_ is not None and open_.packer is not None:
            open_.comma_last = False
            pos = _pack_scalars(raw, pos, open_.packer)
        else:
            text, pos, whole = _scalar_at(raw, pos)
            if open_ is not None and open_.wants_key:
                open_.key = text + ": " if whole else text
                open_.wants_key = False
            else:
                _taken(lines, open_, (open_.inner + open_.key if open_ else "") + text, pos)
    for open_ in reversed(stack):
        _finish(open_, lines)
    return "\n".join(lines)


def _space_end(raw: str, pos: int) -> int:
    """Where the whitespace at ``pos``, if any, ends."""
    if pos < len(raw) and raw[pos] in _WHITESPACE:
        return _end_of(_SPACE, raw, pos)
    return pos


def _end_of(pattern: re.Pattern[str], raw: str, pos: int, endpos: int = sys.maxsize) -> int:
    """Where ``pattern``, which matches at worst nothing, ends when matched at ``pos``."""
    match = pattern.match(raw, pos, endpos)
    return match.end() if match is not None else pos


def _taken(lines: list[str], open_: _Open | None, line: str, after: int) -> int:
    """Add a member's ``line`` (its key used) and return ``after``."""
    lines.append(line)
    if open_ is not None:
        open_.key = ""
    return after


def _finish(open_: _Open, lines: list[str]) -> None:
    """Add what ``open_`` holds back: packed items still short of a line, a key alone."""
    if open_.packer is not None:
        open_.packer.finish("," if open_.comma_last else "")
    if open_.key:
        lines.append((open_.inner + open_.key).rstrip())
        open_.key = ""


def _pack_scalars(raw: str, pos: int, packer: _Packer) -> int:
    """Pack the scalars at ``pos``, as many as one match takes (a run of numbers is read and
    written again in two C calls), and return where they end."""
    window = min(len(raw), pos + _RUN_CHARS)
    if raw[pos] == '"':
        run = _STRING_RUN.match(raw, pos, window)
        if run is not None:
            texts = _STRING_ITEMS.findall(run.group())
            if "\\" in run.group():
                texts = [_normal_scalar(text) if "\\" in text else text for text in texts]
            packer.add(texts)
            return run.end()
    elif raw[pos] in "-0123456789":
        run = _NUMBER_RUN.match(raw, pos, window)
        if run is not None:
            stop = run.end()
            if stop == window:  # the last number may go on past the window
                stop = raw.rfind(",", pos, stop)
            if stop > pos:
                packer.add(_normal_numbers(raw[pos:stop]))
                return stop
    text, pos, whole = _scalar_at(raw, pos)
    if whole:
        packer.add([text])
    else:
        packer.add_cut(text)
    return pos


def _lay_out_flat_items(raw: str, pos: int, indent: str, width: int, lines: list[str]) -> int:
    """Lay out the array items at ``pos`` that hold no containers (records, pairs) as
    :func:`layout_json` does, read in one C call, and return where they end (``pos`` when
    there are none)."""
    run = _FLAT_RUN.match(raw, pos, min(len(raw), pos + _RUN_CHARS))
    if run is None:
        return pos
    try:
        items = loads_exact("[" + run.group() + "]")
    except ValueError:  # not JSON: each token as it comes
        return pos
    after = _space_end(raw, run.end())
    comma_follows = after < len(raw) and raw[after] == ","
    last = len(items) - 1
    for index, item in enumerate(items):
        _lay_out(item, indent, "", "," if index < last or comma_follows else "", width, lines)
    return after + 1 if comma_follows else run.end()


def _scalar_at(raw: str, pos: int) -> tuple[str, int, bool]:
    """The scalar at ``pos`` as :func:`layout_json` writes it, where it ends, and whether it
    is whole (a cut one is shown as it is)."""
    if raw[pos] == '"':
        match = _STRING.match(raw, pos)
        whole = match is not None and match.group(1) is not None
    else:
        match = _BARE.match(raw, pos)
        whole = match is not None and match.end() < len(raw)
    if match is None:  # a ':' where no key is
        return raw[pos], pos + 1, True
    return (_normal_scalar(match.group()) if whole else match.group()), match.end(), whole


def _normal_scalar(token: str) -> str:
    """``token``'s value as :func:`layout_json` writes it (``1E5`` as ``100000.0``,
    ``"\\u00e9"`` as ``"é"``); as it is when it is no JSON value."""
    if _PLAIN_STRING.fullmatch(token) or _PLAIN_INT.fullmatch(token) or token in _LITERALS:
        return token
    try:
        return _scalar_text(loads_exact(token))
    except ValueError:
        return token


_LITERALS = frozenset({"true", "false", "null"})


def _normal_numbers(run: str) -> list[str]:
    """The numbers in ``run`` (``1, 2.5E3``) as :func:`layout_json` writes them."""
    try:
        values = loads_exact("[" + run + "]")
    except ValueError:
        return [_normal_scalar(item.strip(" \t\n\r")) for item in run.split(",")]
    return msgspec.json.encode(values).decode("utf-8")[1:-1].split(",")


def _one_line(raw: str, start: int, room: int) -> tuple[str | None, int]:
    """The container opening at ``start`` on one line, if that fits in ``room`` characters
    (:func:`_inline`), and where it ends; the text so far when ``raw`` ends inside it.

    Reads no further than the room allows, so a long array costs the few items that fill a
    line, and a long string no more than could fit.
    """
    end = len(raw)
    closed_at = _closed_at(raw, start, min(end, start + _ESCAPED_CHARS * max(room, 0) + 256))
    if closed_at is not None:  # read it and write it as the whole layout does
        after = _space_end(raw, closed_at)
        suffix_chars = 1 if after < end and raw[after] == "," else 0
        try:
            return _inline(loads_exact(raw[start:closed_at]), room - suffix_chars), closed_at
        except ValueError:  # not JSON: each token as it comes
            pass
    parts: list[str] = []
    used = depth = 0
    pos = start
    while pos < end:
        char = raw[pos]
        if char in "[{]},:":
            depth += 1 if char in "[{" else -1 if char in "]}" else 0
            text = char + " " if char in ",:" else char
            pos += 1
        else:
            if char == '"':  # a string whose text is past this cannot fit
                window = pos + _ESCAPED_CHARS * max(room - used, 0) + 3
                if window < end:
                    bounded = _STRING.match(raw, pos, window)
                    if bounded is None or bounded.group(1) is None:
                        return None, pos
            text, pos, whole = _scalar_at(raw, pos)
            if not whole:
                parts.append(text)
                break
        used += len(text)
        if used > room:
            return None, pos
        parts.append(text)
        if depth == 0:
            after = _space_end(raw, pos)
            if after < end and raw[after] == "," and used > room - 1:
                return None, pos
            return "".join(parts), pos
        pos = _space_end(raw, pos)
    return "".join(parts), end


def _closed_at(raw: str, start: int, window: int) -> int | None:
    """Where the container opening at ``start`` closes, if it does before ``window``."""
    depth = 0
    pos = start
    while pos < window:
        char = raw[pos]
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return pos + 1
        else:  # a string cut by the window
            return None
        pos = _end_of(_NO_BRACKETS, raw, pos + 1, window)
    return None
