"""Log lines: JSON objects for ELK (one per line, structured fields as keys) or readable text."""

from __future__ import annotations

import io
import json
import logging

import pytest

from autoscaler import logs


def capture(fmt: str, monkeypatch: pytest.MonkeyPatch) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    return logs.configure(level="INFO", fmt=fmt), stream  # type: ignore[arg-type]


def test_json_lines_carry_the_action_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    logger, stream = capture("json", monkeypatch)
    reasons = ["metric cpu: 4 ready x 0.9 / 0.6 = 6.00, proposes 6", "max_step: 12 -> 8"]
    logger.info(
        "%s: scaled %d -> %d (%s)",
        "/shop/api",
        4,
        8,
        "metrics",
        extra={"fields": {"event": "scale", "app": "/shop/api", "from": 4, "to": 8, "reasons": reasons}},
    )
    logger.warning("plain warning")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "/shop/api: scaled 4 -> 8 (metrics)"
    assert (first["level"], first["event"], first["app"], first["from"], first["to"]) == (
        "info",
        "scale",
        "/shop/api",
        4,
        8,
    )
    assert first["reasons"] == reasons
    assert first["time"].endswith("+00:00")
    assert second["level"] == "warning" and "event" not in second


def test_text_lines_are_readable_with_reasons_below(monkeypatch: pytest.MonkeyPatch) -> None:
    logger, stream = capture("text", monkeypatch)
    logger.info("/shop/api: scaled 4 -> 8", extra={"fields": {"app": "/shop/api", "reasons": ["because"]}})
    text = stream.getvalue()
    assert "INFO" in text and "/shop/api: scaled 4 -> 8" in text
    assert "app=/shop/api" not in text  # the message names the app already: not twice on one line
    assert "\n    - because" in text


def test_text_lines_keep_the_app_field_when_the_message_does_not_name_it(monkeypatch: pytest.MonkeyPatch) -> None:
    logger, stream = capture("text", monkeypatch)
    logger.info("history loaded", extra={"fields": {"app": "/shop/api"}})
    assert "app=/shop/api" in stream.getvalue()


def test_auto_is_json_when_not_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    logger, stream = capture("auto", monkeypatch)  # a StringIO is not a terminal
    logger.info("hello")
    assert json.loads(stream.getvalue())["message"] == "hello"
