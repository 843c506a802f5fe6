"""Reading policy files from disk into validated Policies, with errors a person can act on.

Layout of a policy directory:
- `*.yaml` / `*.yml`: one policy per file (one service);
- `_defaults.yaml`: optional, deep-merged under every policy (the policy's own values win; lists
  such as `metrics` are replaced, not concatenated);
- `campaigns/*.yaml`: one planned event for many apps, merged into those apps' schedules.

Every problem is reported with the file, the field path and, where YAML gives it, the line. One bad
file never stops the others from loading. Files over 1 MiB and symlinks that lead out of the
directory are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from autoscaler.core.policy import Campaign, Policy, with_campaigns

try:  # the C loader is several times faster; fall back when libyaml is absent
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

_BOOL_TAG = "tag:yaml.org,2002:bool"


class SafeLoader(_BaseLoader):
    """The safe loader with YAML 1.2's booleans: only true/false (any case), so that `mode: on`,
    `yes`, `no` and `off` stay the words they are instead of YAML 1.1's booleans."""


SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
SafeLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 32
DEFAULTS_FILE = "_defaults.yaml"
CAMPAIGN_DIR = "campaigns"


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


@dataclass
class LoadResult:
    """Valid policies by app id, the files they came from, and every problem found."""

    policies: dict[str, Policy] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    campaigns: list[Campaign] = field(default_factory=list)
    campaign_sources: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def failed_files(self) -> set[str]:
        return {p.path for p in self.errors}


class _FileError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _read_yaml(path: Path, root: Path | None) -> tuple[Any, yaml.Node | None]:
    """Parse one file; returns the data and the node tree (for line numbers)."""
    shown = str(path)
    if root is not None:
        # Resolved, not only when the file itself is a link: a linked `campaigns/` leads out as well.
        target = path.resolve()
        if not target.is_relative_to(root.resolve()):
            raise _FileError(Problem(shown, "symlink leads outside the policy directory; not followed"))
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _FileError(Problem(shown, f"file is {size} bytes; policy files are limited to {MAX_FILE_BYTES}"))
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _FileError(Problem(shown, f"cannot read: {exc}")) from exc
    try:
        node = yaml.compose(text, Loader=SafeLoader)
        data = yaml.load(text, Loader=SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise _FileError(Problem(shown, f"YAML syntax error: {exc.problem or exc}", line=line)) from exc
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise _FileError(Problem(shown, f"YAML error: {exc}")) from exc
    duplicate = _duplicate_key(node)
    if duplicate is not None:
        key, line = duplicate
        raise _FileError(Problem(shown, f"the key {key!r} appears twice in one mapping", field=key, line=line))
    if _depth(data) > MAX_DEPTH:
        raise _FileError(Problem(shown, f"nesting deeper than {MAX_DEPTH} levels"))
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


def _line_of(node: yaml.Node | None, loc: Iterable[int | str]) -> int | None:
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


def _validation_problems(
    path: str,
    exc: ValidationError,
    node: yaml.Node | None,
    *,
    own_keys: Iterable[str] = (),
    defaults_path: str | None = None,
    defaults_node: yaml.Node | None = None,
) -> list[Problem]:
    """One Problem per pydantic error; an error in a field the file does not set but
    `_defaults.yaml` does is reported against `_defaults.yaml`."""
    own = set(own_keys)
    problems = []
    for error in exc.errors():
        loc = [part for part in error["loc"] if isinstance(part, int | str)]
        if defaults_path is not None and loc and loc[0] not in own:
            message = error["msg"].removeprefix("Value error, ")
            where = _line_of(defaults_node, loc)
            problems.append(Problem(defaults_path, message, field=".".join(map(str, loc)), line=where))
            continue
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        elif error["type"] == "missing":
            message = "required field is missing"
        problems.append(Problem(path, message, field=".".join(map(str, loc)), line=_line_of(node, loc)))
    return problems


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _policy_paths(root: Path) -> list[Path]:
    return sorted(
        p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.name != DEFAULTS_FILE and p.is_file()
    )


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Load policy directories and/or single files. Directories bring their defaults and campaigns."""
    result = LoadResult()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            _load_dir(path, result)
        elif path.exists():
            parent = path.parent
            defaults = _load_defaults(parent, result) if path.name != DEFAULTS_FILE else {}
            if parent.name == CAMPAIGN_DIR:
                _load_one(path, None, Campaign, {}, result)
            else:
                _load_one(path, None, Policy, defaults, result)
        else:
            result.problems.append(Problem(str(path), "no such file or directory"))
    _apply_campaigns(result)
    return result


def load_directory(root: str | Path) -> LoadResult:
    return load_paths([root])


class _Defaults(dict[str, Any]):
    """The fields of `_defaults.yaml`, with the YAML node they came from (for the lines of errors)."""

    node: yaml.Node | None = None


def _load_defaults(root: Path, result: LoadResult) -> dict[str, Any]:
    path = root / DEFAULTS_FILE
    if not path.exists():
        return {}
    result.files.append(str(path))
    try:
        data, node = _read_yaml(path, root)
    except _FileError as exc:
        result.problems.append(exc.problem)
        return {}
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        result.problems.append(Problem(str(path), "expected a mapping of default fields", line=1))
        return {}
    defaults = _Defaults(data)
    defaults.node = node
    return defaults


def _load_dir(root: Path, result: LoadResult) -> None:
    defaults = _load_defaults(root, result)
    for path in _policy_paths(root):
        _load_one(path, root, Policy, defaults, result)
    campaign_dir = root / CAMPAIGN_DIR
    if campaign_dir.is_dir():
        for path in sorted(p for p in campaign_dir.iterdir() if p.suffix in (".yaml", ".yml")):
            _load_one(path, root, Campaign, {}, result)


def _load_one(
    path: Path, root: Path | None, model: type[BaseModel], defaults: Mapping[str, Any], result: LoadResult
) -> None:
    shown = str(path)
    result.files.append(shown)
    try:
        data, node = _read_yaml(path, root)
    except _FileError as exc:
        result.problems.append(exc.problem)
        return
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else type(data).__name__
        result.problems.append(Problem(shown, f"expected a mapping of fields at the top level, got {kind}", line=1))
        return
    try:
        parsed = model.model_validate(_merge(defaults, data))
    except ValidationError as exc:
        defaults_path = str(path.parent / DEFAULTS_FILE) if defaults else None
        defaults_node = defaults.node if isinstance(defaults, _Defaults) else None
        problems = _validation_problems(
            shown, exc, node, own_keys=data.keys(), defaults_path=defaults_path, defaults_node=defaults_node
        )
        for problem in problems:
            if problem not in result.problems:
                result.problems.append(problem)
        return
    if isinstance(parsed, Campaign):
        if parsed.name in result.campaign_sources:
            first = result.campaign_sources[parsed.name]
            result.problems.append(Problem(shown, f"a second campaign named {parsed.name} (first in {first})"))
            return
        result.campaigns.append(parsed)
        result.campaign_sources[parsed.name] = shown
        return
    assert isinstance(parsed, Policy)
    if parsed.app in result.policies:
        result.problems.append(
            Problem(shown, f"a second policy for {parsed.app} (first in {result.sources[parsed.app]})", field="app")
        )
        return
    result.policies[parsed.app] = parsed
    result.sources[parsed.app] = shown


def _apply_campaigns(result: LoadResult) -> None:
    for campaign in result.campaigns:
        for app_id in campaign.apps:
            if app_id not in result.policies:
                result.problems.append(
                    Problem(
                        result.campaign_sources[campaign.name],
                        f"names {app_id}, which has no policy; its floor is ignored",
                        field=f"apps.{app_id}",
                        severity="warning",
                    )
                )
    for app_id, original in list(result.policies.items()):
        policy = original
        for campaign in result.campaigns:
            if app_id not in campaign.apps:
                continue
            try:
                policy = with_campaigns(policy, [campaign])
            except ValidationError as exc:
                message = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                result.problems.append(
                    Problem(
                        result.campaign_sources[campaign.name],
                        f"not applied to {app_id}: {message}",
                        field=f"apps.{app_id}",
                    )
                )
        result.policies[app_id] = policy
