"""Policy hot reload: edit a policy file and the running service follows, without a restart.

A restart would forget the engine's in-memory history (and hold scale-downs for a stabilisation
window), so policies are re-read in place: when a file under the policy directory changes (its
names, sizes, modification times and inodes are polled every few seconds; a poll is a handful of
stat calls, which needs no file-watching dependency and works on every mount, including network
and container volumes where inotify events do not arrive) and on demand (`trigger()`, for SIGHUP).

A mistake in one file must not stop the management of any app, so the merge keeps, per file, the
last valid version:
- a policy or campaign file that is now invalid keeps its last valid version in force, and the
  problem is reported (logged, and listed in `problems` for readiness and metrics);
- a deleted file stops the management of its app, which stays at its current instance count;
- a new valid file starts the management of its app;
- `_defaults.yaml` is merged under every policy, so while it is invalid nothing changes at all: the
  last valid policies stay in force until it is fixed.
The merge (`merge`) is a pure function of the last state and a fresh LoadResult.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from autoscaler.core.policy import Campaign, Policy, with_campaigns
from autoscaler.policyfiles import (
    CAMPAIGN_DIR,
    DEFAULTS_FILE,
    LoadResult,
    Problem,
    load_directory,
    unmanaged_campaign_apps,
)

OnChange = Callable[[dict[str, Policy], list[Problem]], None]
Fingerprint = tuple[tuple[str, int, int, int, int, int], ...]

DEFAULT_POLL_INTERVAL = 5.0
_SETTLE = 0.5  # wait this long for a file being written to stop changing
_YAML = (".yaml", ".yml")


@dataclass(frozen=True)
class InForce:
    """The last valid version of every file: policies without campaign floors, and campaigns."""

    policies: Mapping[str, Policy] = field(default_factory=dict)  # by file
    campaigns: Mapping[str, Campaign] = field(default_factory=dict)  # by file


@dataclass(frozen=True)
class Merged:
    state: InForce
    policies: dict[str, Policy]  # by app id, campaigns applied: what the loop runs
    problems: list[Problem]
    changes: list[str]  # what changed, in words, for the log


def _base(policy: Policy, campaign_names: set[str]) -> Policy:
    """The policy without the schedules that campaigns added to it."""
    names = {f"campaign:{name}" for name in campaign_names}
    if not any(s.name in names for s in policy.schedules):
        return policy
    return policy.model_copy(update={"schedules": tuple(s for s in policy.schedules if s.name not in names)})


def _apply(state: InForce, problems: list[Problem]) -> dict[str, Policy]:
    by_app: dict[str, Policy] = {}
    campaigns = sorted(state.campaigns.items(), key=lambda item: item[0])
    for _, policy in sorted(state.policies.items(), key=lambda item: item[0]):
        applied = policy
        for path, campaign in campaigns:
            if policy.app not in campaign.apps:
                continue
            try:
                applied = with_campaigns(applied, [campaign])
            except (ValidationError, ValueError) as exc:
                problem = Problem(path, f"not applied to {policy.app}: {exc}", field=f"apps.{policy.app}")
                if problem not in problems:
                    problems.append(problem)
        by_app[policy.app] = applied
    return by_app


def initial_state(loaded: LoadResult) -> InForce:
    """What is in force after the start-up load."""
    names = {c.name for c in loaded.campaigns}
    return InForce(
        policies={loaded.sources[app]: _base(policy, names) for app, policy in loaded.policies.items()},
        campaigns={loaded.campaign_sources[c.name]: c for c in loaded.campaigns},
    )


def _broken_defaults(loaded: LoadResult) -> str | None:
    """The defaults file when it could not be used at all (unreadable, bad YAML, not a mapping).

    The loader then merges nothing under the policies, which would silently change every one of
    them. A defaults value that fails validation is different: it is reported per field without a
    line, the policies it breaks fail on their own, and each keeps its last valid version.
    """
    for problem in loaded.errors:
        path = Path(problem.path)
        whole_file = problem.line is not None or not problem.field
        if path.name == DEFAULTS_FILE and path.parent.name != CAMPAIGN_DIR and whole_file:
            return problem.path
    return None


def merge(previous: InForce, loaded: LoadResult) -> Merged:
    """The policies in force after a reload that produced `loaded`, keeping per file the last
    valid version of each file that is present but invalid now."""
    # The loader judged campaign entries against the freshly valid policies only; what is in force
    # also keeps the last valid version of invalid files, so they are judged again below.
    judged_by_loader = unmanaged_campaign_apps(
        [(loaded.campaign_sources[c.name], c) for c in loaded.campaigns], managed=loaded.policies.keys()
    )
    problems = [p for p in loaded.problems if p not in judged_by_loader]
    old = _apply(previous, [])
    present = set(loaded.files)

    broken = _broken_defaults(loaded)
    if broken is not None:
        problems.append(
            Problem(broken, "is invalid: every policy stays as it was until it is fixed", severity="warning")
        )
        problems.extend(unmanaged_campaign_apps(sorted(previous.campaigns.items()), managed=old.keys()))
        return Merged(previous, old, problems, [])

    fresh_names = {c.name for c in loaded.campaigns}
    policies: dict[str, Policy] = {
        loaded.sources[app]: _base(policy, fresh_names) for app, policy in loaded.policies.items()
    }
    campaigns: dict[str, Campaign] = {loaded.campaign_sources[c.name]: c for c in loaded.campaigns}
    changes: list[str] = []

    kept = _keep_policies(previous, policies=policies, present=present, changes=changes)
    _keep_campaigns(previous, campaigns=campaigns, present=present, changes=changes, problems=problems)
    for path, app in kept:
        names = sorted(c.name for c in campaigns.values() if app in c.apps)
        floors = f", and so the floor of campaign {', '.join(names)}," if names else ""
        problems.append(
            Problem(path, f"is invalid: the last valid policy for {app}{floors} stays in force", severity="warning")
        )
    state = InForce(policies=policies, campaigns=campaigns)
    new = _apply(state, problems)
    problems.extend(unmanaged_campaign_apps(sorted(campaigns.items()), managed=new.keys()))
    changes.extend(_managed_changes(old, new, changes))
    return Merged(state, new, problems, changes)


def _keep_policies(
    previous: InForce, *, policies: dict[str, Policy], present: set[str], changes: list[str]
) -> list[tuple[str, str]]:
    """Keep in `policies` the last valid policy of each file present but invalid now, unless its app
    has a valid policy in another file; say in `changes` what went. Returns the (file, app) kept."""
    fresh_apps = {policy.app for policy in policies.values()}
    kept: list[tuple[str, str]] = []
    for path, policy in sorted(previous.policies.items()):
        if path in policies:
            continue
        if path not in present:
            changes.append(f"{path} was deleted: {policy.app} is no longer managed (left at its current count)")
        elif policy.app in fresh_apps:
            changes.append(f"{path} is invalid and {policy.app} now has a policy in another file")
        else:
            policies[path] = policy
            fresh_apps.add(policy.app)
            kept.append((path, policy.app))
    return kept


def _keep_campaigns(
    previous: InForce,
    *,
    campaigns: dict[str, Campaign],
    present: set[str],
    changes: list[str],
    problems: list[Problem],
) -> None:
    """Keep in `campaigns` the last valid version of each campaign file present but invalid now, unless
    a valid file holds a campaign of that name; say so in `problems`, and in `changes` what went."""
    fresh_campaigns = {c.name for c in campaigns.values()}
    for path, campaign in sorted(previous.campaigns.items()):
        if path in campaigns:
            continue
        if path not in present:
            changes.append(f"{path} was deleted: campaign {campaign.name} no longer applies")
        elif campaign.name not in fresh_campaigns:
            campaigns[path] = campaign
            fresh_campaigns.add(campaign.name)
            problems.append(
                Problem(
                    path,
                    f"is invalid: the last valid version of campaign {campaign.name} stays in force",
                    severity="warning",
                )
            )


def _managed_changes(old: dict[str, Policy], new: dict[str, Policy], said: list[str]) -> list[str]:
    """The apps that became managed, stopped being managed (unless `said` already names them) or
    had their policy changed between `old` and `new`."""
    changes = [f"{app} is now managed" for app in sorted(new.keys() - old.keys())]
    changes += [
        f"{app} is no longer managed"
        for app in sorted(old.keys() - new.keys())
        if not any(app in change for change in (*said, *changes))
    ]
    changes += [f"{app}: policy updated" for app in sorted(old.keys() & new.keys()) if old[app] != new[app]]
    return changes


def fingerprint(root: Path) -> Fingerprint:
    """Names, sizes, modification times, inodes, link counts and file types of every file a load reads.

    Only stat calls, which never block, whatever the file is (a FIFO is refused by the load itself);
    a new hard link or a file replaced by a FIFO counts as a change, so the load reports it.
    """
    entries: list[tuple[str, int, int, int, int, int]] = []
    for directory in (root, root / CAMPAIGN_DIR):
        try:
            with os.scandir(directory) as listing:
                for entry in listing:
                    if not entry.name.endswith(_YAML):
                        continue
                    try:
                        info = entry.stat()  # follows links: a swapped link target counts as a change
                    except OSError:
                        continue
                    entries.append(
                        (
                            str(Path(directory, entry.name)),
                            info.st_size,
                            info.st_mtime_ns,
                            info.st_ino,
                            info.st_nlink,
                            stat.S_IFMT(info.st_mode),
                        )
                    )
        except OSError:
            continue
    return tuple(sorted(entries))


class PolicyReloader:
    """Re-reads the policy directory when it changes or when `trigger()` is called.

    `on_change(policies, problems)` is called, in the event loop, after every reload whose merged
    policies or problems differ from the previous ones. Start with `start()` in the running loop
    (or await `run(stop)`), and stop with `aclose()`.
    """

    def __init__(
        self,
        policy_dir: str | Path,
        *,
        on_change: OnChange,
        logger: logging.Logger,
        initial: LoadResult | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        settle: float = _SETTLE,
    ) -> None:
        self._root = Path(policy_dir)
        self._on_change = on_change
        self._log = logger
        self._poll = poll_interval
        self._settle = settle
        seed = initial if initial is not None else load_directory(self._root)
        self._state = initial_state(seed)
        self._policies = _apply(self._state, [])
        self._problems = list(seed.problems)
        self._fingerprint: Fingerprint | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.reloads = 0

    @property
    def policies(self) -> dict[str, Policy]:
        return dict(self._policies)

    @property
    def problems(self) -> list[Problem]:
        """Problems of the last reload (errors and warnings), for readiness and metrics."""
        return list(self._problems)

    @property
    def error_count(self) -> int:
        return sum(1 for p in self._problems if p.severity == "error")

    def trigger(self) -> None:
        """Ask for a reload now (safe to call from a signal handler installed with add_signal_handler)."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self.run(self._stop), name="policy reload")

    async def aclose(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every `poll_interval` seconds (0: never) or wake on `trigger()`, until `stop` is set."""
        self._fingerprint = await asyncio.to_thread(fingerprint, self._root)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):  # a poll interval of 0 waits for trigger() only
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll if self._poll > 0 else None)
            if stop.is_set():
                return
            if self._wake.is_set():
                self._wake.clear()
                await self.reload(reason="signal")
                continue
            current = await asyncio.to_thread(fingerprint, self._root)
            if current != self._fingerprint:
                await self.reload(reason="file change")

    async def reload(self, *, reason: str) -> bool:
        """Re-read the directory once files have stopped changing; True when what is in force changed."""
        try:
            current = await asyncio.to_thread(fingerprint, self._root)
            for _ in range(10):  # a file being written: wait until two looks agree
                await asyncio.sleep(self._settle)
                again = await asyncio.to_thread(fingerprint, self._root)
                if again == current:
                    break
                current = again
            loaded = await asyncio.to_thread(load_directory, self._root)
            self._fingerprint = current
            merged = merge(self._state, loaded)
        except Exception:  # a reload must never end the service
            self._log.exception("policy reload failed", extra={"fields": {"event": "policy_reload_failed"}})
            return False
        self.reloads += 1
        for change in merged.changes:
            self._log.info("policy reload: %s", change, extra={"fields": {"event": "policy_change"}})
        for problem in merged.problems:
            if problem not in self._problems:
                level = logging.ERROR if problem.severity == "error" else logging.WARNING
                self._log.log(
                    level,
                    "policy %s",
                    problem,
                    extra={"fields": {"event": "policy_error", "file": problem.path}},
                )
        changed = merged.policies != self._policies or merged.problems != self._problems
        self._state = merged.state
        self._policies = merged.policies
        self._problems = merged.problems
        self._log.info(
            "policies reloaded (%s): %d apps, %d errors%s",
            reason,
            len(merged.policies),
            self.error_count,
            "" if changed else ", nothing changed",
            extra={"fields": {"event": "policy_reload", "apps": sorted(merged.policies), "changed": changed}},
        )
        if changed:
            try:
                self._on_change(dict(merged.policies), list(merged.problems))
            except Exception:
                self._log.exception("applying reloaded policies failed", extra={"fields": {"event": "policy_reload"}})
        return changed
