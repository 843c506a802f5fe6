"""Frozen dataclass values made without their generated `__init__`, where thousands are made a tick.

A frozen dataclass's `__init__` sets each field through `object.__setattr__`: a few microseconds per
value, and the loop makes several values per app per tick (samples, observations, the History, a
reused decision stamped with its tick), which at 10,000 apps was a good part of a tick's CPU. These
two functions make the very same value by filling its `__dict__` at once. They are for plain frozen
dataclasses only (no `__slots__`, no `__post_init__`, no validation in `__init__`), and `assemble`
must be given every field; `tests/core/test_frozen.py` checks both for every class they are used on.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["assemble", "replaced"]

_T = TypeVar("_T")


def assemble(cls: type[_T], fields: dict[str, Any]) -> _T:
    """`cls(**fields)`, for a plain frozen dataclass given all its fields."""
    value = object.__new__(cls)
    value.__dict__.update(fields)
    return value


def replaced(value: _T, **changes: Any) -> _T:
    """`dataclasses.replace(value, **changes)`, for a plain frozen dataclass."""
    copy = object.__new__(type(value))
    copy.__dict__.update(value.__dict__)
    copy.__dict__.update(changes)
    return copy
