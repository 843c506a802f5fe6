"""Every YAML snippet of the README and of docs/*.md goes through the real policy loader.

A fenced block tagged `yaml` (or `yml`) is one of these, said by its first line:

- `# _defaults.yaml`: a defaults file; loaded beside a policy that has only app, min and max;
- `# campaigns/NAME.yaml`: a campaign file; loaded beside a minimal policy for every app it names
  (so its floors must fit under a max_instances of 50, or under the floor itself if higher);
- `# fragment of a policy` (words may follow): a part of a policy file; the loader merges it over MINIMAL_POLICY
  (written as the directory's `_defaults.yaml`, so the merge is the loader's own: mappings merge key
  by key, the fragment's values and lists win);
- anything else: a whole policy file.

Each must load with no problem at all (no error, no warning), so the documentation cannot drift from
the language. Files are found by glob: a new page under docs/ is covered without editing this test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from autoscaler.policyfiles import SafeLoader, load_directory

REPO = Path(__file__).resolve().parent.parent.parent
FENCE = re.compile(r"^(?P<indent>[ \t]*)```[ \t]*(?P<lang>[A-Za-z0-9_+-]*)[^\n]*$")
MARKER = re.compile(r"^#\s*(?P<kind>_defaults\.yaml|campaigns/[\w.-]+\.ya?ml|fragment of a policy)(?:[\s:(].*)?$")
MINIMAL_POLICY = """\
app: /example/app
min_instances: 1
max_instances: 50
metrics:
  - name: cpu
    source: prometheus
    query: 'avg(rate(container_cpu_usage_seconds_total{marathon_app="${app}"}[1m]))'
    target_average: 0.6
"""


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int  # of the opening fence, 1-based
    text: str

    @property
    def kind(self) -> str:
        first = self.text.lstrip("\n").split("\n", 1)[0].strip()
        match = MARKER.match(first)
        if match is None:
            return "policy"
        kind = match.group("kind")
        return "campaign" if kind.startswith("campaigns/") else kind

    def __str__(self) -> str:
        return f"{_shown(self.path)}:{self.line}"


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("**/*.md"))]


def extract(path: Path) -> list[Snippet]:
    """The yaml-tagged fenced blocks of one Markdown file, dedented by their fence's indentation."""
    snippets = []
    lines = path.read_text(encoding="utf-8").split("\n")
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        indent = opening.group("indent")
        start, body = index, []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index].removeprefix(indent))
            index += 1
        if index == len(lines):
            raise AssertionError(f"{_shown(path)}:{start}: a fenced block is never closed")
        index += 1  # the closing fence
        if opening.group("lang").lower() in ("yaml", "yml"):
            snippets.append(Snippet(path, start, "\n".join(body) + "\n"))
    return snippets


SNIPPETS = [snippet for path in doc_files() for snippet in extract(path)]


def load_snippet(snippet: Snippet, root: Path) -> tuple[int, int]:
    """Lay the snippet out as a policy directory, load it; returns (policies, campaigns) loaded."""
    if snippet.kind == "policy":
        (root / "snippet.yaml").write_text(snippet.text)
    elif snippet.kind == "fragment of a policy":
        (root / "_defaults.yaml").write_text(MINIMAL_POLICY)
        (root / "snippet.yaml").write_text(snippet.text)
    elif snippet.kind == "_defaults.yaml":
        (root / "_defaults.yaml").write_text(snippet.text)
        (root / "app.yaml").write_text("app: /example/app\nmin_instances: 1\nmax_instances: 50\n")
    else:
        (root / "campaigns").mkdir()
        (root / "campaigns" / "snippet.yaml").write_text(snippet.text)
        data = yaml.load(snippet.text, Loader=SafeLoader)
        apps = data.get("apps") if isinstance(data, dict) else None
        for number, (app_id, floor) in enumerate((apps or {}).items()):
            top = max(50, floor) if isinstance(floor, int) else 50
            (root / f"app{number}.yaml").write_text(f"app: {app_id}\nmin_instances: 1\nmax_instances: {top}\n")
    result = load_directory(root)
    assert [str(problem) for problem in result.problems] == [], f"the snippet at {snippet} does not load"
    return len(result.policies), len(result.campaigns)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=str)
def test_snippet_loads(snippet: Snippet, tmp_path: Path) -> None:
    policies, campaigns = load_snippet(snippet, tmp_path)
    if snippet.kind == "campaign":
        assert campaigns == 1
    else:
        assert policies == 1


def test_the_readme_has_snippets_of_every_kind() -> None:
    # Guards the extraction itself: the README documents policies, campaigns and fragments.
    kinds = {snippet.kind for snippet in SNIPPETS if snippet.path.name == "README.md"}
    assert {"policy", "campaign", "fragment of a policy"} <= kinds


def test_extraction_finds_indented_fences_and_only_yaml(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```yaml\na: 1\n```\n- item:\n  ```yaml\n  b: on\n  ```\n```sh\nc: 3\n```\n```yml\nd: 4\n```\n"
    )
    found = extract(page)
    assert [(s.line, s.text) for s in found] == [(2, "a: 1\n"), (6, "b: on\n"), (12, "d: 4\n")]


def test_an_unclosed_fence_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```yaml\na: 1\n")
    with pytest.raises(AssertionError, match="never closed"):
        extract(page)


def test_a_broken_snippet_is_reported(tmp_path: Path) -> None:
    broken = Snippet(REPO / "README.md", 1, "# fragment of a policy\ntolerance: lots\n")
    with pytest.raises(AssertionError, match="does not load"):
        load_snippet(broken, tmp_path)
