"""Fuzzing the policy loader: whatever is in the policy directory, the result is a list of problems.

The unit tests of `autoscaler.policyfiles` pin one example of each refusal (size, nesting,
symlinks, aliases). Here Hypothesis throws many inputs at `load_paths`: arbitrary text and bytes,
arbitrary YAML documents, random mutations of the shipped policies, nesting around the limit,
sizes around the limit and symlink layouts. The properties: `load_paths` never raises, every
problem names a file that was read and a message, every loaded policy came from a file inside the
directory, and a bad file never stops the good ones from loading.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.policyfiles import MAX_DEPTH, MAX_FILE_BYTES, LoadResult, load_paths

SHIPPED = Path(__file__).resolve().parents[2] / "policies"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def check(result: LoadResult, root: Path) -> None:
    """Invariants of every load, whatever the input."""
    for problem in result.problems:
        assert problem.message, problem
        assert problem.severity in ("error", "warning"), problem
        assert problem.path in result.files or not Path(problem.path).exists(), problem
    assert set(result.policies) == set(result.sources)
    for app, source in result.sources.items():
        assert Path(source).resolve().is_relative_to(root.resolve()), (app, source)
        assert source not in result.failed_files(), (app, source)


yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["5m", "-1s", "100%", "0", "1e308", "/shop/api", "${app}", "* * * * *", "Asia/Shanghai"]),
)
yaml_documents = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.text(max_size=15), st.integers()), children, max_size=6),
    ),
    max_leaves=40,
)


@FUZZ
@given(st.text(max_size=2000))
def test_any_text_is_loaded_or_reported(text: str) -> None:
    with directory() as root:
        (root / "p.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        result = load_paths([root])
        check(result, root)
        assert result.policies == {} or not result.errors


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes_are_loaded_or_reported(data: bytes) -> None:
    with directory() as root:
        (root / "p.yaml").write_bytes(data)
        check(load_paths([root]), root)


@FUZZ
@given(yaml_documents)
def test_any_yaml_document_is_loaded_or_reported(document: Any) -> None:
    with directory() as root:
        (root / "p.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
        (root / "_defaults.yaml").write_text(yaml.safe_dump({"tolerance": 0.1}))
        check(load_paths([root]), root)


def _shipped() -> dict[str, Any]:
    files = sorted(p for p in SHIPPED.glob("*.yaml") if p.name != "_defaults.yaml")
    return {p.name: yaml.safe_load(p.read_text()) for p in files}


SHIPPED_DOCS = _shipped()


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    """One shipped policy with a few random edits: delete, replace, retype, add an unknown key."""
    name = draw(st.sampled_from(sorted(SHIPPED_DOCS)))
    data = copy.deepcopy(SHIPPED_DOCS[name])
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["delete", "replace", "unknown_key", "wrap"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(yaml_documents)
        elif action == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(yaml_scalars)
    return name, data


@FUZZ
@given(mutated())
def test_mutated_shipped_policies_are_reported_and_the_others_still_load(case: tuple[str, Any]) -> None:
    name, data = case
    with directory() as root:
        shutil.copytree(SHIPPED, root, dirs_exist_ok=True)
        (root / name).write_text(yaml.safe_dump(data, allow_unicode=True))
        result = load_paths([root])
        check(result, root)
        untouched = {doc["app"] for other, doc in SHIPPED_DOCS.items() if other != name}
        # A mutated file may now claim another file's app; only then may that app be missing.
        claimed = data.get("app") if isinstance(data, dict) and isinstance(data.get("app"), str) else None
        for app in untouched - {claimed}:
            assert app in result.policies, (app, [str(p) for p in result.problems])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["list", "map"]), min_size=1, max_size=MAX_DEPTH + 20))
def test_nesting_is_refused_exactly_beyond_the_limit(shape: list[str]) -> None:
    value: Any = "leaf"
    for kind in reversed(shape):
        value = [value] if kind == "list" else {"k": value}
    with directory() as root:
        (root / "p.yaml").write_text(yaml.safe_dump({"app": "/a", "x": value}, width=10**6))
        result = load_paths([root])
        check(result, root)
        refused = any("nesting deeper" in p.message for p in result.problems)
        assert refused == (len(shape) + 1 > MAX_DEPTH), (len(shape), [str(p) for p in result.problems])


@settings(max_examples=8, deadline=None)
@given(st.integers(min_value=-64, max_value=64))
def test_size_limit_is_exact(offset: int) -> None:
    policy = b"app: /shop/api\nmin_instances: 1\nmax_instances: 2\n"
    size = MAX_FILE_BYTES + offset
    with directory() as root:
        (root / "p.yaml").write_bytes(policy + b"#" * (size - len(policy) - 1) + b"\n")
        result = load_paths([root])
        check(result, root)
        assert ("/shop/api" in result.policies) == (size <= MAX_FILE_BYTES), [str(p) for p in result.problems]


LINK_TARGETS = ["inside.yaml", "../outside.yaml", "{outside}", "chain.yaml", "missing.yaml", "sub", "../outdir"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LINK_TARGETS), st.booleans()), min_size=1, max_size=5))
def test_symlinks_never_lead_out_of_the_directory(links: list[tuple[str, bool]]) -> None:
    with directory() as base:
        root = base / "policies"
        (root / "sub").mkdir(parents=True)
        (base / "outdir").mkdir()
        (root / "inside.yaml").write_text("app: /in/a\nmin_instances: 1\nmax_instances: 2\n")
        (base / "outside.yaml").write_text("app: /out/a\nmin_instances: 1\nmax_instances: 2\n")
        (base / "outdir" / "x.yaml").write_text("app: /out/b\nmin_instances: 1\nmax_instances: 2\n")
        os.symlink(base / "outside.yaml", root / "chain.yaml")
        for index, (target, absolute) in enumerate(links):
            where = target.replace("{outside}", str(base / "outside.yaml"))
            if absolute and not where.startswith("/"):
                where = str((root / where).resolve())
            os.symlink(where, root / f"link{index}.yaml")
            os.symlink(where, root / "sub" / f"link{index}.yaml")
        (root / "campaigns").symlink_to(base / "outdir")
        result = load_paths([root])
        check(result, root)
        assert not {"/out/a", "/out/b"} & set(result.policies), result.sources
        assert result.campaigns == []
        assert result.policies.get("/in/a") is not None
