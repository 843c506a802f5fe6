"""The message formats of the receivers: Slack, DingTalk and WeCom group robots, and generic JSON.

Each receiver has its own body shape, text limit and way of saying no (DingTalk and WeCom answer 200
with an `errcode`); this module knows them, the notifier only sends what it builds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx

from autoscaler.errors import WireError
from autoscaler.sinks.notify.config import Format
from autoscaler.sinks.notify.notices import Notice
from autoscaler.wire import decode_json

# Limits of the receiving services: WeCom markdown content is at most 4096 bytes, DingTalk's text
# 20000 bytes; a message of many notices is cut, with a note of how many were left out.
_MAX_TEXT_BYTES: Mapping[Format, int] = {"slack": 30000, "dingtalk": 18000, "wecom": 4000, "json": 60000}


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 20].decode(errors="ignore") + "\n... (cut)"


def render_text(notices: Sequence[Notice], *, title: str, markdown: Literal["slack", "md"]) -> str:
    """The readable text of one message with one or more notices."""

    def esc(text: str) -> str:  # Slack reads <...> as links and mentions; & < > must be escaped
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") if markdown == "slack" else text

    star = "*" if markdown == "slack" else "**"
    blocks = []
    for notice in notices:
        block = [f"{star}{esc(f'[{title}] {notice.headline}')}{star}"]
        block += [f"- {esc(line)}" for line in notice.lines()]
        blocks.append("\n".join(block))
    return "\n\n".join(blocks)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def build_body(fmt: Format, notices: Sequence[Notice], *, title: str) -> dict[str, Any]:
    """The JSON body of one message to a target of format `fmt` (json: exactly one notice)."""
    limit = _MAX_TEXT_BYTES[fmt]
    if fmt == "slack":
        return {"text": _cut(render_text(notices, title=title, markdown="slack"), limit)}
    if fmt == "dingtalk":
        heading = notices[0].headline if len(notices) == 1 else f"{len(notices)} autoscaler events"
        text = _cut(render_text(notices, title=title, markdown="md"), limit)
        return {"msgtype": "markdown", "markdown": {"title": f"[{title}] {heading}"[:100], "text": text}}
    if fmt == "wecom":
        return {
            "msgtype": "markdown",
            "markdown": {"content": _cut(render_text(notices, title=title, markdown="md"), limit)},
        }
    (notice,) = notices
    return notice.as_json(service=title)


def accepted(fmt: Format, response: httpx.Response) -> tuple[bool, str]:
    """Whether the receiver took the message; DingTalk and WeCom say no with 200 and an errcode."""
    if not 200 <= response.status_code < 300:
        return False, f"HTTP {response.status_code}"
    if fmt in ("dingtalk", "wecom"):
        try:
            answer = decode_json(response.content, what="the webhook's answer", max_bytes=64 * 1024)
        except WireError:
            return False, "the answer is not JSON"
        if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
            return False, f"errcode {answer.get('errcode')}: {str(answer.get('errmsg', ''))[:200]}"
    return True, ""
