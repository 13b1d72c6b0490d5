"""The main screen's sessions: recording, a reopened recording, replay and diff, export, copy."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import orjson
from textual import work
from textual.worker import get_current_worker

from aro_tui.core.exchange_log import LogEntry
from aro_tui.core.host.exchange import Exchange
from aro_tui.core.sanitize import sanitize_line, shorten
from aro_tui.core.session.export import (
    ExportDetails,
    call_command_line,
    exchange_to_json,
    write_log_json,
)
from aro_tui.core.session.reader import Session, SessionReadError, read_session
from aro_tui.core.session.store import being_recorded
from aro_tui.core.telemetry.buffers import ExchangeSpan, SampleBuffer
from aro_tui.core.telemetry.cache_records import cache_event_from_json, cache_event_to_json
from aro_tui.core.telemetry.exchange_memory import ExchangeMemory, exchange_memory
from aro_tui.core.telemetry.model_cache import CacheEvent, ModelCacheTracker
from aro_tui.core.telemetry.samples import TelemetrySample
from aro_tui.core.user_files import replacing
from aro_tui.ui.comparison import (
    Comparison,
    compare_logged,
    exchange_from_log,
    missing,
    skipped,
)
from aro_tui.ui.screens.diff import DiffScreen
from aro_tui.ui.screens.main_telemetry import TelemetryWiring
from aro_tui.ui.screens.save import SaveDialog, SaveFailed
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable

MAX_LOG_NUMBERS = 20_000
MAX_WINDOW_S = 3600.0
SAME_EXCHANGE_S = 0.001
"""A cache event is an exchange's when it names its id and is stamped with its end."""


RECORDING_CHUNK_BYTES = 64 << 20
"""Bodies read from a recording before the log has written them to disk: read whole, a
600 MB recording took the dashboard to 686 MB resident while it opened."""


@dataclass
class LoadedRecording:
    """A recording's session and telemetry, read in a worker; the exchanges' bodies are read
    later, a chunk at a time (:func:`recorded_exchanges`)."""

    session: Session
    samples: list[TelemetrySample]
    cache_events: list[CacheEvent]
    warnings: list[str] = field(default_factory=list)


@dataclass
class RecordedChunk:
    """Exchanges of a recording with their bodies, ready for the log."""

    exchanges: list[Exchange]
    internal: list[bool]
    """Per exchange: issued by aro-tui itself (a model-cache query)."""
    warnings: list[str]
    memory: list[ExchangeMemory | None] = field(default_factory=list)
    """Per exchange: its memory before / peak / after from the recorded samples, as the live
    log showed it (None for aro-tui's own queries, which the live log doesn't measure)."""
    lost: list[dict[str, str]] = field(default_factory=list)
    """Per exchange: its bodies that could not be read back, with why (usually none)."""
    numbers: list[int] = field(default_factory=list)
    """Per exchange: its number in the recording (``replay --exchange N``), which the log
    keeps, gaps and all."""


def load_recording(path: Path) -> LoadedRecording:
    """Read ``path`` (blocking) and decode its telemetry; damage becomes warnings."""
    session = read_session(path)
    samples: list[TelemetrySample] = []
    for data in session.samples:
        try:
            samples.append(TelemetrySample.from_json(data))
        except (KeyError, TypeError, ValueError):
            continue
    cache_events: list[CacheEvent] = []
    for data in session.cache_events:
        try:
            cache_events.append(cache_event_from_json(data))
        except (KeyError, TypeError, ValueError):
            continue
    return LoadedRecording(session, samples, cache_events, list(session.warnings))


def recorded_exchanges(
    session: Session,
    chunk_bytes: int = RECORDING_CHUNK_BYTES,
    samples: Sequence[TelemetrySample] = (),
) -> Iterator[RecordedChunk]:
    """``session``'s exchanges in order with their bodies read (blocking), in chunks whose
    bodies add up to about ``chunk_bytes`` (one exchange at least), each measured against
    ``samples``; a lost side file becomes a warning and an exchange without bodies."""
    # Every sample, not the panel's last hour: a long recording's early calls need theirs.
    timeline = SampleBuffer(max_age_s=math.inf, max_items=max(1, len(samples)))
    for sample in samples:
        timeline.append(sample)
    chunk = RecordedChunk([], [], [])
    size = 0
    for recorded in session.exchanges:
        # Only what is lost goes: the record's other body, timings and stderr stay.
        exchange, lost = recorded.salvage()
        internal = session.is_internal(recorded)
        chunk.exchanges.append(exchange)
        chunk.internal.append(internal)
        chunk.lost.append(lost)
        chunk.numbers.append(recorded.number)
        chunk.memory.append(None if internal else exchange_memory(timeline, exchange))
        size += exchange.request_size_bytes + exchange.response_size_bytes
        if size >= chunk_bytes:
            yield chunk
            chunk, size = RecordedChunk([], [], []), 0
    if chunk.exchanges or chunk.warnings:
        yield chunk


class SessionWiring(TelemetryWiring):
    """Records the live session, or shows a recording read-only; replays, exports, copies."""

    def setup_sessions(self) -> None:
        """Record samples; show log numbers in the cache table; load a recording if asked."""
        self.log_numbers: OrderedDict[tuple[str, int], int] = OrderedDict()
        self.replayed_calls = set()
        self.rerun_numbers = set()
        self.rerun_calls: set[tuple[str, int]] = set()
        self.telemetry.cache_table.number_for = self.log_number_for
        recorder = self.aro.recorder
        if recorder is not None:
            # The recorder's queue is thread-safe: recording straight from the sampler thread
            # keeps every sample (the redraw message coalesces, so it would drop some).
            self.telemetry.sample_listener = recorder.record_sample
            # The tracker itself, not a query of the panel: the hook runs at exit too (a
            # call cut short by SIGTERM), from a timer thread, with the screen going away.
            tracker = self.telemetry.tracker
            recorder.is_internal = partial(self._recorded_as_internal, tracker)
        if self.aro.config.open_session is not None:
            self._read_recording(self.aro.config.open_session)

    def log_number_for(self, plugin: str, exchange_id: int) -> int | None:
        """The log's number for ``plugin``'s host exchange ``exchange_id``."""
        return self.log_numbers.get((plugin, exchange_id))

    def note_log_number(self, exchange: Exchange, entry: LogEntry) -> None:
        """Remember which log row a host exchange became (bounded)."""
        self.log_numbers[(exchange.plugin, exchange.id)] = entry.number
        while len(self.log_numbers) > MAX_LOG_NUMBERS:
            self.log_numbers.popitem(last=False)

    def record_cache_events(self, events: list[CacheEvent]) -> None:
        """Put model loads/unloads in the recording (when one is attached)."""
        recorder = self.aro.recorder
        if recorder is not None:
            for event in events:
                recorder.record_cache_event(cache_event_to_json(event))

    def refuse_read_only(self, doing: str) -> bool:
        """In a reopened recording: say why ``doing`` is off and return True."""
        if not self.aro.read_only:
            return False
        self.say(
            f"Read-only recording: {doing} is off. Press d on an exchange (or ctrl+p, "
            "'replay') to rerun it against the plugin as it is now and see what changed.",
            "warning",
        )
        return True

    # -- a reopened recording ------------------------------------------------------------------

    @work(thread=True, group="recording")
    def _read_recording(self, path: Path) -> None:
        try:
            loaded = load_recording(path)
        except (OSError, SessionReadError) as error:
            self.app.call_from_thread(self.say, f"Cannot open {path}: {error}", "error")
            return
        self.app.call_from_thread(self._show_recorded_telemetry, loaded)
        worker = get_current_worker()
        for chunk in recorded_exchanges(loaded.session, RECORDING_CHUNK_BYTES, loaded.samples):
            if worker.is_cancelled:
                return
            self.app.call_from_thread(self._add_recorded_exchanges, chunk)
            # Memory holds one chunk of bodies: the next is read once these are on disk.
            self.aro.exchange_log.flush()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_recording, loaded.session)

    def _tell_recording_problems(self, warnings: Sequence[str]) -> None:
        """A few notes for a damaged recording's warnings, and every one of them in the
        palette's "Show start-up problems": 19 notes, one each, covered the screen."""
        if warnings:
            problems = [sanitize_line(warning) for warning in warnings]
            self.aro.add_problems(problems, "problems in the recording")

    def _show_recorded_telemetry(self, loaded: LoadedRecording) -> None:
        session = loaded.session
        self._tell_recording_problems(loaded.warnings)
        panel = self.telemetry
        for sample in loaded.samples:
            panel.samples.append(sample)
        for event in loaded.cache_events:
            panel.tracker.apply_recorded(event)
        panel.tracker.resolve_gpu(panel.samples)  # GPU deltas recorded before they were known
        times = [s.t for s in loaded.samples] + [e.started_at for e in session.exchanges]
        if times:
            end_t = max(times) + 1.0
            panel.set_window(min(max(120.0, end_t - min(times) + 2.0), MAX_WINDOW_S))
            panel.set_axis_end(end_t)
        panel.backend_description = "recorded"
        first_plugin = next(iter(session.plugins), None)
        if first_plugin is not None:
            panel.show_plugin(first_plugin)
        self.show_banner(
            f"READ-ONLY recording {session.session_id} · reading "
            f"{len(session.exchanges)} exchanges…"
        )

    def _add_recorded_exchanges(self, chunk: RecordedChunk) -> None:
        self._tell_recording_problems(chunk.warnings)
        lost_in = [n for n, lost in zip(chunk.numbers, chunk.lost, strict=True) if lost]
        if lost_in:  # one note: one per body covered the screen for seconds
            self.say(_lost_bodies_text(chunk, lost_in), "warning")
        entries = self.aro.exchange_log.add_many(chunk.exchanges, chunk.lost, chunk.numbers)
        panel = self.telemetry
        table = self.query_one(ExchangeTable)
        # aro-tui's own cache queries are recorded too; hide them as the live log does.
        rows = zip(chunk.exchanges, entries, chunk.internal, chunk.memory, strict=True)
        for exchange, entry, internal, memory in rows:
            self.note_log_number(exchange, entry)
            if internal:
                table.internal_numbers.add(entry.number)
            if memory is not None:
                table.set_memory(entry, memory)
            panel.spans.record(ExchangeSpan.from_exchange(exchange, internal=internal))
        self.update_log_title()

    def _show_recording(self, session: Session) -> None:
        self.telemetry.refresh_view()
        table = self.query_one(ExchangeTable)
        log = self.aro.exchange_log
        shown = [entry for entry in log.entries if table.shows(entry)]
        table.show_entries(shown[-table.max_rows :], None)
        self.update_log_title()
        if shown:
            self.show_exchange(shown[-1].number)
            table.focus()
        cut_off = ""
        if session.ended_at is None:  # a running aro-tui may still be writing it
            live = being_recorded(session.path)
            cut_off = (
                " · still being recorded (as it was when opened)"
                if live
                else (" · cut off (no end record)")
            )
        internal = len(table.internal_numbers)
        # The calls made, as the live log counted them; aro-tui's own queries apart (3,031
        # calls read "6062 exchanges" beside a Replay all of 3,031).
        calls = f"{len(log) - internal} exchanges" + (
            f" (+{internal} internal)" if internal else ""
        )
        self.show_banner(
            f"READ-ONLY recording {session.session_id} · {calls}{cut_off}"
            " · d: rerun one against the plugin now · ctrl+p: replay all"
        )

    def show_banner(self, text: str) -> None:
        """Show the read-only banner (defined by the layout)."""
        raise NotImplementedError

    def show_progress(self, text: str | None) -> None:
        """Show a line of progress under the banner, or hide it (defined by the layout)."""
        raise NotImplementedError

    # -- replay and diff ----------------------------------------------------------------------

    def _user_entries(self) -> list[LogEntry]:
        table = self.query_one(ExchangeTable)
        return [e for e in self.aro.exchange_log.entries if e.number not in table.internal_numbers]

    _replaying_request: bytes | None = None
    """The request a replay is sending now (its exchange holds this very object)."""
    rerun_numbers: set[int]
    """The log's exchanges that a replay or a compare (d) reran: Replay all leaves them out
    (a second Replay all reran the first one's reruns too: 620 calls for 310)."""

    def is_rerun(self, exchange: Exchange) -> bool:
        """Whether ``exchange`` is a replay's or a compare's rerun (reliable while it runs: the
        replay holds its request until the call has ended)."""
        return self._replaying_request is not None and (
            exchange.request_bytes is self._replaying_request
        )

    def _recorded_as_internal(self, tracker: ModelCacheTracker, exchange: Exchange) -> bool:
        """What the recording marks ``"internal"``: aro-tui's own model-cache queries, and a
        replay's reruns, so that ``aro-tui replay`` of this recording does not rerun them."""
        return tracker.is_internal(exchange.plugin, exchange.id) or self.is_rerun(exchange)

    replayed_calls: set[tuple[str, int]]
    """The replay's calls still running, by (plugin, host id): not shown when they end."""

    def is_replayed(self, exchange: Exchange) -> bool:
        """Whether ``exchange`` is a replay's call (of "Replay all", several, in a live
        session): logged, but not shown as it runs or once done, where each call laid the
        screen out twice and a replay managed 15 calls a second."""
        return (
            self.replay_state is not None
            and self.replay_state[1] > 1
            and exchange.request_bytes is self._replaying_request
        )

    replay_state: tuple[int, int] | None = None
    """While a replay runs: how many of how many exchanges it has compared."""
    _replay_stop = False
    _replay_cancelled_s = -1.0

    def _replay_running(self) -> bool:
        """Whether a replay runs (then say so): a second one replaced it, results and all."""
        if self.replay_state is None:
            return False
        done, total = self.replay_state
        self.say(
            f"A replay is running ({done} of {total}): wait for it, or stop it (ctrl+p, "
            '"Stop the replay"; or ctrl+g twice) to see what it compared so far.',
            "warning",
        )
        return True

    def action_stop_replay(self) -> None:
        """Stop a replay after the call it runs now (cancelled: a model load or a hang can
        take minutes); show what it compared so far."""
        if self.replay_state is None:
            self.say("No replay is running.")
            return
        self._replay_stop = True
        self.say("Stopping the replay: the diff shows what it compared so far.")
        if any(process.in_flight for process in self.aro.registry.processes()):
            super().action_cancel()

    def action_cancel(self) -> None:
        """As :meth:`ExchangeActions.action_cancel`; during a replay of several exchanges a
        second ctrl+g within ``REPLAY_STOP_WINDOW_S`` also stops the replay."""
        if self.replay_state is not None and self.replay_state[1] > 1:
            now = time.monotonic()
            if now - self._replay_cancelled_s <= REPLAY_STOP_WINDOW_S:
                self._replay_cancelled_s = -1.0
                self.action_stop_replay()
                return
            self._replay_cancelled_s = now
        super().action_cancel()

    def action_compare(self) -> None:
        """Rerun the selected exchange against the plugin as it is now; show what changed."""
        if self._replay_running():
            return
        number = self.shown_number
        entry = None if number is None else self.aro.exchange_log.get(number)
        if entry is None:
            self.say("Select an exchange in the log first.", "warning")
            return
        self.say(f"Rerunning #{entry.number} {entry.plugin} · {entry.action} to compare…")
        self._replay([entry], f"Replay of #{entry.number}")

    def action_replay_all(self) -> None:
        """Rerun every exchange in the log, in order, and show what changed."""
        if self._replay_running():
            return
        entries = [e for e in self._user_entries() if e.number not in self.rerun_numbers]
        if not entries:
            self.say("The log is empty: nothing to replay.", "warning")
            return
        self.say(f"Replaying {len(entries)} exchanges against the plugins as they are now…")
        self._replay(entries, f"Replay of {len(entries)} exchanges", skip_cancelled=True)

    @work(group="replay", exclusive=True)
    async def _replay(
        self, entries: list[LogEntry], title: str, *, skip_cancelled: bool = False
    ) -> None:
        """Rerun ``entries`` in order and show the compare view; ``skip_cancelled``: leave
        out calls logged as cancelled, as ``aro-tui replay`` does (``d`` on one reruns it:
        the reader asked for that call)."""
        comparisons: list[Comparison] = []
        changed = 0
        self._replay_stop = False
        try:
            for done, entry in enumerate(entries):
                if self._replay_stop:
                    title = f"{title}, stopped after {done:,}"
                    break
                self.replay_state = (done, len(entries))
                self.show_progress(_replay_progress(title, entries, done, changed))
                # A call logged as cancelled has no answer to compare: not rerun (one that
                # hung would wait out its timeout), as `aro-tui replay` leaves it.
                left_out = skipped(entry) if skip_cancelled else None
                comparisons.append(left_out or await self._compare_one(entry))
                changed += comparisons[-1].outcome not in ("equal", "skipped")
        finally:
            self.replay_state = None
            self.show_progress(None)
        if len(entries) == 1:
            self._back_to_row(entries[0].number)
        self.app.push_screen(DiffScreen(title, comparisons, self.aro.config.deterministic))

    def _back_to_row(self, number: int) -> None:
        """Put the log's cursor (and the panes) back on ``number``, the row a compare (d)
        reran: its rerun ran as the live card and, ended, took the cursor to its own new row,
        so the reader came back from the diff on another exchange than the one compared."""
        table = self.query_one(ExchangeTable)
        if self.live_exchange is None and str(number) in table.rows:
            table.move_cursor(row=table.get_row_index(str(number)))
            self.show_exchange(number)

    async def _compare_one(self, entry: LogEntry) -> Comparison:
        log = self.aro.exchange_log
        plugin = self.aro.registry.get(entry.plugin)
        if plugin is None or plugin.process is None:
            return missing(entry, f"no runnable plugin {entry.plugin!r} here")
        try:
            request, old_response, details = await asyncio.to_thread(
                lambda: (
                    log.request_bytes(entry.number),
                    log.response_bytes(entry.number),
                    log.details(entry.number),
                )
            )
        except KeyError:
            return missing(entry, "the logged request is gone")
        for name, why in (details.get("lost_bodies") or {}).items():
            # Rerun with "" or compared with nothing, it read as a regression.
            return missing(entry, f"recorded {name} lost: {why}")
        self._replaying_request = request
        try:
            new = await plugin.process.call(
                entry.action, request, timeout_s=self.aro.config.timeout_s
            )
        except Exception as error:
            return missing(entry, f"{type(error).__name__}: {error}")
        finally:
            self._replaying_request = None
        # Parsing and diffing two 8 MB answers takes ~0.3 s: not on the event loop.
        return await asyncio.to_thread(compare_logged, entry, old_response, new)

    # -- export and copy ------------------------------------------------------------------------

    def action_export_log(self) -> None:
        """Save the whole log (every exchange, with bodies and stderr) as one JSON file."""
        numbers = [e.number for e in self._user_entries()]
        if not numbers:
            self.say("The log is empty: nothing to export.", "warning")
            return
        default = Path.cwd() / "exchanges.json"
        forgotten = self.aro.exchange_log.forgotten
        what = f"{len(numbers)} exchanges"
        if forgotten:  # it said "the whole log" and silently left these out
            what = (
                f"the newest {len(numbers):,} exchanges (the oldest {forgotten:,} are out of reach)"
            )
        dialog = SaveDialog(
            f"Export {what} to", default, lambda path: self._export_log(path, numbers)
        )
        self.app.push_screen(dialog, self.say_saved)

    def _export_log(self, path: Path, numbers: list[int]) -> str:
        """Stream the exchanges into ``path`` (:func:`replacing`: memory stays at one
        exchange, and a failed export leaves the old file and no half-written one; in the
        save dialog's thread)."""
        log = self.aro.exchange_log
        try:
            with replacing(path) as handle:
                exchanges = (exchange_from_log(log, n) for n in numbers)
                size = write_log_json(exchanges, len(numbers), handle, self._export_details)
        except KeyError as error:
            raise SaveFailed(f"exchange #{error} left the log while it was exported") from None
        return f"Exported {len(numbers)} exchanges ({size} bytes) to {path}"

    def export_document(self, number: int) -> bytes:
        """Exchange ``number`` as ``aro-tui/exchange/1`` JSON (blocking: reads its bodies)."""
        exchange = exchange_from_log(self.aro.exchange_log, number)
        document = exchange_to_json(exchange, self._export_details(exchange))
        return orjson.dumps(document, option=orjson.OPT_INDENT_2)

    def _export_details(self, exchange: Exchange) -> ExportDetails:
        """The GPU figures the log shows for ``exchange`` and the cache events it caused
        (an export had neither). Called in the save dialog's thread: the buffers it reads
        are thread-safe."""
        panel = self.telemetry
        end_t = ExchangeSpan.from_exchange(exchange).end_t
        events = [
            cache_event_to_json(event)
            for event in panel.tracker.events.snapshot()
            if event.plugin == exchange.plugin
            and event.exchange_id == exchange.id  # the host's id: another process reuses it
            and end_t is not None
            and abs(event.t - end_t) < SAME_EXCHANGE_S
        ]
        return panel.exchange_memory(exchange), events

    def action_copy_command(self) -> None:
        """Copy the selected exchange as an ``aro-tui call`` command line (OSC 52)."""
        number = self.shown_number
        if number is None or self.aro.exchange_log.get(number) is None:
            self.say("Select an exchange first.", "warning")
            return
        self._copy_command(number)

    @work(thread=True, group="files")
    def _copy_command(self, number: int) -> None:
        config = self.aro.config
        try:
            exchange = exchange_from_log(self.aro.exchange_log, number)
            line = call_command_line(exchange, config.plugins_path, python=config.interpreter)
        except (KeyError, ValueError) as error:
            self.app.call_from_thread(self.say, f"Cannot copy #{number}: {error}", "error")
            return
        self.app.call_from_thread(self._copied, number, line)

    def _copied(self, number: int, line: str) -> None:
        self.app.copy_to_clipboard(line)
        self.say(f"Copied #{number} as a command line ({len(line)} chars): {shorten(line, 60)}")

    def session_title(self) -> str:
        """What the dashboard records to, for the subtitle ('' when not recording)."""
        recorder = self.aro.recorder
        return "" if recorder is None else f"recording {sanitize_line(recorder.session_id)}"


def _lost_bodies_text(chunk: RecordedChunk, numbers: list[int]) -> str:
    """``exchange #8: its recorded response is lost (… is missing)``, or for several
    ``5 exchanges lost a recorded body: #2, #4, … (each response pane says which and why)``."""
    if len(numbers) == 1:
        lost = chunk.lost[chunk.numbers.index(numbers[0])]
        name, why = next(iter(lost.items()))
        return f"exchange #{numbers[0]}: its recorded {name} is lost ({why})"
    shown = ", ".join(f"#{n}" for n in numbers[:8]) + (", …" if len(numbers) > 8 else "")
    return (
        f"{len(numbers)} exchanges lost a recorded body: {shown} "
        "(each response pane says which and why)"
    )


REPLAY_STOP_WINDOW_S = 3.0
"""A second ctrl+g within this long of the first stops a replay (the first cancels a call)."""


def _replay_progress(title: str, entries: list[LogEntry], done: int, changed: int) -> str:
    """``Replay of 12 exchanges: 4 of 12 · #5 text · hash · 1 not equal so far · ctrl+g cancels
    this call`` (a replayed model load or hang can take minutes)."""
    entry = entries[done]
    where = f"#{entry.number} {entry.plugin} · {entry.action}"
    if len(entries) == 1:
        return f"{title}: running {where} · ctrl+g cancels it"
    so_far = f" · {changed} not equal so far" if changed else ""
    return (
        f"{title}: {done + 1} of {len(entries)} · {where}{so_far} · ctrl+g cancels this call, "
        "twice stops the replay"
    )
