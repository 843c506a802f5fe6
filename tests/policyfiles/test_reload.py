"""Policy hot reload: the merge keeps the last valid version per file, the reloader follows the
directory (polling and trigger()), and what it hands to on_change is what should be in force."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from autoscaler.core.policy import Policy
from autoscaler.policyfiles import LoadResult, Problem, load_directory
from autoscaler.reload import InForce, PolicyReloader, fingerprint, initial_state, merge

LOG = logging.getLogger("test.reload")

DEFAULTS = "tolerance: 0.1\nscale_down: {cooldown: 5m}\n"
CAMPAIGN = (
    "name: sale\nstart: '2026-11-11T00:00:00+08:00'\nend: '2026-11-11T03:00:00+08:00'\napps: {'/shop/api': FLOOR}\n"
)


def policy_text(app: str, max_instances: int = 10) -> str:
    return f"app: {app}\nmin_instances: 1\nmax_instances: {max_instances}\n"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    # make every rewrite visible to the poll even on file systems with coarse timestamps
    stamp = time.time_ns() + 10**9 * len(text)
    os.utime(path, ns=(stamp, stamp))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "_defaults.yaml", DEFAULTS)
    write(tmp_path, "api.yaml", policy_text("/shop/api"))
    write(tmp_path, "web.yaml", policy_text("/shop/web"))
    write(tmp_path, "campaigns/sale.yaml", CAMPAIGN.replace("FLOOR", "5"))
    return tmp_path


def schedules(policy: Policy) -> list[tuple[str, int | None]]:
    return [(s.name, s.min_instances) for s in policy.schedules]


# ------------------------------------------------------------------------------- the pure merge


def pol(app: str, max_instances: int = 10) -> Policy:
    return Policy(app=app, min_instances=1, max_instances=max_instances)


def loaded(policies: dict[str, Policy], files: list[str], problems: list[Problem] | None = None) -> LoadResult:
    """A LoadResult as the loader makes it: `policies` by file, plus the files that failed."""
    return LoadResult(
        policies={p.app: p for p in policies.values()},
        sources={p.app: path for path, p in policies.items()},
        problems=problems or [],
        files=files,
    )


def test_merge_valid_change_replaces_the_policy() -> None:
    before = InForce(policies={"a.yaml": pol("/a")})
    merged = merge(before, loaded({"a.yaml": pol("/a", 20)}, ["a.yaml"]))
    assert merged.policies["/a"].max_instances == 20
    assert merged.changes == ["/a: policy updated"]


def test_merge_invalid_file_keeps_its_last_valid_version() -> None:
    before = InForce(policies={"a.yaml": pol("/a"), "b.yaml": pol("/b")})
    bad = Problem("a.yaml", "min_instances (5) is above max_instances (2)")
    merged = merge(before, loaded({"b.yaml": pol("/b", 30)}, ["a.yaml", "b.yaml"], [bad]))
    assert merged.policies["/a"] == pol("/a")  # the old one stays in force
    assert merged.policies["/b"].max_instances == 30  # the other file's change still applies
    assert bad in merged.problems
    assert any(p.path == "a.yaml" and "last valid policy for /a stays in force" in p.message for p in merged.problems)


def test_merge_deleted_file_stops_management_and_new_file_starts_it() -> None:
    before = InForce(policies={"a.yaml": pol("/a"), "b.yaml": pol("/b")})
    merged = merge(before, loaded({"b.yaml": pol("/b"), "c.yaml": pol("/c")}, ["b.yaml", "c.yaml"]))
    assert sorted(merged.policies) == ["/b", "/c"]
    assert any("a.yaml was deleted" in c for c in merged.changes)
    assert "/c is now managed" in merged.changes


def test_merge_invalid_file_without_a_valid_past_manages_nothing() -> None:
    bad = Problem("new.yaml", "YAML syntax error", line=2)
    merged = merge(InForce(), loaded({}, ["new.yaml"], [bad]))
    assert merged.policies == {} and merged.problems == [bad]


def test_merge_kept_version_yields_to_a_fresh_policy_for_the_same_app() -> None:
    before = InForce(policies={"a.yaml": pol("/a")})
    bad = Problem("a.yaml", "bad")
    merged = merge(before, loaded({"moved.yaml": pol("/a", 7)}, ["a.yaml", "moved.yaml"], [bad]))
    assert merged.policies["/a"].max_instances == 7


def test_merge_unusable_defaults_keep_everything() -> None:
    before = InForce(policies={"a.yaml": pol("/a")})
    broken = Problem("/p/_defaults.yaml", "YAML syntax error: oops", line=3)
    merged = merge(
        before, loaded({"a.yaml": pol("/a", 99), "n.yaml": pol("/n")}, ["/p/_defaults.yaml", "a.yaml"], [broken])
    )
    assert merged.policies == {"/a": pol("/a")}
    assert merged.state == before
    assert any("every policy stays as it was" in p.message for p in merged.problems)


# ------------------------------------------------------------------ merge over real directories


def test_initial_state_round_trips_campaigns(root: Path) -> None:
    first = load_directory(root)
    state = initial_state(first)
    assert merge(state, first).policies == first.policies
    assert schedules(first.policies["/shop/api"]) == [("campaign:sale", 5)]


def test_invalid_campaign_keeps_its_last_valid_floor(root: Path) -> None:
    state = initial_state(load_directory(root))
    write(root, "campaigns/sale.yaml", CAMPAIGN.replace("FLOOR", "-3"))
    merged = merge(state, load_directory(root))
    assert schedules(merged.policies["/shop/api"]) == [("campaign:sale", 5)]
    write(root, "campaigns/sale.yaml", CAMPAIGN.replace("FLOOR", "8"))
    merged = merge(merged.state, load_directory(root))
    assert schedules(merged.policies["/shop/api"]) == [("campaign:sale", 8)]


def test_kept_policy_gets_the_new_campaign_floor(root: Path) -> None:
    state = initial_state(load_directory(root))
    write(root, "api.yaml", "app: /shop/api\nmin_instances: [\n")
    write(root, "campaigns/sale.yaml", CAMPAIGN.replace("FLOOR", "9"))
    merged = merge(state, load_directory(root))
    assert schedules(merged.policies["/shop/api"]) == [("campaign:sale", 9)]


def test_a_policy_broken_during_a_campaign_keeps_its_floor_and_the_warning_says_so(root: Path) -> None:
    state = initial_state(load_directory(root))
    api = write(root, "api.yaml", "app: /shop/api\nmin_instances: [\n")
    merged = merge(state, load_directory(root))
    # what actually happens: the last valid policy stays in force, with the campaign's floor
    assert schedules(merged.policies["/shop/api"]) == [("campaign:sale", 5)]
    [kept] = [p for p in merged.problems if p.severity == "warning"]
    assert (kept.path, kept.message) == (
        str(api),
        "is invalid: the last valid policy for /shop/api, and so the floor of campaign sale, stays in force",
    )
    assert not any("ignored" in p.message or "no policy" in p.message for p in merged.problems)


def test_a_campaign_naming_an_app_no_policy_manages_after_a_reload_is_a_warning(root: Path) -> None:
    state = initial_state(load_directory(root))
    campaign = write(
        root, "campaigns/sale.yaml", CAMPAIGN.replace("{'/shop/api': FLOOR}", "{'/shop/api': 5, /shop/gone: 3}")
    )
    merged = merge(state, load_directory(root))
    assert schedules(merged.policies["/shop/api"]) == [("campaign:sale", 5)]  # the other entry applies
    [warning] = merged.problems
    assert (warning.path, warning.severity, warning.field) == (str(campaign), "warning", "apps")
    assert warning.message.startswith("names /shop/gone, which no policy manages: ignored (1 of 2 entries)")
    # a policy file that breaks without a valid past: its campaign entry is ignored, and said so once
    (root / "web.yaml").unlink()
    write(root, "gone.yaml", "app: /shop/gone\nmin_instances: [\n")
    merged = merge(merged.state, load_directory(root))
    assert [p.field for p in merged.problems if p.path == str(campaign)] == ["apps"]


def test_policy_missing_a_field_keeps_its_last_valid_version(root: Path) -> None:
    state = initial_state(load_directory(root))
    write(root, "web.yaml", "app: /shop/web\nmax_instances: 3\n")  # min_instances missing
    merged = merge(state, load_directory(root))
    assert merged.policies["/shop/web"].max_instances == 10
    assert merged.problems


def test_bad_defaults_value_keeps_last_valid_policies(root: Path) -> None:
    state = initial_state(load_directory(root))
    write(root, "_defaults.yaml", "tolerance: 5\n")  # out of range for every policy
    merged = merge(state, load_directory(root))
    assert merged.policies["/shop/api"].tolerance == 0.1
    assert merged.policies["/shop/web"].tolerance == 0.1
    assert any(p.path.endswith("_defaults.yaml") for p in merged.problems)


# --------------------------------------------------------------------------------- the reloader


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Policy], list[Problem]]] = []
        self.changed = asyncio.Event()

    def __call__(self, policies: dict[str, Policy], problems: list[Problem]) -> None:
        self.calls.append((policies, problems))
        self.changed.set()

    async def next(self) -> tuple[dict[str, Policy], list[Problem]]:
        await asyncio.wait_for(self.changed.wait(), 5.0)
        self.changed.clear()
        return self.calls[-1]


Running = tuple[PolicyReloader, "Recorder"]


@pytest.fixture
async def running(root: Path) -> AsyncIterator[Running]:
    recorder = Recorder()
    reloader = PolicyReloader(root, on_change=recorder, logger=LOG, poll_interval=0.05, settle=0.02)
    reloader.start()
    await asyncio.sleep(0.1)  # the first fingerprint is taken
    yield reloader, recorder
    await reloader.aclose()


async def test_valid_change_is_applied(root: Path, running: Running) -> None:
    reloader, recorder = running
    write(root, "web.yaml", policy_text("/shop/web", 25))
    policies, problems = await recorder.next()
    assert policies["/shop/web"].max_instances == 25
    assert problems == []
    assert reloader.policies["/shop/web"].max_instances == 25


async def test_invalid_change_is_rejected_and_reported(
    root: Path, running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    reloader, recorder = running
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        write(root, "web.yaml", "app: /shop/web\nmin_instances: 9\nmax_instances: 2\n")
        policies, problems = await recorder.next()
    assert policies["/shop/web"].max_instances == 10
    assert any("above max_instances" in p.message for p in problems)
    assert reloader.error_count == 1
    assert "above max_instances" in caplog.text


async def test_deleted_file_stops_and_new_file_starts_management(root: Path, running: Running) -> None:
    _, recorder = running
    (root / "web.yaml").unlink()
    policies, _ = await recorder.next()
    assert sorted(policies) == ["/shop/api"]
    write(root, "cart.yaml", policy_text("/shop/cart"))
    policies, _ = await recorder.next()
    assert sorted(policies) == ["/shop/api", "/shop/cart"]


async def test_bad_defaults_keep_the_last_valid_policies(root: Path, running: Running) -> None:
    _, recorder = running
    write(root, "_defaults.yaml", "tolerance: [unclosed\n")
    write(root, "web.yaml", policy_text("/shop/web", 30))
    policies, problems = await recorder.next()  # only the problems changed
    assert policies["/shop/web"].max_instances == 10
    assert any(p.path.endswith("_defaults.yaml") and p.severity == "error" for p in problems)
    write(root, "_defaults.yaml", DEFAULTS)
    policies, problems = await recorder.next()
    assert policies["/shop/web"].max_instances == 30
    assert problems == []


async def test_trigger_reloads_without_polling(root: Path) -> None:
    recorder = Recorder()
    reloader = PolicyReloader(root, on_change=recorder, logger=LOG, poll_interval=3600, settle=0.01)
    reloader.start()
    try:
        await asyncio.sleep(0.05)
        write(root, "api.yaml", policy_text("/shop/api", 33))
        reloader.trigger()  # what the SIGHUP handler calls
        policies, _ = await recorder.next()
        assert policies["/shop/api"].max_instances == 33
        reloader.trigger()
        deadline = time.monotonic() + 5
        while reloader.reloads < 2 and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the reloader's count
            await asyncio.sleep(0.01)
        assert len(recorder.calls) == 1  # nothing changed: on_change is not called again
        assert reloader.reloads == 2
    finally:
        await reloader.aclose()


async def test_on_change_errors_do_not_stop_reloading(root: Path) -> None:
    calls: list[int] = []

    def broken(policies: dict[str, Policy], problems: list[Problem]) -> None:
        calls.append(len(policies))
        raise RuntimeError("boom")

    reloader = PolicyReloader(root, on_change=broken, logger=LOG, poll_interval=3600, settle=0.01)
    write(root, "api.yaml", policy_text("/shop/api", 12))
    assert await reloader.reload(reason="test")
    write(root, "api.yaml", policy_text("/shop/api", 13))
    assert await reloader.reload(reason="test")
    assert calls == [2, 2]


def test_fingerprint_sees_names_sizes_and_times(root: Path) -> None:
    first = fingerprint(root)
    assert len(first) == 4
    write(root, "notes.txt", "not a policy")
    assert fingerprint(root) == first
    write(root, "campaigns/sale.yaml", CAMPAIGN.replace("FLOOR", "6"))
    assert fingerprint(root) != first
    assert fingerprint(root / "missing") == ()


@pytest.fixture
def fifo(root: Path) -> Iterator[Path]:
    """A FIFO named like a campaign; at the end its other end is opened once, so that a reader
    blocked on it (the bug this guards against) is released instead of hanging the test run."""
    path = root / "campaigns" / "pipe.yaml"
    yield path
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def test_a_fifo_in_campaigns_is_reported_and_never_blocks_the_reload(
    root: Path, running: Running, fifo: Path
) -> None:
    reloader, recorder = running
    os.mkfifo(fifo)
    policies, problems = await recorder.next()
    assert [p.message for p in problems if p.path == str(fifo)] == [
        "is a FIFO (named pipe), not a regular file; not read"
    ]
    assert sorted(policies) == ["/shop/api", "/shop/web"]
    assert schedules(policies["/shop/api"]) == [("campaign:sale", 5)]  # the other campaign still applies
    assert reloader.error_count == 1
    # the reloader is still alive: the next change is applied
    write(root, "web.yaml", policy_text("/shop/web", 25))
    policies, _ = await recorder.next()
    assert policies["/shop/web"].max_instances == 25


async def test_a_hard_link_to_a_file_elsewhere_is_refused_on_reload(
    root: Path, tmp_path_factory: pytest.TempPathFactory, running: Running
) -> None:
    _, recorder = running
    outside = tmp_path_factory.mktemp("elsewhere") / "notes.yaml"
    outside.write_text("password: not-for-readyz\n")
    os.link(outside, root / "notes.yaml")
    policies, problems = await recorder.next()
    [problem] = problems
    assert problem.path == str(root / "notes.yaml") and problem.message.startswith("has 2 hard links")
    assert "not-for-readyz" not in repr(problems)
    assert sorted(policies) == ["/shop/api", "/shop/web"]
