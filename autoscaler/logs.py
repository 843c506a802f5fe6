"""Log output: JSON lines for ELK, or readable text for a person at a terminal.

Structured fields are passed with `extra={"fields": {...}}` and end up as JSON keys (or `key=value`
in text), so every action line carries the app id, from -> to and the reasons as data.

Ids and details that come from outside (Marathon's app ids, a source's error text) are shortened
before they are logged (`short_id`, `short_text`, `id_list`), so no answer can make a line long.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LOGGER_NAME = "autoscaler"
MAX_ID_CHARS = 80  # an app id in a log line; longer ids keep their start and end
MAX_DETAIL_CHARS = 300  # a reason or an error text in a log line
IDS_SHOWN = 3  # ids named in a collapsed line; the others are counted


def short_text(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """`text` on one line and at most `limit` characters, its middle elided when it is longer."""
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(text) <= limit:
        return text
    tail = max(limit // 4, 1)
    return f"{text[: limit - tail - 3]}...{text[-tail:]}"


def short_id(app_id: str) -> str:
    """An app id as logged: at most MAX_ID_CHARS characters, start and end kept."""
    return short_text(app_id, MAX_ID_CHARS)


def id_list(app_ids: list[str], *, total: int | None = None) -> str:
    """`/a, /b, /c (+309)`: the first IDS_SHOWN ids, shortened, and how many more there are."""
    count = len(app_ids) if total is None else total
    shown = ", ".join(short_id(app_id) for app_id in app_ids[:IDS_SHOWN])
    more = count - min(len(app_ids), IDS_SHOWN)
    return f"{shown} (+{more})" if more > 0 else shown


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        message = record.getMessage()
        line = f"{stamp} {record.levelname:<7} {message}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            extras = {
                k: v
                for k, v in fields.items()
                if k not in ("reasons", "event") and not (k == "app" and isinstance(v, str) and v in message)
            }
            if extras:
                line += "  " + " ".join(f"{k}={v}" for k, v in extras.items())
            for reason in fields.get("reasons", []) or []:
                line += f"\n    - {reason}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(*, level: str = "INFO", fmt: Literal["auto", "json", "text"] = "auto") -> logging.Logger:
    """Set up the service logger on stderr; `auto` means JSON unless stderr is a terminal."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    return logger
