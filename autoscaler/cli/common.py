"""What several commands share: app ids and URLs as arguments, the running service to ask, and the
warning about AUTOSCALER_* variables that are no setting."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from autoscaler.cli import helptext
from autoscaler.settings import Settings
from autoscaler.statusclient import StatusClient
from autoscaler.targets.marathon import app_id_problem
from autoscaler.wiring import retry_policy, secret_value


def app_id_arg(text: str) -> str:
    """An app id as operators type it: `checkout/web` is `/checkout/web`."""
    app_id = text.strip()
    app_id = app_id if app_id.startswith("/") else "/" + app_id
    problem = app_id_problem(app_id)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text[:200]!r} is not a Marathon app id: {problem}")
    return app_id


def url_arg(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text[:200]!r}")
    return text.rstrip("/")


def add_service_options(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument(
        "--url",
        type=url_arg,
        default=None,
        help=f"the running service's status server, e.g. http://autoscaler.marathon.mesos:8080 (default: "
        f"AUTOSCALER_STATUS_URL; its API token from AUTOSCALER_API_TOKEN): {what}",
    )
    parser.add_argument("--offline", action="store_true", help="decide in this process even if a URL is set")


def status_url(args: argparse.Namespace, settings: Settings) -> str | None:
    """The running service to ask (--url, else AUTOSCALER_STATUS_URL), or None to decide offline."""
    if args.offline:
        return None
    url: str | None = args.url or settings.status_url
    return url


def status_client(url: str, settings: Settings) -> StatusClient:
    return StatusClient(
        base_url=url,
        policy=retry_policy(settings, settings.interval.total_seconds()),
        token=secret_value(settings.api_token),
    )


def warn_unknown_settings(logger: logging.Logger | None) -> None:
    """An AUTOSCALER_* variable that is no setting is a typo until proven otherwise; its value is never
    shown. Without a logger yet (the settings did not load), the warning goes to stderr."""
    for name, near in helptext.unknown_variables(os.environ):
        hint = f" (did you mean {near}?)" if near else ""
        if logger is None:
            print(f"autoscaler: unknown setting {name} is ignored{hint}", file=sys.stderr)
            continue
        logger.warning(
            "unknown setting %s is ignored%s",
            name,
            hint,
            extra={"fields": {"event": "unknown_setting", "variable": name, "suggestion": near}},
        )
