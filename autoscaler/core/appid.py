"""The one grammar of a Marathon app id, shared by policy validation and the Marathon client.

A policy names its app by id, and the client puts that id into the URL path of every write. Both
must agree on what an id is: a policy that loads and then has every write refused is worse than one
refused when it is read. The rules are Marathon's own (`PathId.scala` in mesosphere/marathon):

- an id is absolute: `/` followed by segments separated by `/`, none of them empty;
- a segment is labels separated by `.`; a label is lowercase letters, digits and `-`, at least one
  character, and does not begin or end with `-` (so `.` and `..` are never segments);
- the last segment may not be `restart`, `tasks` or `versions`: they name sub-resources of an app
  (`/v2/apps/shop/tasks` is the task list of `/shop`), and Marathon refuses them since 1.8.

Valid ids contain only URL-safe characters, so the client sends them without encoding. The check is
a linear scan (no regular expression that a hostile id could make backtrack).
"""

from __future__ import annotations

__all__ = ["RESERVED_LAST_SEGMENTS", "app_id_problem", "validate_app_id"]

RESERVED_LAST_SEGMENTS = frozenset({"restart", "tasks", "versions"})
_QUOTED = 40  # how much of a bad segment an error message shows
_LABEL_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _label_ok(label: str) -> bool:
    return bool(label) and label[0] != "-" and label[-1] != "-" and all(c in _LABEL_CHARACTERS for c in label)


def app_id_problem(app_id: str) -> str | None:
    """Why `app_id` is not an absolute Marathon app id, in words, or None when it is one."""
    if not app_id.startswith("/"):
        return "an app id must be absolute (start with '/')"
    segments = app_id[1:].split("/")
    for segment in segments:
        if segment == "":
            return "an app id must not contain empty segments ('//' or a trailing '/')"
        if segment in {".", ".."}:
            return "an app id must not contain '.' or '..' segments"
        if not all(_label_ok(label) for label in segment.split(".")):
            return (
                f"segment {segment[:_QUOTED]!r} may only contain lowercase letters, digits, "
                "'-' and '.', and no label may start or end with '-'"
            )
    if segments[-1] in RESERVED_LAST_SEGMENTS:
        return f"the last segment may not be {segments[-1]!r} (reserved by Marathon)"
    return None


def validate_app_id(app_id: str) -> str:
    """`app_id` itself when it is a Marathon app id; a ValueError that says why otherwise."""
    problem = app_id_problem(app_id)
    if problem is not None:
        raise ValueError(f"{app_id[:200]!r} is not a Marathon app id: {problem}")
    return app_id
