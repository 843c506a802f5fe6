"""What to notify and where: webhook targets parsed from the settings, and the notifier's limits.

Webhook URLs carry secrets (tokens in paths and query strings): a target names itself by its format,
scheme and host only, and errors about an entry name it by position, never by its URL.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Literal

from autoscaler.core.codes import PROBLEM_CODES, Outcome
from autoscaler.delivery import redact_url
from autoscaler.errors import ConfigurationError

Format = Literal["slack", "dingtalk", "wecom", "json"]
FORMATS: tuple[Format, ...] = ("slack", "dingtalk", "wecom", "json")

# Outcome codes that mean "something outside the engine keeps this app from being managed" when
# they persist: the engine's problem codes, and a deployment that does not end. Holds such as
# cooldown or within_tolerance are the engine working as intended.
DEFAULT_FAILURE_CODES: frozenset[str] = PROBLEM_CODES | {Outcome.DEPLOYMENT_IN_PROGRESS}


@dataclass(frozen=True)
class WebhookTarget:
    """One webhook: its message format, its URL (a secret) and, for DingTalk, the signing secret."""

    format: Format
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """How the target is named in logs and stats, without its secrets."""
        return f"{self.format}:{redact_url(self.url)}"

    def __str__(self) -> str:
        return self.label


def parse_targets(spec: str, *, dingtalk_secret: str | None = None) -> tuple[WebhookTarget, ...]:
    """Targets from `format:url[,format:url...]` (e.g. `slack:https://hooks.slack.com/services/...`).

    `dingtalk_secret` signs every DingTalk target (the robot's "加签" secret, `SEC...`). Errors name
    the entry by position, never by its URL.
    """
    targets: list[WebhookTarget] = []
    for position, raw in enumerate(spec.split(","), start=1):
        entry = raw.strip()
        if not entry:
            continue
        kind, sep, url = entry.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in FORMATS:
            raise ConfigurationError(
                f"AUTOSCALER_NOTIFY_URLS: entry {position} must be FORMAT:URL with FORMAT one of {', '.join(FORMATS)}"
            )
        url = url.strip()
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"AUTOSCALER_NOTIFY_URLS: entry {position} ({kind}) needs an http(s) URL")
        fmt: Format = kind  # checked against FORMATS above
        targets.append(WebhookTarget(fmt, url, dingtalk_secret if fmt == "dingtalk" else None))
    return tuple(targets)


@dataclass(frozen=True)
class NotifyConfig:
    """Everything the notifier needs, as simple values (mapped from AUTOSCALER_NOTIFY_* settings).

    `failure_ticks`: consecutive ticks a failure must last before it is reported (and it is then
    reported once, until it recovers). `rate_per_minute` and `burst` shape each target's token
    bucket; `queue_size` bounds each target's queue. `title` starts every message (name the cluster
    when several autoscalers share a channel).
    """

    targets: tuple[WebhookTarget, ...]
    failure_ticks: int = 3
    failure_codes: frozenset[str] = DEFAULT_FAILURE_CODES
    scale_actions: bool = True
    rate_per_minute: float = 20.0
    burst: int = 5
    queue_size: int = 100
    title: str = "marathon-autoscaler"

    def __post_init__(self) -> None:
        if self.failure_ticks < 1:
            raise ConfigurationError("AUTOSCALER_NOTIFY_FAILURE_TICKS must be at least 1")
        if self.rate_per_minute <= 0 or self.burst < 1:
            raise ConfigurationError("AUTOSCALER_NOTIFY_RATE must be above 0 (and the burst at least 1)")
        if self.queue_size < 1:
            raise ConfigurationError("AUTOSCALER_NOTIFY_QUEUE must be at least 1")
