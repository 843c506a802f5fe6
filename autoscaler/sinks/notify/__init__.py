"""Telling people what the autoscaler did, and when something keeps it from doing its job.

Logs answer "why" after the fact; a chat message answers "something happened" as it happens. Each
TickReport becomes notices (`notices`): every scale action, and failures that persist (an app held
for `failure_ticks` ticks in a row by the same problem, such as missing metrics or a stuck
deployment; a metric source whose every metric is missing; Marathon unreachable), each sent once,
with a recovery notice when the problem goes away. Targets (`config`) are webhooks in the formats
(`formats`) of Slack, DingTalk and WeCom group robots, or a documented generic JSON object; the
`Notifier` delivers them in the background without ever slowing a tick.
"""

from autoscaler.sinks.notify.config import (
    DEFAULT_FAILURE_CODES,
    FORMATS,
    Format,
    NotifyConfig,
    WebhookTarget,
    parse_targets,
)
from autoscaler.sinks.notify.formats import build_body, dingtalk_sign, render_text
from autoscaler.sinks.notify.notices import FailureTracker, Notice
from autoscaler.sinks.notify.notifier import Notifier

__all__ = [
    "DEFAULT_FAILURE_CODES",
    "FORMATS",
    "FailureTracker",
    "Format",
    "Notice",
    "Notifier",
    "NotifyConfig",
    "WebhookTarget",
    "build_body",
    "dingtalk_sign",
    "parse_targets",
    "render_text",
]
