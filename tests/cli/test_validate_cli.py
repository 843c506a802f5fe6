"""`autoscaler validate`: OK per good file, every error with its file and field, exit status, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.policyfiles import MAX_FILE_BYTES

REPO = Path(__file__).resolve().parent.parent.parent
GOOD = """\
app: /shop/api
min_instances: 2
max_instances: 40
metrics:
  - name: cpu
    source: prometheus
    query: avg(cpu)
    target_average: 0.6
"""


def validate(capsys: pytest.CaptureFixture[str], *paths: str | Path) -> tuple[int, str]:
    code = main(["validate", *map(str, paths)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_policies_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    root = REPO / "policies"
    code, out = validate(capsys, root)
    assert code == 0
    shipped = sorted([*root.glob("*.yaml"), *(root / "campaigns").glob("*.yaml")])
    assert shipped
    for path in shipped:
        assert f"OK    {path}" in out.splitlines()
    assert "error:" not in out
    assert out.splitlines()[-1].endswith(", 0 errors")


def test_default_path_is_policies_when_the_setting_is_unset(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("AUTOSCALER_POLICY_DIR", raising=False)
    code, out = validate(capsys)
    assert code == 0
    assert out.splitlines()[0] == "AUTOSCALER_POLICY_DIR is not set: validating ./policies, the service's default"
    assert "OK    policies/shop-api.yaml" in out


def test_default_path_is_the_directory_the_service_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ./policies is valid, but the service reads another directory, whose policy is broken
    monkeypatch.chdir(REPO)
    live = tmp_path / "live"
    bad = write(live, "api.yaml", GOOD.replace("max_instances: 40", "max_instance: 40"))
    monkeypatch.setenv("AUTOSCALER_POLICY_DIR", str(live))
    code, out = validate(capsys)
    assert code == 1
    assert out.splitlines()[0] == f"validating AUTOSCALER_POLICY_DIR={live}, the directory the service reads"
    assert f"{bad}:3: error: max_instance: unknown field (check the spelling)" in out
    assert "policies/shop-api.yaml" not in out


def test_given_paths_win_over_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOSCALER_POLICY_DIR", str(tmp_path / "elsewhere"))
    good = write(tmp_path, "api.yaml", GOOD)
    code, out = validate(capsys, good)
    assert code == 0
    assert out.splitlines()[0] == f"OK    {good}"


BAD_FILES = [
    # (file content, words that must appear on the file's error line)
    (GOOD.replace("min_instances: 2", "min_instances: 41"), "min_instances (41) is above max_instances (40)"),
    (GOOD.replace("max_instances: 40", "max_instance: 40"), "max_instance: unknown field"),
    (GOOD.replace("    target_average: 0.6\n", ""), "metrics.0: give exactly one of target_average"),
    (GOOD + "    target_per_instance: 5\n", "metrics.0: give exactly one of target_average"),
    (
        GOOD.replace("target_average: 0.6", "target_average: 0"),
        "metrics.0.target_average: target_average must be above 0",
    ),
    (GOOD + "max_metric_age: 3 minutes\n", "max_metric_age: expected a duration"),
    (
        GOOD + "schedules:\n  - {name: s, cron: '61 * * * *', timezone: UTC, duration: 1h, min_instances: 3}\n",
        "schedules.0.cron: invalid cron expression",
    ),
    (
        GOOD + "schedules:\n  - {name: s, cron: '0 20 * * *', timezone: Asia/Beijing, duration: 1h,"
        " min_instances: 3}\n",
        "schedules.0.timezone: unknown timezone",
    ),
    (
        GOOD + "schedules:\n  - {name: s, start: '2026-11-11T03:00:00+08:00', end: '2026-11-11T00:00:00+08:00',"
        " min_instances: 3}\n",
        "schedules.0.end: end (2026-11-11T00:00:00+08:00) must be after start",
    ),
    (
        GOOD + "schedules:\n  - {name: s, start: '2026-11-11T00:00:00', end: '2026-11-11T03:00:00+08:00',"
        " min_instances: 3}\n",
        "schedules.0.start: start needs a UTC offset",
    ),
    (
        GOOD + "schedules:\n  - {name: s, cron: '0 20 * * *', timezone: UTC, duration: 1h, min_instances: 41}\n",
        "schedules.0.min_instances: schedule 's' has a floor of 41, above max_instances (40)",
    ),
    (
        GOOD.replace("metrics:\n", "metrics:\n  - {name: cpu, source: graphite, query: q, target_per_instance: 9}\n"),
        "metrics.1.name: metric names must be unique; 'cpu' is repeated",
    ),
    (GOOD.replace("/shop/api", "/Shop/API"), "app: '/Shop/API' is not a Marathon app id"),
    (GOOD.replace("max_instances: 40", "max_instances: [40"), "YAML syntax error"),
    ("", "expected a mapping of fields at the top level, got empty"),
]


@pytest.mark.parametrize(("text", "words"), BAD_FILES)
def test_bad_file_exits_1_naming_the_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: str
) -> None:
    bad = write(tmp_path, "bad.yaml", text)
    good = write(tmp_path, "good.yaml", GOOD.replace("/shop/api", "/shop/other"))
    code, out = validate(capsys, tmp_path)
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith(f"{bad}") and words in line for line in lines), out
    assert f"OK    {good}" in lines  # one bad file does not stop the others
    assert f"OK    {bad}" not in lines


def test_error_lines_carry_the_line_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "bad.yaml", GOOD.replace("max_instances: 40", "max_instance: 40"))
    _, out = validate(capsys, tmp_path)
    assert f"{bad}:3: error: max_instance: unknown field (check the spelling)" in out.splitlines()


def test_duplicate_app_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "a.yaml", GOOD)
    second = write(tmp_path, "b.yaml", GOOD)
    code, out = validate(capsys, tmp_path)
    assert code == 1
    assert any(line.startswith(f"{second}: error: app: a second policy for /shop/api") for line in out.splitlines())


def test_campaign_for_an_unknown_app_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api = write(tmp_path, "api.yaml", GOOD)
    campaign = write(
        tmp_path,
        "campaigns/sale.yaml",
        """\
        name: sale
        start: "2026-11-11T00:00:00+08:00"
        end: "2026-11-11T03:00:00+08:00"
        apps: {/shop/api: 10, /shop/gnoe: 4}
        """,
    )
    code, out = validate(capsys, tmp_path)
    assert code == 1
    lines = out.splitlines()
    assert f"OK    {api}" in lines
    assert f"OK    {campaign}" not in lines
    assert any(
        line.startswith(f"{campaign}: error: apps: names /shop/gnoe, which no policy manages: not pre-scaled")
        for line in lines
    ), out


def test_each_files_problems_come_before_its_ok_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = write(tmp_path, "a.yaml", GOOD.replace("max_instances: 40", "max_instance: 40"))
    second = write(tmp_path, "b.yaml", GOOD.replace("/shop/api", "/shop/b"))
    third = write(
        tmp_path, "c.yaml", GOOD.replace("/shop/api", "/shop/c").replace("min_instances: 2", "min_instances: 50")
    )
    fourth = write(tmp_path, "d.yaml", GOOD.replace("/shop/api", "/shop/d"))
    _, out = validate(capsys, tmp_path)
    lines = out.splitlines()
    owners = [next(str(p) for p in (first, second, third, fourth) if str(p) in line) for line in lines[:-1]]
    # one block per file, in file order: a's errors, OK b, c's error, OK d
    blocks = [owner for index, owner in enumerate(owners) if index == 0 or owners[index - 1] != owner]
    assert blocks == [str(first), str(second), str(third), str(fourth)], out
    assert [line for line in lines if line.startswith("OK")] == [f"OK    {second}", f"OK    {fourth}"]
    assert lines.index(f"OK    {second}") == owners.index(str(second))
    assert lines[0].startswith(f"{first}:")


def test_bad_campaign_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "api.yaml", GOOD)
    campaign = write(
        tmp_path,
        "campaigns/sale.yaml",
        'name: sale\nstart: "2026-11-11T03:00:00+08:00"\nend: "2026-11-11T00:00:00+08:00"\napps: {/shop/api: 10}\n',
    )
    code, out = validate(capsys, tmp_path)
    assert code == 1
    assert any(line.startswith(f"{campaign}") and "must be after start" in line for line in out.splitlines())


def test_refused_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = write(tmp_path, "elsewhere/x.yaml", GOOD)
    root = tmp_path / "policies"
    write(root, "good.yaml", GOOD.replace("/shop/api", "/shop/other"))
    os.symlink(outside, root / "link.yaml")
    write(root, "big.yaml", GOOD + "#" * MAX_FILE_BYTES)
    write(root, "deep.yaml", GOOD + "series: " + "[" * 40 + "]" * 40 + "\n")
    code, out = validate(capsys, root)
    assert code == 1
    assert f"{root / 'link.yaml'}: error: symlink leads outside the policy directory" in out
    assert any(line.startswith(f"{root / 'big.yaml'}: error: file is") for line in out.splitlines())
    assert f"{root / 'deep.yaml'}: error: nesting deeper than 32 levels" in out
    assert f"OK    {root / 'good.yaml'}" in out


def test_missing_path_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = validate(capsys, tmp_path / "nope")
    assert code == 1
    assert "no such file or directory" in out


def test_empty_directory_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = validate(capsys, tmp_path)
    assert code == 1
    assert "0 files" in out


@pytest.mark.parametrize(
    "text",
    [
        "app: !!python/object/apply:os.system ['true']\n",
        "? [a, b]\n: c\n",
        "app: &a [*a]\n",
        "a: &x 1\nb: *y\n",
        "--- {}\n--- {}\n",
        "app: /shop/api\nmin_instances: 1e400\nmax_instances: .nan\n",
        "app: /shop/api\nmin_instances: 1\nmax_instances: 2\nschedules: {name: s}\n",
        "app: /shop/api\nmin_instances: 1\nmax_instances: 2\nmetrics: [1, null, {}]\n",
        "app: /shop/api\nmin_instances: 1\nmax_instances: 2\nscale_up: {max_step: [{}]}\n",
        "app: /shop/api\nmin_instances: 1\nmax_instances: 2\nschedules: [{name: s, start: 2026-11-11, end: x}]\n",
        "\t\x00",
    ],
)
def test_odd_input_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    bad = write(tmp_path, "odd.yaml", text)
    code, out = validate(capsys, tmp_path)
    assert code == 1
    assert f"{bad}" in out
    assert f"OK    {bad}" not in out


def test_validate_refuses_a_fifo_and_a_hard_link_and_never_hangs(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    good = write(root, "good.yaml", GOOD)
    outside = write(tmp_path / "elsewhere", "notes.yaml", "password: not-for-readyz\n")
    os.link(outside, root / "linked.yaml")
    (root / "campaigns").mkdir()
    os.mkfifo(root / "campaigns" / "sale.yaml")
    # a separate process, so that a blocking read ends in a timeout instead of hanging the suite
    done = subprocess.run(
        [sys.executable, "-m", "autoscaler", "validate", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert f"{root / 'campaigns' / 'sale.yaml'}: error: is a FIFO (named pipe), not a regular file; not read" in lines
    assert any(line.startswith(f"{root / 'linked.yaml'}: error: has 2 hard links") for line in lines), done.stdout
    assert "not-for-readyz" not in done.stdout + done.stderr
    assert f"OK    {good}" in lines
