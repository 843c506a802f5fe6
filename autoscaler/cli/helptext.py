"""What the command line tells a person about itself: its version, what each command is for, the
settings of `autoscaler run` and its exit codes, and the settings it does not know.

The settings listed in `run --help` are generated from the Settings model, so a new setting appears
there without anyone typing it twice; an AUTOSCALER_* variable that is not one of them is most likely
a typo (AUTOSCALER_INTERVALL) that would otherwise be ignored in silence, so start-up warns about it
with the nearest known name, and never with its value (it may be a password).
"""

from __future__ import annotations

import argparse
import difflib
import textwrap
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

import autoscaler
from autoscaler.core.units import format_duration
from autoscaler.service import EXIT_CONFIG, EXIT_TICK_FAILED
from autoscaler.settings import Settings

PREFIX = "AUTOSCALER_"
_WIDTH = 100
DISTRIBUTION = "marathon-autoscaler"

# The exit codes of `autoscaler run`; the command line is the only place that exits.
EXIT_OK = 0
EXIT_FORCED_STOP = 3
# SIGTERM to exit, at most: within deploy/marathon.json's taskKillGracePeriodSeconds (15).
SHUTDOWN_GRACE_SECONDS = 10.0
EXIT_CODES = (
    (EXIT_OK, "stopped by SIGTERM or SIGINT, or --once reached Marathon"),
    (EXIT_TICK_FAILED, "--once could not read the apps from Marathon"),
    (EXIT_CONFIG, "a setting, a policy directory or Marathon's credentials are wrong"),
    (
        EXIT_FORCED_STOP,
        f"stopped, but the shutdown did not finish within {SHUTDOWN_GRACE_SECONDS:g}s (a worker thread was stuck)",
    ),
)

# A sentence per command for its own --help; a command missing here shows its one-line help.
DESCRIPTIONS = {
    "validate": "Check policy files and campaigns as the service would load them; every problem is "
    "printed with its file, line and field. Exits 1 when there is an error.",
    "run": "Run the control loop: every interval, list the apps in Marathon, ask the metric sources, decide "
    "per app and scale the apps that change. Settings come from the environment (below).",
    "demo": "Run the real control loop against a built-in Marathon and metrics source, with the dashboard; "
    "no server is needed.",
    "explain": "Why would this app scale (or not) right now? Reads its policy, Marathon and the metric "
    "sources once and prints the whole decision; never writes.",
    "backtest": "What a policy would have done over a past period, replayed tick by tick from the metric "
    "sources' history; prints a summary, and the actions on request.",
}


def version() -> str:
    """The installed distribution's version (the package's own when it is not installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return autoscaler.__version__


def describe_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Give every command a description for its own --help: its entry in DESCRIPTIONS, else its help."""
    helps = {action.dest: action.help for action in commands._choices_actions}
    for name, parser in commands.choices.items():
        if parser.description is None:
            parser.description = DESCRIPTIONS.get(name) or helps.get(name)


def document_run(parser: argparse.ArgumentParser) -> None:
    """`run --help`: its description, then the settings and the exit codes, laid out as written."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = textwrap.fill(parser.description or DESCRIPTIONS["run"], width=_WIDTH)
    parser.epilog = run_epilog()


def run_epilog() -> str:
    """The settings of `autoscaler run` and its exit codes, for its --help."""
    rows = [(", ".join(variable_names(name, info)), _kind(info), _default(info)) for name, info in _fields()]
    width = max(len(names) for names, _, _ in rows)
    lines = ["settings (environment variables; AUTOSCALER_MARATHON_URL is required; an empty value means not set):"]
    for names, kind, default in rows:
        lines.append(f"  {names:<{width}}  {kind}; default {default}")
    lines.append("")
    lines.append("exit codes:")
    lines.extend(f"  {code}  {meaning}" for code, meaning in EXIT_CODES)
    return "\n".join(lines)


def variable_names(name: str, info: FieldInfo) -> list[str]:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [PREFIX + name.upper()]


def known_variables() -> set[str]:
    return {variable for name, info in _fields() for variable in variable_names(name, info)}


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Every AUTOSCALER_* name in `environ` that is no setting, with the nearest setting, if any.
    Only the names are read, never the values."""
    known = known_variables()
    found = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in known:
            continue
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        found.append((name, near[0] if near else None))
    return found


def _fields() -> Iterable[tuple[str, FieldInfo]]:
    return Settings.model_fields.items()


def _kind(info: FieldInfo) -> str:
    annotation: Any = info.annotation
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) is typing.Literal:
        return "|".join(str(choice) for choice in typing.get_args(annotation))
    names: dict[Any, str] = {
        bool: "true|false",
        int: "integer",
        float: "number",
        str: "text",
        Path: "path",
        SecretStr: "secret",
        timedelta: "duration (45s, 5m, 1h30m)",
    }
    kind = names.get(annotation, getattr(annotation, "__name__", str(annotation)))
    bounds = [
        f"{symbol} {getattr(item, attr)}"
        for item in info.metadata
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        if getattr(item, attr, None) is not None
    ]
    return f"{kind} {', '.join(bounds)}" if bounds else kind


def _default(info: FieldInfo) -> str:
    value = info.default
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    return str(value)
