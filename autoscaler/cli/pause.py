"""`autoscaler pause` and `autoscaler resume`: freeze apps on the running service, and lift the freeze.

The pauses live in the running service (its ZooKeeper or state file), so these commands do not
decide anything themselves: they ask the service's status API (`--url`, else AUTOSCALER_STATUS_URL)
with its API token (AUTOSCALER_API_TOKEN), as `explain --url` reads it. Who paused is this user at
this host unless `--by` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from autoscaler.cli.common import url_arg
from autoscaler.cliargs import duration_arg
from autoscaler.core.pause import ALL, DEFAULT_PAUSE, MAX_PAUSE, MAX_REASON_CHARS, scope_problem
from autoscaler.core.units import format_duration
from autoscaler.errors import ConfigurationError
from autoscaler.http import RetryPolicy
from autoscaler.settings import Settings, load_settings
from autoscaler.statusclient import StatusAPIAuthError, StatusAPIError, StatusClient

__all__ = ["add_parser"]

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
_FOR_HELP = (
    f"how long (default {format_duration(DEFAULT_PAUSE)}, at most {format_duration(MAX_PAUSE)}): "
    "a duration like 30m, 2h or 1d"
)


def _scope(text: str) -> str:
    """`shop/api` -> `/shop/api`; `/shop/*` is a group."""
    scope = text.strip()
    scope = scope if scope.startswith("/") else "/" + scope
    problem = scope_problem(scope)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return scope


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:100]


def _client(args: argparse.Namespace, settings: Settings) -> StatusClient:
    url: str | None = args.url or settings.status_url
    if url is None:
        raise ConfigurationError(
            "pause and resume ask the running service: give --url or set AUTOSCALER_STATUS_URL to its status server"
        )
    token = settings.api_token.get_secret_value() if settings.api_token is not None else None
    if not token:
        raise ConfigurationError("pause and resume need the service's API token: set AUTOSCALER_API_TOKEN")
    timeout = settings.request_timeout.total_seconds()
    policy = RetryPolicy(attempts=settings.retry_attempts, request_timeout=timeout, total_timeout=3 * timeout)
    return StatusClient(base_url=url, policy=policy, token=token)


def _target(args: argparse.Namespace) -> str:
    if args.all == (args.app is not None):
        raise ConfigurationError("name one app or group (like /shop/api or /shop/*), or give --all")
    return ALL if args.all else str(args.app)


def _describe(pause: dict[str, Any]) -> str:
    scope = "every app" if pause.get("scope") == ALL else str(pause.get("scope", "?"))
    who = f" by {pause['by']}" if pause.get("by") else ""
    why = f": {pause['reason']}" if pause.get("reason") else ""
    return f"{scope}{who} until {pause.get('until', '?')}{why}"


async def _pause(args: argparse.Namespace, settings: Settings) -> int:
    scope = _target(args)
    duration = format_duration(args.duration) if args.duration is not None else None
    async with _client(args, settings) as client:
        pause = await client.pause(scope, duration=duration, reason=args.reason, by=args.by or _who())
    print(f"paused {_describe(pause)}")
    return EXIT_OK


async def _resume(args: argparse.Namespace, settings: Settings) -> int:
    scope = _target(args)
    async with _client(args, settings) as client:
        pause = await client.resume(scope, by=args.by or _who())
    if pause is None:
        what = "every app (*)" if scope == ALL else scope
        print(
            f"{what} had no pause of its own: nothing to resume (a pause is lifted by the id or group it was made for)"
        )
        return EXIT_OK
    print(f"resumed {_describe(pause)}")
    return EXIT_OK


def _handler(run: Callable[[argparse.Namespace, Settings], Any]) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        try:
            settings = load_settings(require_marathon=False)
            code: int = asyncio.run(run(args, settings))
            return code
        except (ConfigurationError, StatusAPIAuthError) as exc:
            print(f"autoscaler: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        except StatusAPIError as exc:
            print(f"autoscaler: {exc}", file=sys.stderr)
            return EXIT_FAILED

    return handle


def _reason(text: str) -> str:
    if len(text) > MAX_REASON_CHARS:
        raise argparse.ArgumentTypeError(f"a reason is at most {MAX_REASON_CHARS} characters")
    return text


def add_parser(commands: Any) -> None:
    """Add `pause` and `resume` to the `autoscaler` command's subparsers."""
    for name, run, summary in (
        ("pause", _pause, "hold an app, a group (/shop/*) or every app at its count until the pause ends"),
        ("resume", _resume, "lift a pause made for an app, a group or every app"),
    ):
        parser: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=summary)
        parser.add_argument("app", nargs="?", type=_scope, help="app id like /shop/api, or a group like /shop/*")
        parser.add_argument("--all", action="store_true", help="every app (the fleet-wide pause)")
        if name == "pause":
            parser.add_argument(
                "--for", dest="duration", type=duration_arg(minimum=timedelta(0), exclusive=True), help=_FOR_HELP
            )
            parser.add_argument("--reason", type=_reason, default="", help="why, shown with the pause everywhere")
        parser.add_argument("--by", default=None, help="who (default: user@host)")
        parser.add_argument(
            "--url",
            type=url_arg,
            default=None,
            help="the running service's status server (default AUTOSCALER_STATUS_URL; its token from "
            "AUTOSCALER_API_TOKEN)",
        )
        parser.set_defaults(handler=_handler(run))
