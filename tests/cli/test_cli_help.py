"""What the command line says about itself: --version, a description per command, the settings and
exit codes in `run --help` (generated from the Settings model), and a warning for an unknown
AUTOSCALER_* variable that names the nearest setting and never shows the value."""

from __future__ import annotations

import argparse
import json
import os
import socket
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from autoscaler import cli
from autoscaler.core.units import format_duration
from autoscaler.service import EXIT_CONFIG, EXIT_TICK_FAILED
from autoscaler.settings import Settings

SECRET = "hunter2-Vq93-not-for-logs"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AUTOSCALER_"):
            monkeypatch.delenv(name)


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.split() == ["autoscaler", metadata.version("marathon-autoscaler")]


def test_every_command_has_a_description_in_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) >= {"validate", "run", "demo", "explain", "simulate", "backtest"}
    top = help_of(capsys)
    for name, sub in commands.choices.items():
        assert sub.description, f"{name} has no description"
        own = " ".join(help_of(capsys, name).split())
        assert " ".join(sub.description.split()) in own, name
        assert name in top


def test_run_help_lists_every_setting_with_its_default_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, "run")
    lines = text.splitlines()
    for name, info in Settings.model_fields.items():
        variable = "AUTOSCALER_" + name.upper()
        line = next((line for line in lines if line.strip().startswith(variable)), None)
        assert line is not None, f"{variable} is not listed"
        if isinstance(info.default, bool):
            assert line.endswith(f"default {str(info.default).lower()}"), line
        elif hasattr(info.default, "total_seconds"):
            assert line.endswith(f"default {format_duration(info.default)}"), line
        elif info.default is not None:
            assert line.endswith(f"default {info.default}"), line
    assert "PORT0" in text
    assert "exit codes:" in text
    codes = {int(line.split()[0]) for line in text.split("exit codes:")[1].splitlines() if line.strip()}
    assert {0, EXIT_TICK_FAILED, EXIT_CONFIG} <= codes


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_policy(root: Path) -> Path:
    root.mkdir()
    policy = {
        "app": "/shop/api",
        "min_instances": 1,
        "max_instances": 4,
        "metrics": [{"name": "cpu", "source": "prometheus", "query": "cpu", "target_average": 0.5}],
    }
    (root / "shop-api.yaml").write_text(yaml.safe_dump(policy))
    return root


def test_an_unknown_setting_is_warned_about_with_the_nearest_name_and_never_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AUTOSCALER_PROMETHEUS_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AUTOSCALER_POLICY_DIR", str(write_policy(tmp_path / "policies")))
    monkeypatch.setenv("AUTOSCALER_RETRY_ATTEMPTS", "1")
    monkeypatch.setenv("AUTOSCALER_LOG_FORMAT", "json")
    monkeypatch.setenv("AUTOSCALER_INTERVALL", SECRET)
    monkeypatch.setenv("AUTOSCALER_SOMETHING_ELSE_ENTIRELY", SECRET)

    code = cli.main(["run", "--once", "--dry-run"])

    out, err = capsys.readouterr()
    assert code == EXIT_TICK_FAILED  # Marathon is not there; the typo does not stop the service
    assert SECRET not in out + err
    warnings = [json.loads(line) for line in err.splitlines() if '"unknown_setting"' in line]
    by_name = {line["variable"]: line for line in warnings}
    assert set(by_name) == {"AUTOSCALER_INTERVALL", "AUTOSCALER_SOMETHING_ELSE_ENTIRELY"}
    assert by_name["AUTOSCALER_INTERVALL"]["suggestion"] == "AUTOSCALER_INTERVAL"
    assert "did you mean AUTOSCALER_INTERVAL?" in by_name["AUTOSCALER_INTERVALL"]["message"]
    assert by_name["AUTOSCALER_SOMETHING_ELSE_ENTIRELY"]["suggestion"] is None


def test_a_mistyped_required_setting_gets_its_suggestion_with_the_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTOSCALER_MARATHON_ULR", f"http://user:{SECRET}@marathon.mesos:8080")

    code = cli.main(["run", "--once"])

    err = capsys.readouterr().err
    assert code == EXIT_CONFIG
    assert "AUTOSCALER_MARATHON_URL is required" in err
    assert "unknown setting AUTOSCALER_MARATHON_ULR is ignored (did you mean AUTOSCALER_MARATHON_URL?)" in err
    assert SECRET not in err
