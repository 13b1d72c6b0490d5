"""A recording's side files (bodies over the spill size) damaged after it was written."""

from __future__ import annotations

from pathlib import Path

import pytest
from session_recording import FAULTY, record_session

from aro_tui.cli import main
from aro_tui.core.session.reader import read_session


@pytest.fixture
def spilled(tmp_path: Path) -> Path:
    """A recording of one faulty `big` call whose 300 KB response is a side file."""
    return record_session(tmp_path, [("faulty", "big", '{"bytes": 300000}')], FAULTY.parent)


@pytest.mark.parametrize("damage", ["emptied", "cut short"])
def test_a_damaged_side_file_is_a_lost_body_not_a_regression(
    spilled: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An emptied or cut-short response file was read as the recorded answer: replay called
    the plugin's (correct) answer "different" and exited 1, a false alarm in a plugin's CI."""
    side_file = spilled.with_suffix(".bodies") / "1.response"
    size = side_file.stat().st_size
    side_file.write_bytes(b"" if damage == "emptied" else side_file.read_bytes()[:5000])
    (recorded,) = read_session(spilled).exchanges
    with pytest.raises(OSError, match=f"where {size:,} were recorded: the file is damaged"):
        recorded.to_exchange()
    exchange, lost = recorded.salvage()
    assert exchange.request_bytes == b'{"bytes": 300000}' and exchange.response_bytes is None
    assert list(lost) == ["response"]
    assert main(["replay", str(spilled)]) == 3
    out = capsys.readouterr().out
    assert "#1 faulty big: missing: recorded response lost: " in out
    assert "0 different" in out
