"""Immutable values whose explanation is written only when someone reads it.

Most decisions of a live tick are holds that nobody reads, yet formatting their arithmetic was most of
a tick's cost. A value that derives from `LazyDetail` takes its `detail` as text or as a function
that makes the text once, on first read; equality, hashing, repr and pickling see the text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError
from typing import Any, ClassVar


class LazyDetail:
    """Base of frozen values with named fields (`_FIELDS`, in order) and a lazily made `detail`."""

    __slots__ = ("_detail",)
    _FIELDS: ClassVar[tuple[str, ...]] = ()
    _detail: str | Callable[[], str]

    def _init(self, detail: str | Callable[[], str], **values: object) -> None:
        for name in self._FIELDS:
            object.__setattr__(self, name, values[name])
        object.__setattr__(self, "_detail", detail)

    @property
    def detail(self) -> str:
        detail = self._detail
        if not isinstance(detail, str):
            detail = detail()
            object.__setattr__(self, "_detail", detail)
        return detail

    def _fields(self) -> tuple[Any, ...]:
        return (*(getattr(self, name) for name in self._FIELDS), self.detail)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, LazyDetail)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        names = (*self._FIELDS, "detail")
        pairs = ", ".join(f"{name}={value!r}" for name, value in zip(names, self._fields(), strict=True))
        return f"{type(self).__name__}({pairs})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._fields())

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")
