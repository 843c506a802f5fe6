"""Service settings from the environment (prefix AUTOSCALER_), read only by the command line.

A missing or invalid setting becomes a ConfigurationError that names the environment variable, at
start-up, before anything talks to Marathon. Secrets are SecretStr: they never print.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from autoscaler.core.units import parse_duration
from autoscaler.errors import ConfigurationError

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _check_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith(("http://", "https://")):
        # The value is never quoted: a mistyped URL may still carry a password.
        raise ValueError("expected an http:// or https:// URL (the value is not shown: it may hold a password)")
    return value.rstrip("/")


class Settings(BaseSettings):
    """Every setting of `autoscaler run`; each is the environment variable AUTOSCALER_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="AUTOSCALER_", extra="ignore", frozen=True, env_ignore_empty=True)

    marathon_url: str | None = None  # required by `run`; backtests need only the metric sources
    marathon_user: str | None = None
    marathon_password: SecretStr | None = None
    marathon_password_file: Path | None = None  # the password read from a file (a mounted volume)
    marathon_token: SecretStr | None = None  # DC/OS ACS token, sent as `Authorization: token=...`
    marathon_ca_bundle: Path | None = None
    marathon_verify_tls: bool = True

    prometheus_url: str | None = None
    prometheus_user: str | None = None
    prometheus_password: SecretStr | None = None
    prometheus_token: SecretStr | None = None  # bearer token
    graphite_url: str | None = None
    graphite_user: str | None = None
    graphite_password: SecretStr | None = None
    metrics_ca_bundle: Path | None = None
    metrics_verify_tls: bool = True

    policy_dir: Path = Path("policies")
    interval: Duration = timedelta(seconds=15)
    request_timeout: Duration = timedelta(seconds=5)  # one attempt as a whole: connect, send, full body
    max_response_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=2**31)  # any one answer's body
    tick_timeout: Duration | None = None  # default: 90 % of the interval
    source_timeout: Duration | None = None  # each metric source's batch; default: 40 % of the interval
    retry_attempts: int = Field(default=3, ge=1, le=10)
    concurrency: int = Field(default=16, ge=1, le=256)
    write_concurrency: int = Field(default=4, ge=1, le=64)  # Marathon applies app changes one at a time
    policy_poll_interval: Duration = timedelta(seconds=5)  # 0s: reload on SIGHUP only

    host: str = "0.0.0.0"  # the status server (health, readiness, /metrics, API, dashboard)
    port: int = Field(default=8080, ge=0, le=65535, validation_alias=AliasChoices("AUTOSCALER_PORT", "PORT0"))
    api_token: SecretStr | None = None  # protects /api/ of the status server (and is sent to it by explain)
    status_url: str | None = None  # a running service's status server, asked by explain and the dry-run preview
    server_max_connections: int = Field(default=128, ge=1, le=10000)  # status server: open connections
    server_max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)  # request line + headers
    server_read_timeout: Duration = timedelta(seconds=10)  # a request's head must arrive within it
    server_write_timeout: Duration = timedelta(seconds=10)  # a response must be read within it

    notify_urls: SecretStr | None = None  # FORMAT:URL[,FORMAT:URL...]; formats slack, dingtalk, wecom, json
    notify_dingtalk_secret: SecretStr | None = None
    notify_failure_ticks: int = Field(default=3, ge=1, le=10000)
    notify_scale_actions: bool = True
    notify_rate: float = Field(default=20.0, gt=0, le=6000)  # messages per minute per target
    notify_queue: int = Field(default=100, ge=1, le=100000)
    notify_title: str = "marathon-autoscaler"
    graphite_events: bool = False
    graphite_events_url: str | None = None  # default: AUTOSCALER_GRAPHITE_URL
    graphite_events_tags: str = "autoscaler"

    zk_hosts: str | None = None  # e.g. zk1:2181,zk2:2181,zk3:2181[/chroot]; enables leader election
    zk_path: str = "/marathon-autoscaler/leader"
    zk_session_timeout: Duration = timedelta(seconds=30)
    zk_pause_path: str = "/marathon-autoscaler/pauses"  # the node that holds the pauses, with ZK_HOSTS
    state_dir: Path | None = None  # where a single instance keeps its pauses (pauses.json); a persistent volume

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"

    _urls = field_validator("marathon_url", "prometheus_url", "graphite_url", "graphite_events_url", "status_url")(
        _check_url
    )

    @field_validator("interval")
    @classmethod
    def _positive_interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("the interval must be at least 1s")
        return value

    @field_validator("server_read_timeout", "server_write_timeout")
    @classmethod
    def _server_timeout(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=10):
            raise ValueError("a status server timeout must be from 1s to 10m")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def tick_deadline(self) -> float:
        """Seconds a tick may take before it is cut short (writes nothing it has not decided)."""
        if self.tick_timeout is not None:
            return self.tick_timeout.total_seconds()
        return 0.9 * self.interval.total_seconds()

    def source_deadline(self) -> float:
        """Seconds one metric source's batch of queries may take in a tick."""
        if self.source_timeout is not None:
            return self.source_timeout.total_seconds()
        return 0.4 * self.interval.total_seconds()

    def marathon_verify(self) -> bool | str:
        if self.marathon_ca_bundle is not None:
            return str(self.marathon_ca_bundle)
        return self.marathon_verify_tls

    def metrics_verify(self) -> bool | str:
        if self.metrics_ca_bundle is not None:
            return str(self.metrics_ca_bundle)
        return self.metrics_verify_tls


MAX_SECRET_FILE_BYTES = 4096


def _secret_from_file(path: Path, *, variable: str) -> SecretStr:
    """The secret in `path` (one line; a trailing newline is dropped), read at most MAX_SECRET_FILE_BYTES.

    Errors name the variable and the path, never anything read from the file."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(f"invalid settings: {variable} {path} cannot be read ({exc.strerror})") from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ConfigurationError(f"invalid settings: {variable} {path} is over {MAX_SECRET_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"invalid settings: {variable} {path} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text or "\n" in text:
        raise ConfigurationError(f"invalid settings: {variable} {path} must hold the secret on one line")
    return SecretStr(text)


def load_settings(*, require_marathon: bool = True) -> Settings:
    """Read the environment; raise ConfigurationError naming each bad or missing variable."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "AUTOSCALER_" + "_".join(str(part) for part in error["loc"]).upper()
            message = "is required" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
            problems.append(f"{name} {message}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None
    if require_marathon and settings.marathon_url is None:
        raise ConfigurationError("invalid settings: AUTOSCALER_MARATHON_URL is required")
    if settings.marathon_token is not None and settings.marathon_user is not None:
        raise ConfigurationError(
            "invalid settings: set AUTOSCALER_MARATHON_TOKEN or AUTOSCALER_MARATHON_USER/PASSWORD, not both"
        )
    for name, value in (("TICK_TIMEOUT", settings.tick_timeout), ("SOURCE_TIMEOUT", settings.source_timeout)):
        if value is not None and not timedelta(0) < value <= settings.interval:
            raise ConfigurationError(
                f"invalid settings: AUTOSCALER_{name} must be more than 0s and at most AUTOSCALER_INTERVAL"
            )
    if settings.zk_hosts is not None:
        longest_write = max(settings.request_timeout.total_seconds(), 0.6 * settings.interval.total_seconds())
        if settings.zk_session_timeout.total_seconds() < 3 * longest_write:
            raise ConfigurationError(
                "invalid settings: AUTOSCALER_ZK_SESSION_TIMEOUT must be at least 3 x the longest write "
                f"({longest_write:g}s: the larger of AUTOSCALER_REQUEST_TIMEOUT and 60 % of AUTOSCALER_INTERVAL), "
                "so that a write in flight lands before another instance can lead"
            )
    if settings.marathon_password_file is not None:
        if settings.marathon_password is not None:
            raise ConfigurationError(
                "invalid settings: set AUTOSCALER_MARATHON_PASSWORD or AUTOSCALER_MARATHON_PASSWORD_FILE, not both"
            )
        password = _secret_from_file(settings.marathon_password_file, variable="AUTOSCALER_MARATHON_PASSWORD_FILE")
        settings = settings.model_copy(update={"marathon_password": password})
    if (settings.marathon_user is None) != (settings.marathon_password is None):
        raise ConfigurationError(
            "invalid settings: AUTOSCALER_MARATHON_USER and AUTOSCALER_MARATHON_PASSWORD go together"
        )
    return settings
