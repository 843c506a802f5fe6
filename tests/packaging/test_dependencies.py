"""The dependencies: every one declared is pinned in constraints.txt (the dev tools at the very version
pyproject.toml names), every runtime one is used by the service, and time zones resolve from the
`tzdata` package with the machine's own zone database out of reach."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from autoscaler.policyfiles import load_directory

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# Needed without an import of their own: zoneinfo reads tzdata's files when the OS has no database;
# httpcore imports sniffio on every request (see pyproject.toml).
USED_WITHOUT_IMPORT = {"tzdata", "sniffio"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(text: str) -> tuple[str, str]:
    """(canonical name, version specifier) of a PEP 508 line without markers or extras."""
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)", text.strip())
    assert match is not None, text
    return canonical(match.group(1)), match.group(2).strip()


def pins() -> dict[str, str]:
    pinned: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pinned[canonical(name)] = version.strip()
    return pinned


def declared() -> list[tuple[str, str]]:
    dev = PYPROJECT["optional-dependencies"]["dev"]
    return [requirement(r) for r in [*PYPROJECT["dependencies"], *dev]]


def test_every_declared_dependency_is_pinned_and_pip_too() -> None:
    pinned = pins()
    unpinned = [name for name, _ in declared() if name not in pinned]
    assert unpinned == [], f"not in constraints.txt (run `make constraints`): {unpinned}"
    assert "pip" in pinned
    assert "marathon-autoscaler" not in pinned and "setuptools" not in pinned


def test_dev_tools_are_pinned_exactly_and_agree_with_the_constraints() -> None:
    pinned = pins()
    for text in PYPROJECT["optional-dependencies"]["dev"]:
        name, specifier = requirement(text)
        assert specifier.startswith("=="), f"{text}: a dev tool is pinned exactly"
        assert specifier == f"=={pinned.get(name)}", f"{text} disagrees with constraints.txt (run `make constraints`)"


def imported_top_level_modules() -> set[str]:
    modules: set[str] = set()
    for path in (REPO / "autoscaler").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules


def test_every_runtime_dependency_is_imported_by_the_service() -> None:
    providers = packages_distributions()  # top-level module -> the distributions that provide it
    used = {canonical(dist) for module in imported_top_level_modules() for dist in providers.get(module, [])}
    runtime = {name for name, _ in (requirement(r) for r in PYPROJECT["dependencies"])}
    assert sorted(runtime - used - USED_WITHOUT_IMPORT) == [], "declared but never imported by autoscaler/"


@pytest.fixture
def no_system_zones() -> Iterator[None]:
    """The OS zone database out of reach: zoneinfo searches no directory, only the tzdata package."""
    zoneinfo.reset_tzpath(to=[])
    zoneinfo.ZoneInfo.clear_cache()
    try:
        yield
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()


def test_zones_resolve_from_tzdata_without_the_os_database(no_system_zones: None) -> None:
    assert zoneinfo.TZPATH == ()
    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    assert datetime(2026, 11, 11, tzinfo=UTC).astimezone(shanghai).utcoffset().total_seconds() == 8 * 3600
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")  # and its DST rules with it
    assert datetime(2026, 7, 1, tzinfo=berlin).utcoffset() != datetime(2026, 1, 1, tzinfo=berlin).utcoffset()
    # the repository's policies name zones (Asia/Shanghai): they load as they do with the OS database
    loaded = load_directory(REPO / "policies")
    assert loaded.policies and loaded.errors == []


def test_without_tzdata_the_hidden_os_database_leaves_no_zone(
    no_system_zones: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the test above: with the OS database hidden, tzdata is the only source."""
    for loaded in [name for name in sys.modules if name.startswith("tzdata.")]:
        monkeypatch.delitem(sys.modules, loaded)
    monkeypatch.setitem(sys.modules, "tzdata", None)  # as if it were not installed
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        zoneinfo.ZoneInfo.no_cache("Asia/Shanghai")
