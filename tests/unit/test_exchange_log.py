"""Summaries in memory, bodies on disk, filters over the summaries."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from aro_tui.core.exchange_log import ExchangeLog, LogFilter
from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.runtime_notes import RuntimeNote


def _exchange(
    number: int, action: str = "hash", status: ExchangeStatus = ExchangeStatus.OK
) -> Exchange:
    exchange = Exchange(number, "plugin-python-text", action, b'{"text": "a"}')
    exchange.status = status
    exchange.response_bytes = b'{"hash": "' + b"x" * 100 + b'"}'
    exchange.head_monotonic_s = 1.0
    exchange.finished_monotonic_s = 1.25
    exchange.stderr_lines.append(f"line {number}")
    return exchange


def test_bodies_round_trip_through_disk(tmp_path: Path) -> None:
    log = ExchangeLog(tmp_path)
    entry = log.add(_exchange(7))
    assert entry.number == 1 and entry.duration_ms == 250.0
    assert log.request_bytes(1) == b'{"text": "a"}'
    assert log.response_head(1, 5) == b'{"has'
    assert log.stderr_lines(1) == ["line 7"]
    exported = log.export(1)
    assert exported["status"] == "ok" and exported["exchange_id"] == 7
    log.close()
    assert (tmp_path / "exchanges.sqlite3").exists()


def test_details_keep_the_timings_printed_bytes_and_runtime_notes(tmp_path: Path) -> None:
    exchange = _exchange(3)
    exchange.sent_monotonic_s, exchange.action_duration_s = 0.5, 0.000083
    exchange.printed_bytes = 26
    exchange.runtime_notes = (RuntimeNote("printed-to-stdout", "ARO runtime: …"),)
    log = ExchangeLog(tmp_path)
    log.add(exchange)
    log.flush()
    details = log.details(1)
    log.close()
    assert details["sent_monotonic_s"] == 0.5 and details["head_monotonic_s"] == 1.0
    assert details["finished_monotonic_s"] == 1.25 and details["action_duration_s"] == 0.000083
    assert details["printed_bytes"] == 26
    assert details["runtime_notes"] == [{"code": "printed-to-stdout", "text": "ARO runtime: …"}]


def test_memory_keeps_only_the_newest_summaries() -> None:
    log = ExchangeLog(max_entries=100)
    log.add_many(_exchange(n) for n in range(1000))
    assert len(log) == 1000 and len(log.entries) == 100
    assert log.get(1) is None and log.get(1000) is not None
    assert log.response_bytes(1) is not None, "older bodies stay on disk"
    directory = log.directory
    log.close()
    assert not directory.exists()


def test_filter_by_text_status_plugin_and_action() -> None:
    log = ExchangeLog()
    log.add(_exchange(1, "hash"))
    log.add(_exchange(2, "analyze", ExchangeStatus.TIMEOUT))
    log.add(_exchange(3, "analyze"))
    assert [e.number for e in log.matching(LogFilter.parse("status:timeout"))] == [2]
    assert [e.number for e in log.matching(LogFilter.parse("action:analyze"))] == [2, 3]
    assert [e.number for e in log.matching(LogFilter.parse("hash"))] == [1]
    assert [e.number for e in log.matching(LogFilter.parse("plugin:text"), limit=2)] == [2, 3]
    assert not LogFilter.parse("").active
    log.close()


def test_a_status_is_found_by_any_part_of_its_name_and_an_unknown_one_is_known() -> None:
    """``status:error`` matched nothing: the statuses are plugin_error and protocol_error."""
    log = ExchangeLog()
    log.add(_exchange(1, "hash", ExchangeStatus.PLUGIN_ERROR))
    log.add(_exchange(2, "hash", ExchangeStatus.PROTOCOL_ERROR))
    log.add(_exchange(3, "hash"))
    for query, numbers in (
        ("status:error", [1, 2]),
        ("status:plugin_error", [1]),
        ("status:plugin-error", [1]),
        ("status:protocol", [2]),
        ("status:ok", [3]),
    ):
        assert [e.number for e in log.matching(LogFilter.parse(query))] == numbers, query
    assert not LogFilter.parse("status:error").unknown_status
    assert LogFilter.parse("status:nonsense").unknown_status == "nonsense"
    assert LogFilter.parse("status:ok status:nonsense").unknown_status == "nonsense"
    log.close()


def test_a_field_given_twice_matches_either_value() -> None:
    """`plugin:delta plugin:alpha` showed alpha's rows only, the last one, without a word."""
    log = ExchangeLog()
    log.add(_exchange(1, "hash"))
    log.add(_exchange(2, "analyze", ExchangeStatus.TIMEOUT))
    log.add(_exchange(3, "diff", ExchangeStatus.PLUGIN_ERROR))
    for query, numbers in (
        ("action:hash action:diff", [1, 3]),
        ("status:timeout status:error", [2, 3]),
        ("action:hash action:diff status:ok", [1]),
    ):
        assert [e.number for e in log.matching(LogFilter.parse(query))] == numbers, query
    log.close()


def test_free_text_finds_a_status_as_the_log_shows_it_and_each_word_anywhere() -> None:
    """The log reads ``plugin error``; typing that showed nothing, only ``plugin_error`` did."""
    log = ExchangeLog()
    log.add(_exchange(1, "hash", ExchangeStatus.PLUGIN_ERROR))
    log.add(_exchange(2, "analyze", ExchangeStatus.PROTOCOL_ERROR))
    log.add(_exchange(3, "analyze", ExchangeStatus.TIMEOUT))
    log.add(_exchange(4, "hash"))
    for query, numbers in (
        ("plugin error", [1]),  # not #2: its plugin is named plugin-python-text
        ("Plugin  Error", [1]),
        ("plugin_error", [1]),
        ("protocol error", [2]),
        ("error", [1, 2]),
        ("analyze timeout", [3]),  # each word somewhere in the row
        ("timeout analyze", [3]),
        ("text hash", [1, 4]),
        ("hash plugin error", [1]),
        ("plugin error analyze", []),
        ("status:error hash", [1]),
        ("analyze status:error", [2]),
        ("plugin:text action:hash plugin error", [1]),
        ("hash ok", [4]),
    ):
        assert [e.number for e in log.matching(LogFilter.parse(query))] == numbers, query
    log.close()


def test_windows_before_and_after_an_exchange_number() -> None:
    log = ExchangeLog(max_entries=50)
    log.add_many(_exchange(n, "hash" if n % 2 else "analyze") for n in range(60))
    hashes = LogFilter.parse("action:hash")  # exchanges 2, 4, ... (n odd, numbered n + 1)
    assert [e.number for e in log.matching(hashes, 3, before=30)] == [24, 26, 28]
    assert [e.number for e in log.matching(hashes, 3, before=13)] == [12], "only 11..60 kept"
    assert log.matching(hashes, 3, before=5) == []
    assert [e.number for e in log.matching_after(hashes, 3, after=30)] == [32, 34, 36]
    assert [e.number for e in log.matching_after(hashes, 3, after=57)] == [58, 60]
    assert log.matching_after(hashes, 3, after=60) == []
    assert [e.number for e in log.matching_after(LogFilter(), 2, after=1)] == [11, 12]
    log.close()


def _reads(log: ExchangeLog, number: int) -> tuple[object, ...]:
    """Everything the dashboard reads of one exchange's bodies."""
    return (
        log.request_bytes(number),
        log.response_bytes(number),
        log.response_head(number, 10),
        log.response_slice(number, 5, 7),
        log.response_slice(number, 10**9, 7),
        log.stderr_lines(number),
        log.details(number)["exchange_id"],
        log.export(number)["response"],
    )


def _lock_database(path: Path) -> sqlite3.Connection:
    """Another connection holding the write lock, as a stuck or slow disk would."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    return blocker


def test_adding_does_not_wait_for_the_disk_and_the_bodies_read_back_meanwhile(
    tmp_path: Path,
) -> None:
    log = ExchangeLog(tmp_path)
    big = _exchange(3)
    big.response_bytes = b'{"data": "' + b"y" * 5_000_000 + b'"}'
    blocker = _lock_database(log.path)
    entry = log.add(big)  # the old log waited 5 s here, then raised "database is locked"
    while_pending = _reads(log, entry.number)
    assert while_pending[2] == b'{"data": "' and while_pending[3] == b'a": "yy'
    assert while_pending[4] == b"" and while_pending[5] == ["line 3"]
    blocker.execute("COMMIT")
    log.flush()
    assert log.write_error is None
    assert _reads(log, entry.number) == while_pending
    on_disk = sqlite3.connect(log.path).execute("SELECT length(response) FROM bodies")
    assert on_disk.fetchall() == [(len(big.response_bytes),)]
    log.close()


def test_a_failed_write_keeps_the_bodies_says_so_once_and_is_retried(tmp_path: Path) -> None:
    errors: list[str] = []
    log = ExchangeLog(tmp_path, on_write_error=errors.append, write_timeout_s=0.05)
    blocker = _lock_database(log.path)
    log.add(_exchange(1))
    log.flush()
    log.add(_exchange(2))
    log.flush()
    assert len(errors) == 1 and str(log.path) in errors[0] and "locked" in errors[0]
    assert log.write_error == errors[0]
    assert log.stderr_lines(1) == ["line 1"] and log.stderr_lines(2) == ["line 2"]
    blocker.execute("COMMIT")
    log.add(_exchange(3))
    log.flush()
    assert log.write_error is None
    on_disk = sqlite3.connect(log.path).execute("SELECT number FROM bodies ORDER BY number")
    assert on_disk.fetchall() == [(1,), (2,), (3,)], "nothing lost"
    log.close()


def test_bodies_written_to_disk_are_not_also_kept_in_memory() -> None:
    """The writer thread once held its last batch until the next one came: after opening a
    600 MB recording the dashboard stayed at 650 MB resident until something else was logged."""
    log = ExchangeLog()
    exchanges = [_exchange(n) for n in range(3)]
    for exchange in exchanges:
        exchange.response_bytes = bytes(8 << 20)  # a fresh object per exchange
    bodies = [exchange.response_bytes for exchange in exchanges]
    log.add_many(exchanges)
    del exchanges, exchange
    log.flush()
    # Only the list, the loop's name and getrefcount's argument refer to each body now.
    assert [sys.getrefcount(body) for body in bodies] == [3, 3, 3]
    assert log.response_bytes(2) == bodies[1]
    log.close()


def test_a_log_never_closed_leaves_no_folder_behind() -> None:
    """An app built and dropped without being run never closed its log: each left a folder
    in /tmp (2,865 of them, 8 GB, after a day of test runs)."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "from aro_tui.core.exchange_log import ExchangeLog\n"
        "log = ExchangeLog()\n"
        "print(log.directory, flush=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    folder = Path(result.stdout.strip())
    assert result.returncode == 0 and folder.name.startswith("aro-tui-log-")
    assert not folder.exists()


def test_the_log_says_how_many_of_the_oldest_it_no_longer_holds(tmp_path: Path) -> None:
    """Past its summaries' limit the oldest exchanges could not be shown or exported, and
    nothing said so: paging stopped at #10001 of 60,000 with a bell."""
    log = ExchangeLog(tmp_path / "log", max_entries=3)
    try:
        for number in range(5):
            log.add(_exchange(number))
        assert (len(log), len(log.entries), log.forgotten) == (5, 3, 2)
        assert [entry.number for entry in log.entries] == [3, 4, 5]
    finally:
        log.close()


def test_a_recordings_own_numbers_are_kept_gaps_and_all(tmp_path: Path) -> None:
    """A recording that lost #7 was numbered 1..N as read: from there every `open` number was
    one below the one `open --summary` and `replay --exchange` use."""
    log = ExchangeLog(tmp_path, max_entries=5)
    numbers = [1, 2, 3, 4, 5, 6, 8, 9, 12]
    entries = log.add_many([_exchange(n, action=f"a{n}") for n in numbers], numbers=numbers)
    assert [e.number for e in entries] == numbers and len(log) == 9
    assert log.forgotten == 4  # the summaries of #1-#4 fell out of the 5 kept
    kept = [log.get(n) is not None for n in (4, 5, 6, 7, 8, 11, 12)]
    assert kept == [False, True, True, False, True, False, True]
    got = log.get(9)
    assert got is not None and got.action == "a9" and log.request_bytes(9) == b'{"text": "a"}'
    everything = LogFilter()
    assert [e.number for e in log.matching(everything, before=9)] == [5, 6, 8]
    assert [e.number for e in log.matching(everything, limit=2, before=12)] == [8, 9]
    assert [e.number for e in log.matching_after(everything, 2, after=6)] == [8, 9]
    assert [e.number for e in log.matching_after(everything, 5, after=9)] == [12]
    later = log.add(_exchange(13))
    assert later.number == 13
    log.close()
