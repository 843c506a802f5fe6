"""One YAML file from a directory an operator controls, read as untrusted input.

Only a regular file with one link inside the directory is read (no FIFO, socket or device, no
symlink or hard link leading elsewhere), without blocking and up to MAX_FILE_BYTES; it is parsed
with YAML 1.2's booleans and numbers, refused when a key appears twice in one mapping or when it
nests deeper than MAX_DEPTH, and the YAML node tree is kept so that an error can name its line.
Every failure is a `Problem` (file, message, field, line) that a person can act on.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

try:  # the C loader is several times faster; fall back when libyaml is absent
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_YAML11_SCALARS = (_BOOL_TAG, _INT_TAG, _FLOAT_TAG)


class SafeLoader(_BaseLoader):
    """The safe loader with YAML 1.2's (core schema) booleans and numbers.

    Only true and false (also True, TRUE, False, FALSE) are booleans, so `mode: on`, `yes`, `no` and
    `off` stay the words they are; numbers are decimal (or 0x hexadecimal), so `lead: 1:30` stays
    text (YAML 1.1 reads it as 90 in base 60) and `010` is ten, not YAML 1.1's octal eight.
    """


SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML11_SCALARS]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
SafeLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
SafeLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
SafeLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)

MAX_FILE_BYTES = 1024 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
MAX_DEPTH = 32


@dataclass(frozen=True)
class Problem:
    """One error or warning about one file."""

    path: str
    message: str
    field: str = ""
    line: int | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line else "")
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {self.severity}: {what}{self.message}"


class FileProblem(Exception):
    """A file that cannot be read or parsed; `problem` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _read_text(path: Path, root: Path | None) -> str:
    """The text of one policy file: a regular file inside the policy directory, read without blocking.

    Symlinks are resolved and must stay inside `root`. Only a regular file with one link is read: a
    FIFO would block the reader for ever, a device or a socket is no policy, and a second hard link
    may be a file outside the directory. The file is opened without following a last symlink and
    without blocking, and what was opened must be the file that was checked (same inode).
    """
    shown = str(path)
    # Resolved, not only when the file itself is a link: a linked `campaigns/` leads out as well.
    target = path.resolve()
    if root is not None and not target.is_relative_to(root.resolve()):
        raise FileProblem(Problem(shown, "symlink leads outside the policy directory; not followed"))
    try:
        checked = os.lstat(target)
        kind = _kind(checked.st_mode)
        if kind is not None:
            raise FileProblem(Problem(shown, f"is {kind}, not a regular file; not read"))
        if checked.st_nlink > 1:
            raise FileProblem(
                Problem(
                    shown,
                    f"has {checked.st_nlink} hard links, so it may be a file outside the policy directory; "
                    "not read (copy the file instead of linking it)",
                )
            )
        descriptor = os.open(target, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        try:
            opened = os.fstat(descriptor)
            if (opened.st_dev, opened.st_ino) != (checked.st_dev, checked.st_ino) or _kind(opened.st_mode):
                raise FileProblem(
                    Problem(shown, "changed while it was being opened; not read (the next reload reads it)")
                )
            if opened.st_size > MAX_FILE_BYTES:
                raise FileProblem(
                    Problem(shown, f"file is {opened.st_size} bytes; policy files are limited to {MAX_FILE_BYTES}")
                )
            data = _read_at_most(descriptor, MAX_FILE_BYTES + 1)
        finally:
            os.close(descriptor)
        if len(data) > MAX_FILE_BYTES:
            raise FileProblem(Problem(shown, f"file is over {MAX_FILE_BYTES} bytes; policy files are limited to that"))
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(Problem(shown, f"cannot read: {exc}")) from exc


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(descriptor, min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_yaml(path: Path, root: Path | None) -> tuple[Any, yaml.Node | None]:
    """Parse one file; returns the data and the node tree (for line numbers)."""
    shown = str(path)
    text = _read_text(path, root)
    try:
        node = yaml.compose(text, Loader=SafeLoader)
        data = yaml.load(text, Loader=SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise FileProblem(Problem(shown, f"YAML syntax error: {exc.problem or exc}", line=line)) from exc
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise FileProblem(Problem(shown, f"YAML error: {exc}")) from exc
    duplicate = _duplicate_key(node)
    if duplicate is not None:
        key, line = duplicate
        raise FileProblem(Problem(shown, f"the key {key!r} appears twice in one mapping", field=key, line=line))
    if _depth(data) > MAX_DEPTH:
        raise FileProblem(Problem(shown, f"nesting deeper than {MAX_DEPTH} levels"))
    return data, node


def _depth(data: Any) -> int:
    """How deeply containers nest, counting each shared (aliased) container once, so neither a
    cycle nor an alias bomb makes this walk long; stops counting past MAX_DEPTH."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(data, 0)]
    visited: set[int] = set()
    while pending:
        item, level = pending.pop()
        if not isinstance(item, Mapping | list) or id(item) in visited:
            continue
        visited.add(id(item))
        deepest = max(deepest, level + 1)
        if deepest > MAX_DEPTH:
            return deepest
        children = item.values() if isinstance(item, Mapping) else item
        pending.extend((child, level + 1) for child in children)
    return deepest


def _duplicate_key(node: yaml.Node | None) -> tuple[str, int] | None:
    """The first key written twice in one mapping (YAML would silently keep the last one)."""
    pending = [node] if node is not None else []
    visited: set[int] = set()  # aliases share nodes (and may form cycles): visit each once
    while pending:
        current = pending.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in current.value:
                key = str(getattr(key_node, "value", ""))
                if key in seen:
                    return key, key_node.start_mark.line + 1
                seen.add(key)
                pending.append(value_node)
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)
    return None


def line_of(node: yaml.Node | None, loc: Iterable[int | str]) -> int | None:
    """The line of the YAML node at a pydantic error location, or of its nearest ancestor."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if getattr(key_node, "value", None) == key:
                    child = value_node
                    line = key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            child = node.value[key]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
