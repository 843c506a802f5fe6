"""`autoscaler run`: the service itself, one tick of it (`--once`), or a preview of the running one.

The flags become plain arguments of `autoscaler.service.run_service`; a shutdown that hangs is ended
by the watchdog here, the one place besides `main` that may end the process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from autoscaler import logs
from autoscaler.cli import helptext
from autoscaler.cli.common import add_service_options, status_client, status_url, warn_unknown_settings
from autoscaler.errors import ConfigurationError
from autoscaler.preview import preview_lines
from autoscaler.service import EXIT_CONFIG, EXIT_TICK_FAILED, run_service
from autoscaler.settings import Settings, load_settings
from autoscaler.statusclient import StatusAPIAuthError, StatusAPIError
from autoscaler.wiring import utc_now


async def _preview_service(settings: Settings, url: str) -> int:
    async with status_client(url, settings) as client:
        head, views = await client.apps()
    print("\n".join(preview_lines(head, views, url=client.url, now=utc_now())))
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        url = status_url(args, load_settings(require_marathon=False))
        if url is not None and not (args.once and args.dry_run):
            raise ConfigurationError("--url and AUTOSCALER_STATUS_URL preview a running service: add --once --dry-run")
        if url is not None:
            return asyncio.run(_preview_service(load_settings(require_marathon=False), url))
        settings = load_settings()
        if args.policy_dir is not None:
            settings = settings.model_copy(update={"policy_dir": args.policy_dir})
    except (ConfigurationError, StatusAPIAuthError) as exc:
        warn_unknown_settings(None)
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StatusAPIError as exc:
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_TICK_FAILED
    logger = logs.configure(level=settings.log_level, fmt=settings.log_format)
    warn_unknown_settings(logger)
    watchdog = ShutdownWatchdog(logger, grace=helptext.SHUTDOWN_GRACE_SECONDS)
    try:
        return asyncio.run(run_service(settings, logger, dry_run=args.dry_run, once=args.once, on_stop=watchdog.arm))
    except ConfigurationError as exc:
        logger.error("configuration error: %s", exc, extra={"fields": {"event": "config_error"}})
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_CONFIG


class ShutdownWatchdog:
    """Ends the process when a shutdown takes longer than its grace period.

    The loop, the status server and the background senders stop within seconds, but a worker thread
    that never returns (a read that blocks, a client library that hangs) would keep the process alive
    for ever: Python waits for such threads at exit. Armed when the stop signal arrives, a daemon thread
    gives the shutdown `grace` seconds, then says so and exits with EXIT_FORCED_STOP.
    """

    def __init__(self, logger: logging.Logger, *, grace: float, exit_now: Callable[[int], object] = os._exit) -> None:
        self._log = logger
        self._grace = grace
        self._exit = exit_now
        self._armed = threading.Event()

    def arm(self) -> None:
        if self._armed.is_set():
            return
        self._armed.set()
        threading.Thread(target=self._expire, name="shutdown watchdog", daemon=True).start()

    def _expire(self) -> None:
        time.sleep(self._grace)  # a daemon thread: a process that exits in time never gets past this
        blocked = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread() and t.is_alive())
        self._log.error(
            "shutdown did not finish within %gs (threads still running: %s); exiting",
            self._grace,
            logs.short_text(", ".join(blocked) or "none"),
            extra={"fields": {"event": "forced_stop", "threads": blocked[:20]}},
        )
        for handler in self._log.handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        self._exit(helptext.EXIT_FORCED_STOP)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser("run", help="run the control loop (settings from AUTOSCALER_* variables)")
    run.add_argument("--once", action="store_true", help="run one tick and exit")
    run.add_argument("--dry-run", action="store_true", help="decide and report, never write to Marathon")
    run.add_argument("--policy-dir", type=Path, default=None, help="overrides AUTOSCALER_POLICY_DIR")
    add_service_options(run, what="with --once --dry-run: show the running service's last decisions instead")
    run.set_defaults(handler=_run)
