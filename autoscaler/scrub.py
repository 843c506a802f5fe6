"""One scrubber for credentials in every message that came from outside.

Marathon, a proxy in front of it or a metric source may echo the request's headers in an error body;
such a message then reaches the logs, the status server and `explain`, carrying the Basic
credential, the bearer token or the DC/OS token the service sent. Every text that came from
outside passes through `scrub` before it is logged, stored or served. It removes:

- the secrets the service itself holds (passwords, tokens, webhook URLs' path and query values),
  registered by the clients that use them (`register`), together with the forms they travel in: the
  base64 of `user:password` and the percent-encoded value;
- whatever has the shape of a credential even if it is not ours: `Basic <base64>`, `Bearer <token>`,
  `token=<value>`, `Authorization: <value>`, and `user:password@` in a URL.

Register secrets at start-up; scrubbing is cheap when there is nothing to remove.
"""

from __future__ import annotations

import base64
import re
import threading
import traceback
import urllib.parse
from collections.abc import Iterable

__all__ = ["MASK", "register", "register_basic", "register_url", "scrub", "scrub_exception", "url_secrets"]

MASK = "***"
_MIN_SECRET = 4  # shorter values would mask ordinary words; the shape patterns still catch them

_SHAPES = [
    # Authorization / Proxy-Authorization header echoed as text, as JSON or as a Python dict
    (
        re.compile(r"""(?i)((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:basic|bearer|token=)?\s*[^\s"',;}\]]+"""),
        r"\1" + MASK,
    ),
    # a credential is at least 8 characters and not a plain lowercase word ("basic authentication")
    (re.compile(r"(?i)\b(basic|bearer)(\s+)(?=[a-z]*[^a-z\s])[A-Za-z0-9+/=._~-]{8,}"), r"\1\2" + MASK),
    (re.compile(r"(?i)\b((?:access_)?token=)[^\s&\"',;}\]]+"), r"\1" + MASK),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s\"']+@"), r"\1" + MASK + "@"),
]

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def _forms(secret: str) -> list[str]:
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    return [form for form in forms if len(form) >= _MIN_SECRET]


def register(secrets: Iterable[str | None]) -> None:
    """Remember values that must never appear in a message (and their percent-encoded forms)."""
    global _secrets  # noqa: PLW0603 (one registry for the process: every message passes through it)
    new = [form for secret in secrets if secret for form in _forms(secret)]
    if not new:
        return
    with _lock:
        merged = set(_secrets) | set(new)
        # longest first, so a secret containing another is removed whole
        _secrets = tuple(sorted(merged, key=len, reverse=True))


def register_basic(user: str | None, password: str | None) -> None:
    """A Basic credential: the password, and `user:password` plain and in base64."""
    if not password:
        return
    pair = f"{user or ''}:{password}"
    encoded = base64.b64encode(pair.encode()).decode()
    register([password, pair, encoded, encoded.rstrip("=")])


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be secrets: userinfo, path and every query value."""
    parts = urllib.parse.urlsplit(url)
    found = [parts.password or "", parts.path if len(parts.path) > 1 else "", parts.query]
    found += [value for _, value in urllib.parse.parse_qsl(parts.query)]
    return [item for item in found if item]


def register_url(url: str) -> None:
    """A URL whose path and query carry secrets (a webhook's token)."""
    register([url, *url_secrets(url)])


def scrub_exception(exc: BaseException) -> str:
    """The exception's traceback as text, scrubbed: for logs of failures nobody foresaw."""
    return scrub("".join(traceback.format_exception(exc)).rstrip())


def scrub(text: str) -> str:
    """`text` with every registered secret and every credential-shaped part replaced by ***."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text
