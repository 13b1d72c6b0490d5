"""What the main screen does with an exchange's bodies: copy, save, export, view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aro_tui.core.exchange_log import LogEntry
from aro_tui.core.sanitize import sanitize_line
from aro_tui.core.user_files import replacing
from aro_tui.ui.screens.main_actions import ExchangeActions, response_file_name
from aro_tui.ui.screens.pager import PagerScreen
from aro_tui.ui.screens.save import SaveDialog, SaveFailed
from aro_tui.ui.widgets.response.exchange_view import ResponsePane
from aro_tui.ui.widgets.sidebar.action_list import DocText

MAX_COPY_BYTES = 1024 * 1024


class ExchangeOutput(ExchangeActions):
    """Copy (OSC 52), save, export and page the selected exchange's request and response."""

    def _selected(self) -> tuple[int, LogEntry] | None:
        """The selected exchange's number and row; else None, after saying so."""
        number = self.shown_number
        entry = None if number is None else self.aro.exchange_log.get(number)
        if entry is None or number is None:
            self.say("Select an exchange first.", "warning")
            return None
        return number, entry

    def _with_response(self, doing: str) -> tuple[int, LogEntry] | None:
        """The selected exchange's number and row when it has a response; else None, after
        saying why (a cancelled or crashed call has none: "Copied 0 bytes" emptied the
        clipboard, and the pager opened on nothing). In the response pane while a call runs,
        the pane shows that call, which has no response yet: c copied the response of the
        exchange under the log's cursor, another plugin's perhaps."""
        focused = self.focused
        pane = self.query_one(ResponsePane)
        if self.live_exchange is not None and focused is not None and pane in focused.ancestors:
            self.say(f"The call is still running: no response to {doing} yet.", "warning")
            return None
        selected = self._selected()
        if selected is None:
            return None
        number, entry = selected
        log = self.aro.exchange_log
        if log.response_head(number, 1) is None:  # no whole 50 MB read
            lost = (log.details(number).get("lost_bodies") or {}).get("response")
            why = f"the recording lost it ({lost})" if lost else f"it ended {entry.status}"
            self.say(f"#{number} has no response to {doing}: {why}.", "warning")
            return None
        return number, entry

    def action_copy_response(self) -> None:
        """Copy the selected response to the clipboard (OSC 52)."""
        selected = self._with_response("copy")
        if selected is None:
            return
        number, entry = selected
        if entry.response_size_bytes > MAX_COPY_BYTES:
            self.say("The response is too large to copy; save it instead (ctrl+s).", "warning")
            return
        response = self.aro.exchange_log.response_bytes(number) or b""
        self.app.copy_to_clipboard(response.decode("utf-8", "replace"))
        self.say(f"Copied the response of #{number} ({len(response)} bytes).")

    def action_save_response(self) -> None:
        """Save the selected response to a file (asks where)."""
        selected = self._with_response("save")
        if selected is None:
            return
        number, entry = selected
        default = Path.cwd() / response_file_name(number, entry.action)
        dialog = SaveDialog(
            f"Save the response of #{number} to",
            default,
            lambda path: self._write_file(path, number, export=False),
        )
        self.app.push_screen(dialog, self.say_saved)

    def action_export(self) -> None:
        """Save the selected exchange (request, response, status, stderr) as JSON."""
        selected = self._selected()
        if selected is None:
            return
        number = selected[0]
        default = Path.cwd() / f"exchange-{number}.json"
        dialog = SaveDialog(
            f"Export exchange #{number} to",
            default,
            lambda path: self._write_file(path, number, export=True),
        )
        self.app.push_screen(dialog, self.say_saved)

    def say_saved(self, message: str | None) -> None:
        """What a save dialog's writer said, unless the dialog was cancelled."""
        if message is not None:
            self.say(message)

    def _write_file(self, path: Path, number: int, export: bool) -> str:
        """Write exchange ``number``'s response (or its export) to ``path`` (in the save
        dialog's thread)."""
        try:
            if export:
                data = self.export_document(number)
            else:
                data = self.aro.exchange_log.response_bytes(number) or b""
        except KeyError:
            raise SaveFailed(f"exchange #{number} is no longer in the log") from None
        with replacing(path) as handle:
            handle.write(data)
        return f"Saved {len(data)} bytes to {path}"

    def export_document(self, number: int) -> bytes:
        """Exchange ``number`` as export JSON (defined by the sessions part)."""
        raise NotImplementedError

    def _shown_request(self) -> tuple[str, int, Callable[[int, int], bytes], str] | None:
        """The request the request pane shows: the running call's while one runs, else the
        selected exchange's (None, after saying so): (title, size, a reader of its bytes,
        the file name a save offers)."""
        live = self.live_exchange
        if live is not None:
            body = live.request_bytes

            def read_live(offset: int, length: int) -> bytes:
                return body[offset : offset + length]

            action = sanitize_line(live.action)
            return f"Request · {action} (running)", len(body), read_live, f"request-{action}.json"
        selected = self._selected()
        if selected is None:
            return None
        number, entry = selected
        log = self.aro.exchange_log

        def read_logged(offset: int, length: int) -> bytes:
            return log.request_slice(number, offset, length)

        action = sanitize_line(entry.action)
        name = f"request-{number}-{action}.json"
        return f"Request #{number} · {action}", entry.request_size_bytes, read_logged, name

    def action_copy_request(self) -> None:
        """Copy the request the request pane shows to the clipboard (OSC 52)."""
        shown = self._shown_request()
        if shown is None:
            return
        title, size, read, _ = shown
        if size > MAX_COPY_BYTES:
            self.say("The request is too large to copy; export the exchange (ctrl+o).", "warning")
            return
        self.app.copy_to_clipboard(read(0, size).decode("utf-8", "replace"))
        self.say(f"Copied {title} ({size} bytes).")

    def action_view_request(self) -> None:
        """Open the request the request pane shows in a pager."""
        shown = self._shown_request()
        if shown is not None:
            title, size, read, name = shown
            self.app.push_screen(PagerScreen(title, size, read, save_as=name))

    def action_show_docs(self) -> None:
        """Open what the docs panel shows (the highlighted action's docstring, and why the
        plugin cannot run or crashed) in a pager: below 36 rows the panel is hidden."""
        entry = self.aro.registry.get(self.current_plugin)
        whole = None if entry is None else dict(entry.actions()).get(self.current_action or "")
        # The whole docstring: the panel cuts a long one, and a pager is where to read it.
        text = self.query_one("#action-doc-text", DocText).plain_text(whole).encode()
        action = self.current_action or "no action"
        title = f"Docs · {sanitize_line(self.current_plugin or '')} · {sanitize_line(action)}"

        def read_slice(offset: int, length: int) -> bytes:
            return text[offset : offset + length]

        name = f"docs-{sanitize_line(action)}.txt"
        self.app.push_screen(PagerScreen(title, len(text), read_slice, save_as=name))

    def action_view_all(self) -> None:
        """Open the whole selected response in a pager."""
        selected = self._with_response("view")
        if selected is None:
            return
        number, entry = selected
        log = self.aro.exchange_log

        def read_slice(offset: int, length: int) -> bytes:
            return log.response_slice(number, offset, length)

        title = f"Response #{number} · {sanitize_line(entry.action)}"
        size, name = entry.response_size_bytes, response_file_name(number, entry.action)
        self.app.push_screen(PagerScreen(title, size, read_slice, save_as=name))
