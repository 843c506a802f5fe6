"""The one way to decode JSON that came from outside: bounded in size and nesting, never fatal.

Marathon, the metric sources and webhook receivers are hostile until proven otherwise. A body of a
few kilobytes nested a thousand deep makes a recursive decoder (or anything that later walks the
value, such as repr or validation) raise RecursionError, which is not a ValueError and used to end
the process. `decode_json` refuses such a body before decoding it, refuses a body over the byte
limit, and turns every decoding failure into a `WireError` that names what was read and the limit.

Decoding uses orjson: it is several times faster than the standard library on the two large
answers of a tick (the `/v2/apps` list and grouped metric queries) and cannot overflow the stack.
Where orjson is stricter than the standard library in ways that would lose a whole answer for one
bad field (a number beyond the range of a double, a lone UTF-16 surrogate), the body is decoded
again with the standard library, whose recursion is safe once the nesting is known to be small;
such a field then fails the one app or series that holds it, not the whole answer.

`decode_shaped` is the fast way for an answer whose usual shape is known (Marathon's app list): it
decodes straight into typed structs with msgspec, reading only the fields the service uses and
skipping the rest without building Python objects for them, under the same size and nesting limits.
Anything that is not exactly that shape gives None, and the caller reads the body with
`decode_json`, so an unusual answer is judged, and any error worded, exactly as before.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import msgspec
import orjson

from autoscaler.errors import NotJSON, WireError

__all__ = ["DEFAULT_MAX_DEPTH", "decode_json", "decode_shaped", "nesting_exceeds"]

_T = TypeVar("_T")

DEFAULT_MAX_DEPTH = 64
# Integers longer than this are kept as floats (possibly inf): a count or a timestamp never needs
# more digits, and int() of thousands of digits costs quadratic time.
_MAX_INT_DIGITS = 20

# Braces count as brackets: their kind does not change the depth (a mismatch is not JSON anyway).
_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _brackets_deeper_than(brackets: bytes, limit: int) -> bool | None:
    """Whether a sequence of brackets nests deeper than `limit`; None when it does not balance.

    Each round removes every innermost pair (bytes.replace does not rescan what it joined), so a
    balanced sequence of depth d is empty after exactly d rounds; this runs in C, a few passes over
    a string much smaller than the body.
    """
    for _ in range(limit):
        if not brackets:
            return False
        reduced = brackets.replace(b"[]", b"")
        if reduced == brackets:
            return None
        brackets = reduced
    return bool(brackets)


def nesting_exceeds(data: bytes, limit: int) -> bool:
    """Whether the JSON text `data` nests arrays and objects deeper than `limit`.

    Brackets inside strings are first counted too (cheap, and can only overstate the depth); only
    when that says "too deep" or does not balance are the strings taken out for an exact answer.
    Text that still does not balance is not JSON: it counts as too deep when it opens more than
    `limit` brackets, so no decoder ever recurses into it.
    """
    quick = _brackets_deeper_than(data.translate(_AS_BRACKETS, _NOT_BRACKETS), limit)
    if quick is False:
        return False
    # Outside strings valid JSON has no backslash: drop escaped backslashes, then escaped quotes,
    # and every other piece between two quotes is a string's content.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(_AS_BRACKETS, _NOT_BRACKETS)
    exact = _brackets_deeper_than(brackets, limit)
    if exact is None:
        return brackets.count(b"[") > limit
    return exact


def _int_or_float(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else float(text)


def _no_constants(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _check_limits(data: bytes, *, what: str, max_bytes: int, max_depth: int, setting: str | None) -> None:
    if len(data) > max_bytes:
        raise WireError(
            f"{what}: the answer has {len(data)} bytes, more than the limit of {max_bytes}"
            + (f" ({setting})" if setting else "")
        )
    if nesting_exceeds(data, max_depth):
        raise WireError(f"{what}: the answer nests arrays and objects deeper than the limit of {max_depth}")


def decode_shaped(
    data: bytes,
    decoder: msgspec.json.Decoder[_T],
    *,
    what: str,
    max_bytes: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    setting: str | None = None,
) -> _T | None:
    """`data` decoded into the decoder's type, or None when it is not exactly that shape (or not
    JSON): then `decode_json` reads it. WireError, as `decode_json` words it, for a limit hit."""
    _check_limits(data, what=what, max_bytes=max_bytes, max_depth=max_depth, setting=setting)
    try:
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


def decode_json(
    data: bytes,
    *,
    what: str,
    max_bytes: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    setting: str | None = None,
) -> Any:
    """The JSON value of `data`, or WireError naming `what` and the limit that was hit.

    `setting` is the name of the setting that raises `max_bytes`, quoted in the error.
    """
    _check_limits(data, what=what, max_bytes=max_bytes, max_depth=max_depth, setting=setting)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        strict_error = exc
    try:
        return json.loads(data, parse_int=_int_or_float, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        # orjson's message names the position, never the content
        raise NotJSON(f"{what}: the answer is not JSON ({strict_error})") from None
