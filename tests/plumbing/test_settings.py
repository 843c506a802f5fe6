"""Settings from AUTOSCALER_* variables: every bad or missing one is named; secrets never print."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from autoscaler.errors import ConfigurationError
from autoscaler.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AUTOSCALER_"):
            monkeypatch.delenv(name)


def test_defaults_with_only_the_marathon_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "http://marathon.mesos:8080/")
    settings = load_settings()
    assert settings.marathon_url == "http://marathon.mesos:8080"
    assert settings.interval == timedelta(seconds=15)
    assert str(settings.policy_dir) == "policies"
    assert settings.marathon_verify() is True


def test_missing_marathon_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="AUTOSCALER_MARATHON_URL is required"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("AUTOSCALER_INTERVAL", "fast", "AUTOSCALER_INTERVAL"),
        ("AUTOSCALER_INTERVAL", "0s", "at least 1s"),
        ("AUTOSCALER_PROMETHEUS_URL", "prometheus:9090", "AUTOSCALER_PROMETHEUS_URL"),
        ("AUTOSCALER_LOG_FORMAT", "xml", "AUTOSCALER_LOG_FORMAT"),
        ("AUTOSCALER_RETRY_ATTEMPTS", "0", "AUTOSCALER_RETRY_ATTEMPTS"),
    ],
)
def test_invalid_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "http://m:8080")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=expected):
        load_settings()


def test_token_and_basic_auth_are_exclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "http://m:8080")
    monkeypatch.setenv("AUTOSCALER_MARATHON_USER", "ops")
    monkeypatch.setenv("AUTOSCALER_MARATHON_PASSWORD", "hunter2")
    monkeypatch.setenv("AUTOSCALER_MARATHON_TOKEN", "tok-secret")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value) and "tok-secret" not in str(caught.value)


def test_secrets_never_appear_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "http://m:8080")
    monkeypatch.setenv("AUTOSCALER_MARATHON_USER", "ops")
    monkeypatch.setenv("AUTOSCALER_MARATHON_PASSWORD", "hunter2")
    settings = load_settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def test_ca_bundle_keeps_verification_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "https://m:8443")
    monkeypatch.setenv("AUTOSCALER_MARATHON_CA_BUNDLE", "/etc/ssl/company-ca.pem")
    assert load_settings().marathon_verify() == "/etc/ssl/company-ca.pem"


# --- the Marathon password from a file (a mounted volume, without a secret store) ------------------


def test_the_marathon_password_is_read_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "marathon-password"
    secret.write_text("pa ss:word\n")
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "http://marathon.example.internal:8080")
    monkeypatch.setenv("AUTOSCALER_MARATHON_USER", "autoscaler")
    monkeypatch.setenv("AUTOSCALER_MARATHON_PASSWORD_FILE", str(secret))
    settings = load_settings()
    assert settings.marathon_password is not None
    assert settings.marathon_password.get_secret_value() == "pa ss:word"  # one trailing newline dropped
    assert "pa ss:word" not in repr(settings) + str(settings)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "must hold the secret on one line"),
        (b"\n", "must hold the secret on one line"),
        (b"first\nsecond\n", "must hold the secret on one line"),
        (b"x" * 5000, "is over 4096 bytes"),
        (b"\xff\xfe-not-text", "is not UTF-8 text"),
    ],
    ids=["empty", "only-newline", "two-lines", "huge", "binary"],
)
def test_an_unusable_password_file_is_named_and_never_quoted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: bytes, problem: str
) -> None:
    secret = tmp_path / "marathon-password"
    secret.write_bytes(content)
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "http://marathon.example.internal:8080")
    monkeypatch.setenv("AUTOSCALER_MARATHON_USER", "autoscaler")
    monkeypatch.setenv("AUTOSCALER_MARATHON_PASSWORD_FILE", str(secret))
    with pytest.raises(ConfigurationError, match=f"AUTOSCALER_MARATHON_PASSWORD_FILE {secret} {problem}") as caught:
        load_settings()
    assert "second" not in str(caught.value) and "xxxx" not in str(caught.value)


def test_a_missing_password_file_and_both_ways_at_once_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "http://marathon.example.internal:8080")
    monkeypatch.setenv("AUTOSCALER_MARATHON_USER", "autoscaler")
    monkeypatch.setenv("AUTOSCALER_MARATHON_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match=r"PASSWORD_FILE .*absent cannot be read \(No such file"):
        load_settings()
    (tmp_path / "absent").write_text("secret")
    monkeypatch.setenv("AUTOSCALER_MARATHON_PASSWORD", "another")
    with pytest.raises(ConfigurationError, match="AUTOSCALER_MARATHON_PASSWORD or AUTOSCALER_MARATHON_PASSWORD_FILE"):
        load_settings()


def test_deadlines_follow_the_interval_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "http://marathon.mesos:8080")
    monkeypatch.setenv("AUTOSCALER_INTERVAL", "20s")
    settings = load_settings()
    assert (settings.tick_deadline(), settings.source_deadline()) == (pytest.approx(18.0), pytest.approx(8.0))
    assert settings.max_response_bytes == 16 * 1024 * 1024
    monkeypatch.setenv("AUTOSCALER_TICK_TIMEOUT", "10s")
    monkeypatch.setenv("AUTOSCALER_SOURCE_TIMEOUT", "3s")
    monkeypatch.setenv("AUTOSCALER_MAX_RESPONSE_BYTES", "2048")
    settings = load_settings()
    assert (settings.tick_deadline(), settings.source_deadline(), settings.max_response_bytes) == (10.0, 3.0, 2048)


@pytest.mark.parametrize(
    ("name", "value"),
    [("AUTOSCALER_TICK_TIMEOUT", "16s"), ("AUTOSCALER_SOURCE_TIMEOUT", "0s"), ("AUTOSCALER_MAX_RESPONSE_BYTES", "10")],
)
def test_deadlines_and_limits_out_of_range_are_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv("AUTOSCALER_MARATHON_URL", "http://marathon.mesos:8080")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        load_settings()
