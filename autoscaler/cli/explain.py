"""`autoscaler explain APP`: why the app would scale (or not) right now, asked of the running service
or decided in this process from Marathon and the metric sources. It only reads."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from autoscaler import logs
from autoscaler.cli.common import add_service_options, app_id_arg, status_client, status_url
from autoscaler.cliargs import DURATION_HELP, duration_arg
from autoscaler.core.startup import StartupEstimate
from autoscaler.errors import ConfigurationError, TargetAuthError, TargetError
from autoscaler.explain import ExplainError, explain_offline
from autoscaler.preview import explanation_json, service_explanation_json, service_text
from autoscaler.service import EXIT_CONFIG, EXIT_TICK_FAILED
from autoscaler.settings import Settings, load_settings
from autoscaler.statusclient import StatusAPIAuthError, StatusAPIError, StatusAPINotManaged
from autoscaler.wiring import build_providers, load_policies, marathon_client, retry_policy, utc_now

_parse_span = duration_arg()


async def _explain_service(args: argparse.Namespace, settings: Settings, url: str) -> int:
    async with status_client(url, settings) as client:
        view = await client.app(args.app)
    if args.json:
        print(json.dumps(service_explanation_json(view, url=client.url), indent=2))
    else:
        print(service_text(view, url=client.url, now=utc_now()))
    return 0


async def _explain_async(args: argparse.Namespace, settings: Settings, logger: logging.Logger) -> int:
    loaded = load_policies(settings, logger)
    retry = retry_policy(settings, settings.interval.total_seconds())
    policy = loaded.policies.get(args.app)
    providers = build_providers(settings, policies={args.app: policy} if policy is not None else {}, retry=retry)
    target = marathon_client(settings, retry)
    try:
        startup = StartupEstimate(args.app, args.startup.total_seconds(), ()) if args.startup is not None else None
        found = await explain_offline(
            args.app,
            policies=loaded.policies,
            target=target,
            providers=providers,
            now=utc_now(),
            interval=settings.interval,
            startup=startup,
            source_timeout=settings.source_deadline(),
            logger=logger,
        )
        print(json.dumps(explanation_json(found, app_id=args.app), indent=2) if args.json else found.text)
        return 0
    finally:
        await target.aclose()
        for provider in providers.values():
            await provider.aclose()


def _explain(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(require_marathon=False)
        url = status_url(args, settings)
        if url is not None:
            return asyncio.run(_explain_service(args, settings, url))
        settings = load_settings()
        if args.policy_dir is not None:
            settings = settings.model_copy(update={"policy_dir": args.policy_dir})
        logger = logs.configure(level="WARNING", fmt="text")
        return asyncio.run(_explain_async(args, settings, logger))
    except (ConfigurationError, ExplainError, TargetAuthError, StatusAPIAuthError, StatusAPINotManaged) as exc:
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (TargetError, StatusAPIError) as exc:
        print(f"autoscaler: {exc}", file=sys.stderr)
        return EXIT_TICK_FAILED


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain = commands.add_parser("explain", help="why would this app scale (or not) right now? reads only")
    explain.add_argument("app", type=app_id_arg, help="Marathon app id, e.g. /shop/api (the leading / may be left out)")
    explain.add_argument("--policy-dir", type=Path, default=None, help="overrides AUTOSCALER_POLICY_DIR (offline)")
    explain.add_argument("--json", action="store_true", help="one JSON object with the fields the README lists")
    add_service_options(explain, what="ask the running service for its decision instead of deciding here")
    explain.add_argument(
        "--startup",
        type=_parse_span,
        default=None,
        help="the app's start-up time as the service learned it (its status API): the forecast's horizon and "
        f"lead: auto use it (default: the 2m fallback; {DURATION_HELP})",
    )
    explain.set_defaults(handler=_explain)
