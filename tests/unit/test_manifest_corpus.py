"""Every broken manifest in tests/data/manifests/ reports exactly the problems beside it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from aro_tui.core.plugins.discovery import load_plugin
from aro_tui.core.plugins.manifest import SAFETY_LIMITS
from aro_tui.core.plugins.problem import Problem

CORPUS = Path(__file__).resolve().parent.parent / "data" / "manifests"
CASES = sorted(path.name for path in CORPUS.iterdir() if path.is_dir())


def _expected(case: str) -> list[dict[str, Any]]:
    document = json.loads((CORPUS / case / "expected.json").read_text(encoding="utf-8"))
    problems: list[dict[str, Any]] = document["problems"]
    return problems


def _comparable(problem: Problem, case_dir: Path) -> dict[str, Any]:
    row = problem.to_json()
    row.pop("message")
    row["file"] = Path(row["file"]).relative_to(case_dir).as_posix()
    return row


@pytest.mark.parametrize("case", CASES)
def test_case_reports_exactly_its_problems(case: str) -> None:
    case_dir = CORPUS / case
    plugin = load_plugin(case_dir, configured_interpreter=Path(sys.executable))
    assert [_comparable(problem, case_dir) for problem in plugin.problems] == _expected(case)
    assert all(problem.message for problem in plugin.problems)
    has_error = any(row["severity"] == "error" for row in _expected(case))
    assert plugin.valid is not has_error
    assert plugin.status == ("invalid" if has_error else "warnings")


def test_corpus_covers_at_least_twenty_distinct_faults() -> None:
    codes = {row["code"] for case in CASES for row in _expected(case)}
    assert len(CASES) >= 20
    assert len(codes) >= 20, sorted(codes)


def test_every_case_flags_strict_or_runtime_or_both() -> None:
    """Each case is a fault of ARO's rules, except aro-tui's own parsing limits and the
    min-version it cannot compare (ARO reads min-version but never checks it)."""
    host_only = SAFETY_LIMITS | {"min-version-format"}
    for case in CASES:
        first = _expected(case)[0]
        if first["code"] in host_only:
            assert first["rules"] == ["host"], case
        else:
            assert set(first["rules"]) <= {"strict", "runtime"}, case
