"""The pause document as stored: `{"version": 1, "pauses": [{"scope": ..., ...}, ...]}`.

Whatever is read back is hostile (a file edited by hand, a node written by another version): it is
decoded through `autoscaler.wire` with a byte and a nesting limit, and every field is checked. A
document that fails any check raises `PauseStoreError` naming where it came from and what is wrong;
nothing of it is used, and nothing overwrites it (the caller keeps the pauses it knew).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from autoscaler.core.pause import MAX_REASON_CHARS, MAX_WHO_CHARS, Pause, scope_problem
from autoscaler.errors import AutoscalerError, WireError
from autoscaler.wire import decode_json

__all__ = ["MAX_DOCUMENT_BYTES", "MAX_PAUSES", "PauseStoreError", "decode", "encode"]

MAX_PAUSES = 400
# 400 pauses at their longest (500-character scope, 200-character reason and 100-character name, all
# of 4-byte characters) fit; ZooKeeper refuses a node over 1 MiB.
MAX_DOCUMENT_BYTES = 800_000
VERSION = 1


class PauseStoreError(AutoscalerError):
    """The pause store cannot be read or written; the message says which store and why."""


def encode(pauses: Iterable[Pause]) -> bytes:
    items = sorted(pauses, key=lambda pause: pause.scope)
    if len(items) > MAX_PAUSES:
        raise PauseStoreError(f"at most {MAX_PAUSES} pauses are kept at once; resume some first")
    payload = {"version": VERSION, "pauses": [pause.to_json() for pause in items]}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _time(item: Mapping[str, Any], key: str, *, where: str) -> datetime:
    value = item.get(key)
    if not isinstance(value, str) or len(value) > 64:
        raise PauseStoreError(f"{where}: {key!r} must be an ISO-8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PauseStoreError(f"{where}: {key!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise PauseStoreError(f"{where}: {key!r} has no timezone")
    return moment


def _text(item: Mapping[str, Any], key: str, *, where: str, limit: int) -> str:
    value = item.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise PauseStoreError(f"{where}: {key!r} must be text of at most {limit} characters")
    return value


def _pause(item: Any, *, where: str) -> Pause:
    if not isinstance(item, dict):
        raise PauseStoreError(f"{where}: expected an object")
    scope = item.get("scope")
    if not isinstance(scope, str):
        raise PauseStoreError(f"{where}: 'scope' must be text")
    problem = scope_problem(scope)
    if problem is not None:
        raise PauseStoreError(f"{where}: {problem}")
    since = _time(item, "since", where=where)
    until = _time(item, "until", where=where)
    if until <= since:
        raise PauseStoreError(f"{where}: 'until' is not after 'since'")
    return Pause(
        scope=scope,
        reason=_text(item, "reason", where=where, limit=MAX_REASON_CHARS),
        by=_text(item, "by", where=where, limit=MAX_WHO_CHARS),
        since=since,
        until=until,
    )


def decode(data: bytes, *, what: str) -> dict[str, Pause]:
    """The pauses of a stored document by scope; an empty document (b"") holds none."""
    if not data.strip():
        return {}
    try:
        document = decode_json(data, what=what, max_bytes=MAX_DOCUMENT_BYTES, max_depth=4)
    except WireError as exc:
        raise PauseStoreError(str(exc)) from None
    if not isinstance(document, dict) or document.get("version") != VERSION:
        raise PauseStoreError(f"{what} is not a pause document of version {VERSION}")
    items = document.get("pauses")
    if not isinstance(items, list):
        raise PauseStoreError(f"{what}: 'pauses' must be a list")
    if len(items) > MAX_PAUSES:
        raise PauseStoreError(f"{what} holds {len(items)} pauses, more than {MAX_PAUSES}")
    pauses: dict[str, Pause] = {}
    for index, item in enumerate(items):
        pause = _pause(item, where=f"{what}, pause #{index + 1}")
        if pause.scope in pauses:
            raise PauseStoreError(f"{what} holds {pause.scope!r} twice")
        pauses[pause.scope] = pause
    return pauses
