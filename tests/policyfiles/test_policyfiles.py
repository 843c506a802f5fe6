"""Loading a directory of policy files: defaults, campaigns, and problems a person can act on."""

from __future__ import annotations

import contextlib
import os
import socket
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from autoscaler.core.units import Step
from autoscaler.policyfiles import MAX_DEPTH, MAX_FILE_BYTES, LoadResult, Problem, load_directory, load_paths

REPO = Path(__file__).resolve().parent.parent.parent

API = """\
app: /shop/api
min_instances: 2
max_instances: 40
metrics:
  - name: cpu
    source: prometheus
    query: avg(cpu)
    target_average: 0.6
"""
WORKER = """\
app: /shop/worker
min_instances: 1
max_instances: 30
"""
CAMPAIGN = """\
name: double-11
start: "2026-11-11T00:00:00+08:00"
end: "2026-11-11T03:00:00+08:00"
lead: 20m
apps:
  /shop/api: 30
  /shop/worker: 20
"""


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(result_problems: list[Problem], path: Path) -> list[Problem]:
    return [p for p in result_problems if p.path == str(path)]


def test_loads_policies_and_records_their_files(tmp_path: Path) -> None:
    api = write(tmp_path, "api.yaml", API)
    worker = write(tmp_path, "worker.yml", WORKER)
    result = load_directory(tmp_path)
    assert result.problems == []
    assert sorted(result.policies) == ["/shop/api", "/shop/worker"]
    assert result.sources == {"/shop/api": str(api), "/shop/worker": str(worker)}
    assert sorted(result.files) == sorted([str(api), str(worker)])


def test_other_files_are_not_policies(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API)
    write(tmp_path, "README.md", "# notes")
    write(tmp_path, "api.yaml.bak", "not: yaml: at all")
    result = load_directory(tmp_path)
    assert list(result.policies) == ["/shop/api"]
    assert result.problems == []


def test_defaults_are_merged_under_every_policy(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_defaults.yaml",
        """\
        tolerance: 0.2
        max_metric_age: 1m
        scale_up: {cooldown: 45s, max_step: [50%, 2]}
        scale_down: {cooldown: 10m, stabilization: 2m}
        metrics:
          - {name: default, source: graphite, query: q, target_per_instance: 5}
        """,
    )
    write(tmp_path, "api.yaml", API + "tolerance: 0.05\nscale_up: {max_step: 3}\n")
    write(tmp_path, "worker.yaml", WORKER)
    result = load_directory(tmp_path)
    assert result.problems == []
    api, worker = result.policies["/shop/api"], result.policies["/shop/worker"]
    assert api.tolerance == 0.05  # the policy's own value wins
    assert worker.tolerance == 0.2  # from the defaults
    assert api.max_metric_age == worker.max_metric_age == timedelta(minutes=1)
    # mappings merge key by key: the policy's max_step, the defaults' cooldown
    assert api.scale_up.max_step == (Step(count=3),)
    assert api.scale_up.cooldown == timedelta(seconds=45)
    assert worker.scale_up.max_step == (Step(percent=50.0), Step(count=2))
    assert api.scale_down.cooldown == timedelta(minutes=10)
    # lists are replaced, not concatenated
    assert [m.name for m in api.metrics] == ["cpu"]
    assert [m.name for m in worker.metrics] == ["default"]
    assert str(tmp_path / "_defaults.yaml") in result.files


def test_bad_defaults_are_reported_and_ignored(tmp_path: Path) -> None:
    defaults = write(tmp_path, "_defaults.yaml", "- a list\n- not a mapping\n")
    write(tmp_path, "api.yaml", API)
    result = load_directory(tmp_path)
    assert list(result.policies) == ["/shop/api"]
    [problem] = result.problems
    assert problem.path == str(defaults)
    assert "mapping" in problem.message


def test_campaigns_are_merged_as_floors(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API)
    write(tmp_path, "worker.yaml", WORKER)
    write(tmp_path, "campaigns/double-11.yaml", CAMPAIGN)
    result = load_directory(tmp_path)
    assert result.problems == []
    assert [c.name for c in result.campaigns] == ["double-11"]
    for app_id, floor in (("/shop/api", 30), ("/shop/worker", 20)):
        [schedule] = result.policies[app_id].schedules
        assert (schedule.name, schedule.min_instances) == ("campaign:double-11", floor)
        assert schedule.lead == timedelta(minutes=20)


def test_campaign_naming_apps_without_policy_is_one_warning_listing_them(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API)
    campaign = write(tmp_path, "campaigns/double-11.yaml", CAMPAIGN + "  /shop/typo: 4\n")
    result = load_directory(tmp_path)
    assert result.errors == []
    [warning] = result.problems
    assert (warning.path, warning.severity, warning.field) == (str(campaign), "warning", "apps")
    assert "names /shop/worker, /shop/typo, which no policy manages: ignored (2 of 3 entries)" in warning.message
    assert result.policies["/shop/api"].schedules[0].min_instances == 30  # the rest still applies


def test_campaign_naming_an_app_without_policy_is_an_error_when_strict(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API)
    campaign = write(tmp_path, "campaigns/double-11.yaml", CAMPAIGN)
    result = load_paths([tmp_path], strict=True)
    [error] = result.errors
    assert (error.path, error.field) == (str(campaign), "apps")
    assert "names /shop/worker, which no policy manages: not pre-scaled by this campaign" in error.message
    assert result.policies["/shop/api"].schedules[0].min_instances == 30


def test_a_campaign_file_given_alone_is_checked_against_its_directory(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API)
    write(tmp_path, "worker.yaml", WORKER)
    campaign = write(tmp_path, "campaigns/double-11.yaml", CAMPAIGN)
    assert load_paths([campaign], strict=True).problems == []
    (tmp_path / "worker.yaml").unlink()
    [error] = load_paths([campaign], strict=True).errors
    assert "names /shop/worker, which no policy manages" in error.message


def test_campaign_floor_above_max_is_an_error_for_that_app_only(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API)
    write(tmp_path, "worker.yaml", WORKER.replace("max_instances: 30", "max_instances: 10"))
    campaign = write(tmp_path, "campaigns/double-11.yaml", CAMPAIGN)
    result = load_directory(tmp_path)
    [error] = result.errors
    assert (error.path, error.field) == (str(campaign), "apps./shop/worker")
    assert "floor of 20, above max_instances (10)" in error.message
    assert result.policies["/shop/worker"].schedules == ()
    assert result.policies["/shop/api"].schedules[0].min_instances == 30


def test_two_campaigns_with_one_name(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API)
    write(tmp_path, "campaigns/a.yaml", CAMPAIGN.replace("  /shop/worker: 20\n", ""))
    second = write(tmp_path, "campaigns/b.yaml", CAMPAIGN.replace("  /shop/worker: 20\n", ""))
    result = load_directory(tmp_path)
    [error] = result.errors
    assert error.path == str(second)
    assert "second campaign named double-11" in error.message


def test_two_policies_for_one_app_is_an_error(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", API)
    second = write(tmp_path, "b.yaml", API.replace("max_instances: 40", "max_instances: 5"))
    result = load_directory(tmp_path)
    [error] = result.errors
    assert (error.path, error.field) == (str(second), "app")
    assert f"second policy for /shop/api (first in {first})" in error.message
    assert result.policies["/shop/api"].max_instances == 40
    assert result.failed_files() == {str(second)}


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "app: /shop/api\nmin_instances: 2\nmax_instances: [40\nmetrics: []\n")
    result = load_directory(tmp_path)
    [error] = result.errors
    assert error.path == str(bad)
    assert "YAML syntax error" in error.message
    assert error.line is not None and error.line >= 3  # the unclosed list opens on line 3
    assert str(error).startswith(f"{bad}:{error.line}: error: ")


def test_unknown_field_has_its_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", API.replace("max_instances: 40", "max_instance: 40"))
    result = load_directory(tmp_path)
    by_field = {p.field: p for p in result.errors}
    assert by_field["max_instance"].line == 3
    assert "unknown field" in by_field["max_instance"].message
    assert by_field["max_instances"].message == "required field is missing"
    assert str(by_field["max_instance"]) == f"{bad}:3: error: max_instance: unknown field (check the spelling)"


def test_nested_field_error_has_its_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", API.replace("target_average: 0.6", "target_average: -1"))
    [error] = load_directory(tmp_path).errors
    assert (error.path, error.field, error.line) == (str(bad), "metrics.0.target_average", 8)


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (
            API.replace("min_instances: 2", "min_instances: 50"),
            "min_instances",
            "min_instances (50) is above max_instances (40)",
        ),
        (API.replace("app: /shop/api", "app: shop api"), "app", "not a Marathon app id"),
        (API + "scale_down: {cooldown: 5 minutes}\n", "scale_down.cooldown", "duration"),
        (
            API + "schedules:\n  - {name: s, cron: '0 25 * * *', duration: 1h, min_instances: 3}\n",
            "schedules.0.cron",
            "invalid cron",
        ),
        (
            API + "schedules:\n  - {name: s, cron: '0 20 * * *', timezone: Mars/Base, duration: 1h,"
            " min_instances: 3}\n",
            "schedules.0.timezone",
            "unknown timezone",
        ),
        ("", "", "expected a mapping of fields at the top level, got empty"),
        ("- just\n- a list\n", "", "got list"),
    ],
)
def test_invalid_policy_files(tmp_path: Path, text: str, field: str, words: str) -> None:
    bad = write(tmp_path, "bad.yaml", text)
    errors = load_directory(tmp_path).errors
    assert errors and all(e.path == str(bad) for e in errors)
    assert any(e.field == field and words in e.message for e in errors), errors


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "app: [\n")
    write(tmp_path, "b.yaml", API)
    write(tmp_path, "c.yaml", WORKER.replace("min_instances: 1", "min_instances: lots"))
    write(tmp_path, "d.yaml", WORKER.replace("/shop/worker", "/shop/other"))
    result = load_directory(tmp_path)
    assert sorted(result.policies) == ["/shop/api", "/shop/other"]
    assert result.failed_files() == {str(tmp_path / "a.yaml"), str(tmp_path / "c.yaml")}


def test_symlink_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    outside = write(tmp_path, "outside/secret.yaml", API)
    root = tmp_path / "policies"
    root.mkdir()
    link = root / "api.yaml"
    os.symlink(outside, link)
    inside = write(root, "real/worker.yaml", WORKER)
    os.symlink(inside, root / "worker.yaml")
    result = load_directory(root)
    [error] = result.errors
    assert error.path == str(link)
    assert "symlink leads outside the policy directory" in error.message
    assert list(result.policies) == ["/shop/worker"]  # a link inside the directory is fine


def test_linked_campaign_directory_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    outside = write(tmp_path, "elsewhere/double-11.yaml", CAMPAIGN)
    root = tmp_path / "policies"
    write(root, "api.yaml", API)
    os.symlink(outside.parent, root / "campaigns")
    result = load_directory(root)
    [error] = result.errors
    assert error.path == str(root / "campaigns" / "double-11.yaml")
    assert "symlink leads outside the policy directory" in error.message
    assert result.campaigns == []
    assert result.policies["/shop/api"].schedules == ()


def test_policy_directory_given_through_a_link_loads(tmp_path: Path) -> None:
    real = tmp_path / "real"
    write(real, "api.yaml", API)
    write(real, "campaigns/double-11.yaml", CAMPAIGN.replace("  /shop/worker: 20\n", ""))
    os.symlink(real, tmp_path / "link")
    result = load_directory(tmp_path / "link")
    assert result.problems == []
    assert result.policies["/shop/api"].schedules[0].min_instances == 30


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    big = write(tmp_path, "big.yaml", API + "#" * MAX_FILE_BYTES + "\n")
    write(tmp_path, "worker.yaml", WORKER)
    result = load_directory(tmp_path)
    [error] = result.errors
    assert error.path == str(big)
    assert f"limited to {MAX_FILE_BYTES}" in error.message
    assert list(result.policies) == ["/shop/worker"]


@pytest.mark.parametrize(
    ("depth", "words"),
    [(MAX_DEPTH + 5, f"nesting deeper than {MAX_DEPTH} levels"), (100_000, "exceeded maximum nesting depth")],
)
def test_deep_nesting_is_refused(tmp_path: Path, depth: int, words: str) -> None:
    deep = write(tmp_path, "deep.yaml", API + "series: " + "[" * depth + "]" * depth + "\n")
    write(tmp_path, "worker.yaml", WORKER)
    result = load_directory(tmp_path)
    [error] = result.errors
    assert error.path == str(deep)
    assert words in error.message
    assert list(result.policies) == ["/shop/worker"]


def test_unreadable_bytes_are_an_error_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"app: /shop/\xff\xfe\n")
    [error] = load_directory(tmp_path).errors
    assert error.path == str(bad)
    assert "cannot read" in error.message


def test_load_paths_takes_single_files_with_their_directory_defaults(tmp_path: Path) -> None:
    write(tmp_path, "_defaults.yaml", "tolerance: 0.3\n")
    api = write(tmp_path, "api.yaml", API)
    campaign = write(tmp_path, "campaigns/double-11.yaml", CAMPAIGN.replace("  /shop/worker: 20\n", ""))
    result = load_paths([api, campaign])
    assert result.errors == []
    assert result.policies["/shop/api"].tolerance == 0.3
    assert result.policies["/shop/api"].schedules[0].min_instances == 30


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    [error] = load_paths([tmp_path / "nope"]).errors
    assert "no such file or directory" in error.message


def test_shipped_policies_load_cleanly() -> None:
    result = load_directory(REPO / "policies")
    assert result.errors == []
    assert result.policies  # at least one
    for app_id, floor in next(c for c in result.campaigns if c.name == "double-11").apps.items():
        schedules = {s.name: s for s in result.policies[app_id].schedules}
        assert schedules["campaign:double-11"].min_instances == floor


def test_a_key_written_twice_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "api.yaml", "app: /shop/api\nmin_instances: 1\nmax_instances: 3\nmax_instances: 30\n")
    result = load_directory(tmp_path)
    assert result.policies == {}
    [problem] = problems_of(result.problems, path)
    assert (problem.field, problem.line) == ("max_instances", 4)


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    # Nine levels of ten aliases each: 10**9 leaves if walked naively.
    lines = ['a0: &a0 ["x"]']
    lines += [f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, 10)]
    write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    result = load_directory(tmp_path)
    assert result.policies == {} and result.errors


def test_an_error_in_defaults_is_reported_against_the_defaults_file(tmp_path: Path) -> None:
    defaults = write(tmp_path, "_defaults.yaml", "tolerance: 5\n")
    write(tmp_path, "api.yaml", "app: /shop/api\nmin_instances: 1\nmax_instances: 3\n")
    write(tmp_path, "web.yaml", "app: /shop/web\nmin_instances: 1\nmax_instances: 3\n")
    result = load_directory(tmp_path)
    # reported once, against _defaults.yaml, not once per policy file
    assert [(p.path, p.field) for p in result.errors] == [(str(defaults), "tolerance")]


def test_an_error_in_defaults_has_the_line_of_the_defaults_file(tmp_path: Path) -> None:
    defaults = write(tmp_path, "_defaults.yaml", "max_metric_age: 3m\ntimezone: UTC\nscale_down:\n  cooldown: 10\n")
    write(tmp_path, "api.yaml", API)
    [error] = load_directory(tmp_path).errors
    assert (error.path, error.field, error.line) == (str(defaults), "scale_down.cooldown", 4)
    assert "needs a unit" in error.message


@pytest.mark.parametrize("word", ["on", "off", "yes", "no", "On", "YES", "y", "n"])
def test_only_true_and_false_are_booleans(tmp_path: Path, word: str) -> None:
    # YAML 1.1 reads these as booleans; a policy means the word.
    write(tmp_path, "api.yaml", API.replace("name: cpu", f"name: {word}"))
    result = load_directory(tmp_path)
    assert result.problems == []
    assert result.policies["/shop/api"].metrics[0].name == word


def test_predictive_mode_on_as_the_readme_writes_it(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API + "predictive: {mode: on}\n")
    result = load_directory(tmp_path)
    assert result.problems == []
    assert result.policies["/shop/api"].predictive is not None
    assert result.policies["/shop/api"].predictive.mode == "on"


@pytest.mark.parametrize(("word", "value"), [("true", True), ("True", True), ("FALSE", False), ("false", False)])
def test_true_and_false_stay_booleans(tmp_path: Path, word: str, value: bool) -> None:
    write(tmp_path, "api.yaml", API + f"force: {word}\n")
    assert load_directory(tmp_path).policies["/shop/api"].force is value


def test_a_bare_number_as_a_duration_names_the_field_at_its_line(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "api.yaml",
        API + "schedules:\n  - name: sale\n    start: '2026-11-11T00:00:00+08:00'\n"
        "    end: '2026-11-11T03:00:00+08:00'\n    lead: 20\n    min_instances: 8\n",
    )
    [error] = load_directory(tmp_path).errors
    assert (error.path, error.field, error.line) == (str(bad), "schedules.0.lead", 13)
    assert "lead" in error.message and "needs a unit" in error.message and "5m" in error.message


def test_a_site_timezone_in_defaults_serves_cron_schedules(tmp_path: Path) -> None:
    write(tmp_path, "_defaults.yaml", "timezone: Asia/Shanghai\n")
    write(
        tmp_path, "api.yaml", API + "schedules:\n  - {name: push, cron: '0 20 * * *', duration: 1h, min_instances: 3}\n"
    )
    result = load_directory(tmp_path)
    assert result.problems == []
    assert result.policies["/shop/api"].schedules[0].timezone == "Asia/Shanghai"


def test_a_cron_schedule_without_a_timezone_is_an_error_at_its_line(tmp_path: Path) -> None:
    bad = write(
        tmp_path, "api.yaml", API + "schedules:\n  - {name: push, cron: '0 20 * * *', duration: 1h, min_instances: 3}\n"
    )
    [error] = load_directory(tmp_path).errors
    assert (error.path, error.field, error.line) == (str(bad), "schedules.0.timezone", 10)
    assert "needs a timezone" in error.message and "_defaults.yaml" in error.message


def test_percentages_where_fractions_are_meant(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API.replace("0.6", "60%") + "tolerance: 10%\npredictive: {quantile: 90%}\n")
    result = load_directory(tmp_path)
    assert result.problems == []
    parsed = result.policies["/shop/api"]
    assert (parsed.tolerance, parsed.metrics[0].target_average) == (pytest.approx(0.1), pytest.approx(0.6))
    assert parsed.predictive is not None and parsed.predictive.quantile == pytest.approx(0.9)


SCHEDULES = """\
schedules:
  - name: lunch
    cron: '0 12 * * *'
    timezone: UTC
    duration: 1h
    min_instances: 3
  - name: sale
    start: '2026-11-11T00:00:00+08:00'
    end: '2026-11-11T03:00:00+08:00'
    min_instances: 41
"""


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        # a check across fields is reported where the field it is about is written
        (API + SCHEDULES, "schedules.1.min_instances", 18),
        (API + SCHEDULES.replace("min_instances: 41", "max_instances: 1"), "schedules.1.max_instances", 18),
        (API.replace("min_instances: 2", "min_instances: 50"), "min_instances", 2),
        (
            API + SCHEDULES.replace("min_instances: 41", "min_instances: 9\n    max_instances: 4"),
            "schedules.1.min_instances",
            18,
        ),
        (API + SCHEDULES.replace("end: '2026-11-11T03", "end: '2026-11-10T03"), "schedules.1.end", 17),
        (API + "  - {name: cpu, source: graphite, query: q, target_per_instance: 9}\n", "metrics.1.name", 9),
        (API + "predictive:\n  bucket: 5s\n", "predictive.bucket", 10),
        (API + "predictive:\n  load_queries: {cpu: q, mem: q}\n", "predictive.load_queries.mem", 10),
    ],
)
def test_errors_point_at_the_line_of_the_field(tmp_path: Path, text: str, field: str, line: int) -> None:
    bad = write(tmp_path, "api.yaml", text)
    errors = load_directory(tmp_path).errors
    assert [(e.path, e.field, e.line) for e in errors] == [(str(bad), field, line)], errors


def test_a_campaign_error_points_at_the_line_of_its_field(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API)
    write(tmp_path, "worker.yaml", WORKER)
    campaign = write(tmp_path, "campaigns/sale.yaml", CAMPAIGN.replace("/shop/worker: 20", "/shop/worker: -2"))
    errors = load_directory(tmp_path).errors
    assert [(e.path, e.field, e.line) for e in errors] == [(str(campaign), "apps./shop/worker", 7)]


def test_numbers_are_yaml_1_2_decimal(tmp_path: Path) -> None:
    # YAML 1.1 reads 1:30 as 90 (base 60) and 010 as 8 (octal); a policy means what it shows.
    bad = write(tmp_path, "api.yaml", API.replace("max_instances: 40", "max_instances: 010") + "max_metric_age: 1:30\n")
    [error] = load_directory(tmp_path).errors
    assert (error.path, error.field, error.line) == (str(bad), "max_metric_age", 9)
    assert "'1:30'" in error.message
    write(tmp_path, "api.yaml", API.replace("max_instances: 40", "max_instances: 010"))
    assert load_directory(tmp_path).policies["/shop/api"].max_instances == 10


# --- only regular files, never blocking ---


def load_without_blocking(root: Path, fifos: list[Path]) -> LoadResult:
    """load_directory(root), failing (not hanging) if it blocks: a blocked open of a FIFO is released
    by opening its other end, and the test fails."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(load_directory, root)
        try:
            return future.result(timeout=10)
        except TimeoutError:
            for _ in range(1000):  # each release lets the load go on to the next FIFO
                if future.done():
                    break
                for fifo in fifos:
                    with contextlib.suppress(OSError):
                        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                time.sleep(0.01)
            pytest.fail("loading the policy directory blocked on a FIFO")


def test_a_fifo_is_refused_without_blocking_and_the_other_files_load(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API)
    write(tmp_path, "campaigns/double-11.yaml", CAMPAIGN.replace("  /shop/worker: 20\n", ""))
    fifos = [tmp_path / "campaigns" / "pipe.yaml", tmp_path / "pipe.yaml", tmp_path / "_defaults.yaml"]
    for fifo in fifos:
        os.mkfifo(fifo)
    result = load_without_blocking(tmp_path, fifos)
    for fifo in fifos:
        [error] = problems_of(result.errors, fifo)
        assert error.message == "is a FIFO (named pipe), not a regular file; not read"
    assert result.policies["/shop/api"].schedules[0].min_instances == 30  # the rest loaded and applied
    assert [c.name for c in result.campaigns] == ["double-11"]


def test_a_socket_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "api.yaml", API)
    path = tmp_path / "s.yaml"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        result = load_without_blocking(tmp_path, [])
    [error] = problems_of(result.errors, path)
    assert error.message == "is a socket, not a regular file; not read"
    assert list(result.policies) == ["/shop/api"]


def test_a_hard_link_to_a_file_elsewhere_is_refused_and_never_read(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "policies", tmp_path / "elsewhere"
    write(root, "api.yaml", API)
    secret = write(elsewhere, "secret.txt", "db_password: hunter2\n")
    os.link(secret, root / "linked.yaml")
    os.makedirs(root / "campaigns")
    os.link(secret, root / "campaigns" / "linked.yaml")
    result = load_directory(root)
    for linked in (root / "linked.yaml", root / "campaigns" / "linked.yaml"):
        [error] = problems_of(result.errors, linked)
        assert error.message.startswith("has 3 hard links, so it may be a file outside the policy directory")
    assert "db_password" not in repr(result.problems)  # no line of the file reaches a message
    assert list(result.policies) == ["/shop/api"]


def test_a_symlink_inside_the_directory_is_still_followed(tmp_path: Path) -> None:
    write(tmp_path, "real/api.yaml", API)
    os.symlink(tmp_path / "real" / "api.yaml", tmp_path / "api.yaml")
    result = load_directory(tmp_path)
    assert result.problems == [] and list(result.policies) == ["/shop/api"]


def test_equal_parts_of_many_policies_are_held_once_and_the_policies_are_unchanged(tmp_path: Path) -> None:
    """Alike policies share their equal parts (memory at 10,000 apps), and each loaded policy is
    still equal to the one validated from its own file alone; a part that differs is its own."""
    from autoscaler.core.policy import Policy
    from autoscaler.policyfiles import SafeLoader

    write(tmp_path, "_defaults.yaml", "scale_down:\n  cooldown: 7m\ntimezone: Europe/Berlin\n")
    for index in range(3):
        write(tmp_path, f"api{index}.yaml", API.replace("/shop/api", f"/shop/api{index}"))
    write(tmp_path, "other.yaml", API.replace("/shop/api", "/shop/other").replace("0.6", "0.7"))
    result = load_directory(tmp_path)
    assert result.errors == []
    loaded = [result.policies[f"/shop/api{index}"] for index in range(3)]
    other = result.policies["/shop/other"]
    assert loaded[0].metrics is loaded[1].metrics is loaded[2].metrics
    assert loaded[0].scale_down is loaded[2].scale_down is other.scale_down
    assert other.metrics is not loaded[0].metrics and other.metrics[0].target_average == 0.7
    defaults = yaml.load((tmp_path / "_defaults.yaml").read_text(), Loader=SafeLoader)
    for app_id, policy in result.policies.items():
        own = yaml.load(Path(result.sources[app_id]).read_text(), Loader=SafeLoader)
        alone = Policy.model_validate({**defaults, **own})
        assert policy == alone and policy.model_fields_set == alone.model_fields_set
