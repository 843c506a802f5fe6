"""benchmarks/RESULTS.md holds one section per benchmark script; each script rewrites only its own.

A section is delimited by `<!-- NAME:start -->` and `<!-- NAME:end -->`; a section not yet in the file
is appended.
"""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, name: str, body: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + section + tail
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + section + "\n"
    path.write_text(text, encoding="utf-8")


def regenerate(command: str) -> list[str]:
    """The lines that tell a reader how to rebuild a section."""
    return ["Regenerate (from the repository root):", "", "```sh", command, "```"]
