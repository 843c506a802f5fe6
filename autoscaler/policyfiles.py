"""Reading policy files from disk into validated Policies, with errors a person can act on.

Layout of a policy directory:
- `*.yaml` / `*.yml`: one policy per file (one service);
- `_defaults.yaml`: optional, deep-merged under every policy (the policy's own values win; lists
  such as `metrics` are replaced, not concatenated);
- `campaigns/*.yaml`: one planned event for many apps, merged into those apps' schedules.

Every problem is reported with the file, the field path and, where YAML gives it, the line. One bad
file never stops the others from loading. How one file is read without trusting it (regular files
only, bounded, never blocking) is `autoscaler.safeyaml`'s.

Policies of many apps are mostly alike (the same metrics, rules and schedules under different app
ids): parts of a policy equal to those of a policy loaded before are shared, not kept once per app,
so 10,000 policies cost a fraction of the memory (see `PartPool`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from autoscaler.core.policy import Campaign, Policy, with_campaigns
from autoscaler.safeyaml import MAX_DEPTH, MAX_FILE_BYTES, FileProblem, Problem, SafeLoader, line_of, read_yaml

__all__ = [  # the reading limits and the loader are safeyaml's, named here as part of loading policies
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "LoadResult",
    "PartPool",
    "Problem",
    "SafeLoader",
    "load_directory",
    "load_paths",
    "unmanaged_campaign_apps",
]

DEFAULTS_FILE = "_defaults.yaml"
CAMPAIGN_DIR = "campaigns"


# The parts of a Policy that are often alike between apps, and the fields their validation may also read.
_SHARED_PARTS = ("metrics", "schedules", "scale_up", "scale_down", "predictive")
_CONTEXT = ("timezone",)


class PartPool:
    """The parts of the policies loaded so far, to hand a later policy the equal part already held.

    A part is looked up by the YAML it was validated from (with the fields its validation may read
    besides its own), and shared only if it is also equal to the one held: the lookup key picks a
    candidate, equality decides. The policy is changed before anyone else holds it, and only to an
    equal value, so it stays what it was as far as anything can tell, in less memory.
    """

    def __init__(self) -> None:
        self._parts: dict[tuple[str, str], object] = {}

    def share(self, policy: Policy, raw: Mapping[str, Any]) -> Policy:
        context = repr([raw.get(name) for name in _CONTEXT])
        for name in _SHARED_PARTS:
            value = getattr(policy, name)
            held = self._parts.setdefault((name, f"{raw.get(name)!r} {context}"), value)
            if held is not value and held == value:
                policy.__dict__[name] = held  # frozen, but freshly validated: nobody holds it yet
        return policy


@dataclass
class LoadResult:
    """Valid policies by app id, the files they came from, and every problem found."""

    policies: dict[str, Policy] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    campaigns: list[Campaign] = field(default_factory=list)
    campaign_sources: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    parts: PartPool = field(default_factory=PartPool, repr=False, compare=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def failed_files(self) -> set[str]:
        return {p.path for p in self.errors}


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
            where = line_of(defaults_node, loc)
            problems.append(Problem(defaults_path, message, field=".".join(map(str, loc)), line=where))
            continue
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        elif error["type"] == "missing":
            message = "required field is missing"
        problems.append(Problem(path, message, field=".".join(map(str, loc)), line=line_of(node, loc)))
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
    """Every policy file name of `root`; whatever is not a regular file is refused when read, not skipped."""
    return sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.name != DEFAULTS_FILE)


def load_paths(paths: Iterable[str | Path], *, strict: bool = False) -> LoadResult:
    """Load policy directories and/or single files. Directories bring their defaults and campaigns.

    `strict` (validate): a campaign entry naming an app without a policy is an error, since on the
    day that app would not be pre-scaled. Otherwise (the running service) it is a warning and the
    campaign's other entries apply. A campaign file given alone is checked against the policies of
    its policy directory.
    """
    result = LoadResult()
    known: set[str] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            _load_dir(path, result)
        elif path.exists():
            parent = path.parent
            defaults = _load_defaults(parent, result) if path.name != DEFAULTS_FILE else {}
            if parent.name == CAMPAIGN_DIR:
                _load_one(path, None, Campaign, {}, result)
                if parent.parent.is_dir():
                    around = LoadResult()
                    _load_dir(parent.parent, around)
                    known.update(around.policies)
            else:
                _load_one(path, None, Policy, defaults, result)
        else:
            result.problems.append(Problem(str(path), "no such file or directory"))
    result.problems.extend(
        unmanaged_campaign_apps(
            [(result.campaign_sources[c.name], c) for c in result.campaigns],
            managed=known | result.policies.keys(),
            strict=strict,
        )
    )
    _apply_campaigns(result)
    return result


def unmanaged_campaign_apps(
    campaigns: Iterable[tuple[str, Campaign]], *, managed: Collection[str], strict: bool = False
) -> list[Problem]:
    """One problem per campaign (by file) that names apps no policy manages, listing them.

    Their floors are ignored and the campaign's other entries apply; `strict` makes it an error.
    """
    problems = []
    for path, campaign in campaigns:
        unknown = [app_id for app_id in campaign.apps if app_id not in managed]
        if not unknown:
            continue
        listed = ", ".join(unknown)
        if strict:
            message = (
                f"names {listed}, which no policy manages: not pre-scaled by this campaign "
                "(check the app id, or add a policy)"
            )
        else:
            message = (
                f"names {listed}, which no policy manages: ignored ({len(unknown)} of {len(campaign.apps)} "
                "entries); the other apps of the campaign get their floors"
            )
        problems.append(Problem(path, message, field="apps", severity="error" if strict else "warning"))
    return problems


def load_directory(root: str | Path) -> LoadResult:
    return load_paths([root])


class _Defaults(dict[str, Any]):
    """The fields of `_defaults.yaml`, with the YAML node they came from (for the lines of errors)."""

    node: yaml.Node | None = None


def _load_defaults(root: Path, result: LoadResult) -> dict[str, Any]:
    path = root / DEFAULTS_FILE
    if not os.path.lexists(path):
        return {}
    result.files.append(str(path))
    try:
        data, node = read_yaml(path, root)
    except FileProblem as exc:
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
        data, node = read_yaml(path, root)
    except FileProblem as exc:
        result.problems.append(exc.problem)
        return
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else type(data).__name__
        result.problems.append(Problem(shown, f"expected a mapping of fields at the top level, got {kind}", line=1))
        return
    merged = _merge(defaults, data)
    try:
        parsed = model.model_validate(merged)
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
    result.policies[parsed.app] = result.parts.share(parsed, merged)
    result.sources[parsed.app] = shown


def _apply_campaigns(result: LoadResult) -> None:
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
