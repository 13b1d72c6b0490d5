"""The whole response, one page at a time, read lazily from the log's disk store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Footer, Static, TextArea

from aro_tui.core.user_files import replacing
from aro_tui.ui.formatting import (
    LINES_CUT_NOTE,
    cut_long_lines,
    fit_to_rows,
    format_size,
    preview_body,
)
from aro_tui.ui.screens.save import SaveDialog, SaveFailed
from aro_tui.ui.themes import follow_app_theme
from aro_tui.ui.widgets.documents import load_document

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
        Binding("ctrl+s", "save", "Save all of it", id="pager.save"),
    ]

    page: reactive[int] = reactive(0, init=False)
    """The page shown (from 0)."""

    def __init__(
        self, title: str, total_bytes: int, read_slice: ReadSlice, save_as: str = "page.txt"
    ) -> None:
        """``save_as``: the file name ctrl+s offers (in the current folder)."""
        super().__init__()
        self.title_text = title
        self.total_bytes = total_bytes
        self.read_slice = read_slice
        self.save_as = save_as
        self.page_count = max(1, -(-total_bytes // PAGE_BYTES))
        self._laid_out_width = 0
        """The line width the shown page was laid out for (a resize lays it out again)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="pager-panel"):
            yield Static(id="pager-title")
            yield TextArea("loading…", read_only=True, id="pager-text", soft_wrap=True)
        # Its own keys: without it the dashboard's footer showed through, offering keys
        # (r Rerun, ^r Run) that do nothing here.
        yield Footer()

    def on_mount(self) -> None:
        area = self.query_one("#pager-text", TextArea)
        follow_app_theme(area)
        area.focus()
        self.call_after_refresh(self.watch_page, 0)  # once the pane has its width

    def watch_page(self, page: int) -> None:
        area = self.query_one("#pager-text", TextArea)
        width = area.wrap_width
        if width and not area.show_vertical_scrollbar:  # a long page will have one
            width -= area.styles.scrollbar_size_vertical
        self._laid_out_width = area.wrap_width
        self._load(page, width if width > 0 else RAW_LINE_CHARS)

    def on_resize(self) -> None:
        """Lay the page out again for the new width (long lines are cut to the width)."""
        self.call_after_refresh(self._relayout)

    def _relayout(self) -> None:
        area = self.query_one("#pager-text", TextArea)
        if self._laid_out_width and area.wrap_width != self._laid_out_width:
            self.watch_page(self.page)

    def action_save(self) -> None:
        """Save the whole of what this shows, every page, to a file."""

        def saved(message: str | None) -> None:
            if message is not None:
                self.notify(message, markup=False)

        title = f"Save {format_size(self.total_bytes)} to"
        self.app.push_screen(SaveDialog(title, Path.cwd() / self.save_as, self._save), saved)

    def _save(self, path: Path) -> str:
        """Write every page to ``path`` (in the save dialog's thread)."""
        try:
            with replacing(path) as out:
                for offset in range(0, self.total_bytes, PAGE_BYTES):
                    out.write(self.read_slice(offset, PAGE_BYTES))
        except KeyError:
            raise SaveFailed("the exchange is no longer in the log") from None
        return f"Saved {self.total_bytes:,} bytes to {path}"

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
            ("  n/p: next/previous · ctrl+s: save · escape: close", "dim"),
        )
        self.query_one("#pager-title", Static).update(title)
