"""The decision-quality table of docs/benchmarks.md is the one the benchmark wrote.

`benchmarks/decision_quality.py` writes its table into `benchmarks/RESULTS.md`; the benchmark page
shows the same rows without the predictive ones (prediction has its own account there). A table
copied by hand drifts: this test fails when a regenerated table was not copied, or when the copy
lost a row or its header.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
HEADER = "| trace | goal (served) |"


def table(lines: list[str]) -> list[str]:
    """The first Markdown table that starts with the decision-quality header: all its lines."""
    start = next(index for index, line in enumerate(lines) if line.startswith(HEADER))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return lines[start:end]


def results_section() -> list[str]:
    text = (REPO / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    begin, end = "<!-- decision_quality:start -->", "<!-- decision_quality:end -->"
    return text[text.index(begin) : text.index(end)].splitlines()


def test_the_benchmark_page_shows_the_regenerated_table_without_prediction() -> None:
    written = table(results_section())
    assert written[1].startswith("|---|"), "RESULTS.md's table lost its header row"
    expected = [line for line in written if "+ predictive" not in line]
    shown = table((REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8").splitlines())
    assert shown == expected
    assert len(expected) > 2 + 6  # at least one row per trace and start-up
