"""``aro-tui batch``: results in input order, invalid lines counted, crashes survived."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from aro_tui.cli import main

REPO = Path(__file__).resolve().parents[2]
FAULTY = str(REPO / "tests" / "plugins" / "faulty")
HOSTILE = str(REPO / "tests" / "plugins" / "ui-hostile")


def _results(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_results_come_back_in_input_order_with_a_summary(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(500)))
    out = tmp_path / "out.jsonl"
    status = main(["batch", FAULTY, "echo", str(inputs), "-o", str(out), "--concurrency", "32"])
    assert status == 0
    results = _results(out)
    assert [r["index"] for r in results] == list(range(500))
    assert [r["response"] for r in results] == [{"n": n} for n in range(500)]
    assert all(r["status"] == "ok" and isinstance(r["duration_ms"], float) for r in results)
    summary, notes = capfd.readouterr().err.strip().splitlines()[-2:]
    assert summary.startswith("500 calls, 0 errors; latency p50 ")
    assert " ms, p95 " in summary and "; action p50 " in summary and summary.endswith(" calls/s")
    # The faulty plugin prints at import: under the ARO runtime every answer would carry it.
    assert notes.startswith("ARO runtime notes: printed-to-stdout ×500; the first: ")
    assert all(r["runtime_notes"] == ["printed-to-stdout"] for r in results)


def test_invalid_lines_and_plugin_errors_are_counted_not_fatal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"text": "a b"}\n{broken\n\n{}\n')
    out = tmp_path / "out.jsonl"
    plugin = "plugin-python-text"
    assert main(["batch", plugin, "analyze", str(inputs), "-o", str(out), "--no-progress"]) == 1
    first, broken, empty = _results(out)
    assert first["status"] == "ok" and first["line"] == 1
    assert broken["status"] == "invalid_input" and broken["line"] == 2
    assert "line 2" in str(broken["error"])
    assert empty["status"] == "plugin_error" and empty["response"] == {
        "error": "Missing 'text' field"
    }
    assert "3 calls, 2 errors" in capfd.readouterr().err


def test_a_crash_mid_batch_fails_that_call_and_the_rest_run(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"n": 1}\n{"crash": true}\n{"n": 3}\n{"n": 4}\n')
    out = tmp_path / "out.jsonl"
    args = ["batch", FAULTY, "crash-if", str(inputs), "-o", str(out), "--concurrency", "1"]
    assert main(args) == 1
    results = _results(out)
    assert [r["status"] for r in results] == ["ok", "crashed", "ok", "ok"]
    assert "exited with code 5" in str(results[1]["error"])
    assert results[3]["response"] == {"n": 4}
    assert "4 calls, 1 errors" in capfd.readouterr().err


def test_an_answer_on_several_lines_is_written_on_one_with_its_numbers_exact(
    tmp_path: Path,
) -> None:
    document = {"id": 123456789012345678901234567890, "text": "two\nlines", "nested": [[1.5]]}
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps(document) + "\n" + json.dumps({"n": 1}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["batch", FAULTY, "pretty", str(inputs), "-o", str(out), "--no-progress"]) == 0
    first, second = _results(out)  # two inputs, two lines
    assert first["response"] == document  # json keeps big integers exact; orjson did not
    assert second["response"] == {"n": 1}


def test_a_signal_mid_batch_keeps_the_results_so_far_and_says_how_far_it_got(
    tmp_path: Path,
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"seconds": 0.02}\n' * 400)
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "aro_tui", "batch", HOSTILE, "slow", str(inputs), "-o", str(out)],
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    deadline_s = time.monotonic() + 30
    while (not out.exists() or out.read_bytes().count(b"\n") < 3) and time.monotonic() < deadline_s:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 128 + signal.SIGTERM
    assert process.stderr is not None
    err = process.stderr.read().decode()
    written = _results(out)
    assert f"stopped after {len(written)} of 400 inputs; their results are on {out}" in err
    assert [result["index"] for result in written] == list(range(len(written)))
    assert all(result["status"] == "ok" for result in written) and 3 <= len(written) < 400


def test_a_reader_that_stops_reading_ends_the_batch_quietly(tmp_path: Path) -> None:
    """`aro-tui batch ... | head`: exit status 141 (as after SIGPIPE), no traceback, and no
    plugin process left."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"bytes": 100000}\n' * 200)
    process = subprocess.Popen(
        [sys.executable, "-m", "aro_tui", "batch", FAULTY, "big", str(inputs), "--no-progress"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(50).startswith(b'{"index":0,')
    harness = psutil.Process(process.pid).children()
    process.stdout.close()
    assert process.wait(timeout=30) == 128 + signal.SIGPIPE
    assert b"Traceback" not in process.stderr.read()
    assert all(
        not child.is_running() or child.status() == psutil.STATUS_ZOMBIE for child in harness
    )


@pytest.mark.parametrize("where", ["missing/out.jsonl", "."])
def test_an_output_that_cannot_be_written_is_a_usage_error(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("{}\n")
    target = tmp_path / where
    assert main(["batch", FAULTY, "echo", str(inputs), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"aro-tui batch: error: cannot write the results to {target}: " in err
