"""The whole response, one page at a time, read lazily from the log's disk store."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from aro_tui.ui.formatting import (
    LINES_CUT_NOTE,
    cut_long_lines,
    fit_to_rows,
    format_size,
    preview_body,
)
from aro_tui.ui.widgets.response.exchange_view import load_document

PAGE_BYTES = 256 * 1024
LAID_OUT_PAGE_CHARS = 4 * PAGE_BYTES
"""How long the laid-out text of a one-page body may grow: indentation makes a body longer
(quadratically when it nests deep), and "view all" should not cut an ordinary one."""

RAW_LINE_CHARS = 1000
"""Where a raw page's long lines are cut before the pane has a width (it normally has)."""

ReadSlice = Callable[[int, int], bytes]
"""(offset, length) → bytes of the response."""


class PagerScreen(ModalScreen[None]):
    """Pages of ``PAGE_BYTES``: pretty-printed whole when small, raw pages when large."""

    CSS_PATH = "pager.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="pager.close"),
        Binding("n,right", "page(1)", "Next page", id="pager.next"),
        Binding("p,left", "page(-1)", "Previous page", id="pager.previous"),
    ]

    page: reactive[int] = reactive(0, init=False)
    """The page shown (from 0)."""

    def __init__(self, title: str, total_bytes: int, read_slice: ReadSlice) -> None:
        super().__init__()
        self.title_text = title
        self.total_bytes = total_bytes
        self.read_slice = read_slice
        self.page_count = max(1, -(-total_bytes // PAGE_BYTES))

    def compose(self) -> ComposeResult:
        with Vertical(id="pager-panel"):
            yield Static(id="pager-title")
            yield TextArea("loading…", read_only=True, id="pager-text", soft_wrap=True)

    def on_mount(self) -> None:
        self.query_one("#pager-text", TextArea).focus()
        self.call_after_refresh(self.watch_page, 0)  # once the pane has its width

    def watch_page(self, page: int) -> None:
        area = self.query_one("#pager-text", TextArea)
        width = area.wrap_width
        if width and not area.show_vertical_scrollbar:  # a long page will have one
            width -= area.styles.scrollbar_size_vertical
        self._load(page, width if width > 0 else RAW_LINE_CHARS)

    def action_page(self, delta: int) -> None:
        """Move ``delta`` pages."""
        self.page = min(max(self.page + delta, 0), self.page_count - 1)

    @work(thread=True, exclusive=True, group="pager")
    def _load(self, page: int, line_chars: int) -> None:
        offset = page * PAGE_BYTES
        data = self.read_slice(offset, PAGE_BYTES)
        cut = ""
        if self.page_count == 1:
            preview = preview_body(data, self.total_bytes, LAID_OUT_PAGE_CHARS)
            if preview.truncated:
                cut = f" · showing {preview.lines_shown:,} of {preview.lines_total:,} lines"
            preview = fit_to_rows(preview, line_chars)
            text, is_json = preview.text, preview.is_json
            if preview.lines_cut:
                cut += f" · {LINES_CUT_NOTE}"
        else:
            from aro_tui.core.sanitize import sanitize

            text = cut_long_lines(sanitize(data.decode("utf-8", "replace")), line_chars)
            is_json = False
        self.app.call_from_thread(self._show, page, text, is_json, cut)

    def _show(self, page: int, text: str, is_json: bool, cut: str) -> None:
        load_document(self.query_one("#pager-text", TextArea), text, "json" if is_json else None)
        title = Text.assemble(
            (self.title_text, "bold"),
            f"  {format_size(self.total_bytes)} · page {page + 1} of {self.page_count}{cut}",
            ("  n/p: next/previous · escape: close", "dim"),
        )
        self.query_one("#pager-title", Static).update(title)
