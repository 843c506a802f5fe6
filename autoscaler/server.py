"""The operator-facing HTTP server: health, readiness, Prometheus metrics, a JSON status API and a
dashboard page, all read from the ServiceStatus the control loop feeds every tick.

Marathon's health and readiness checks, Prometheus and people all need a view of the running
service; this is that view, and it only reads. It uses the standard library's asyncio streams (one
request per connection, GET and HEAD only), so the service needs no web framework and the page needs
nothing from outside a closed network: its CSS and script are inline and pinned by a
Content-Security-Policy hash.

Routes:
- `/healthz`: 200 while ticks are happening (`ServiceStatus.heartbeat_fresh`), else 503;
- `/readyz`: 200 when policies are loaded and the last tick reached Marathon, else 503 with why;
- `/metrics`: the service's own metrics (`autoscaler.selfmetrics`), text exposition format;
- `/api/v1/apps`, `/api/v1/apps/<app id>`, `/api/v1/apps/<app id>/decisions`: JSON;
- `/`: the dashboard, which polls `/api/v1/apps`.

With an API token, `/api/` answers 401 unless the request carries `Authorization: Bearer <token>`.
Health, readiness, metrics and the page stay open; the page itself holds no data. It takes the token
from `?token=` in its address (then removes it from the address bar and keeps it in the tab's
session storage), or from a field it shows after a 401.

No response carries a secret: everything served comes from ServiceStatus, which holds policies,
decisions and already-redacted error messages, never settings or credentials.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from autoscaler.core.decide import Decision
from autoscaler.core.policy import Policy, Predictive, ScaleRule, Schedule
from autoscaler.core.schedule import Window, active_windows, next_windows
from autoscaler.core.units import format_duration
from autoscaler.loop import AppOutcome
from autoscaler.selfmetrics import CONTENT_TYPE, SelfMetrics, observe_status
from autoscaler.status import ServiceStatus

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "StatusServer",
    "app_json",
    "apps_json",
    "decision_json",
    "forecast_json",
    "outcome_json",
    "startup_json",
    "window_json",
]

Clock = Callable[[], datetime]
JSON = dict[str, Any]

DEFAULT_HOST = "0.0.0.0"  # the container's address; tests and local runs pass 127.0.0.1
DEFAULT_PORT = 8080

_HEAD_TIMEOUT = 10.0  # seconds to receive a request's head before the connection is dropped
_MAX_LINE = 8192
_MAX_HEADERS = 100
_API_PREFIX = "/api/v1/apps"

log = logging.getLogger(__name__)


# --- JSON of the engine's values -----------------------------------------------------------------


def _number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    if value is None or not math.isfinite(value):
        return None
    return value


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def window_json(window: Window, *, now: datetime | None = None) -> JSON:
    """One occurrence of a schedule; `active` is given when `now` is."""
    body: JSON = {
        "name": window.name,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "applies_from": window.applies_from.isoformat(),
        "lead": format_duration(window.lead),
        "min_instances": window.min_instances,
        "max_instances": window.max_instances,
        "timezone": window.timezone,  # the schedule's zone (IANA name, or a one-off's UTC offset)
    }
    if now is not None:
        body["active"] = window.active_at(now)
    return body


def decision_json(decision: Decision) -> JSON:
    """A Decision with every number and reason, as the status API and dashboard show it."""
    metrics = []
    for evaluation in decision.metrics:
        value = _number(evaluation.value)
        if value is None:
            load = None
        elif evaluation.kind == "average":
            load = value / evaluation.target
        else:  # a total for the app: the load per instance against the per-instance target
            load = value / (evaluation.target * decision.current) if decision.current > 0 else None
        metrics.append(
            {
                "name": evaluation.name,
                "source": evaluation.source,
                "kind": evaluation.kind,
                "target": _number(evaluation.target),
                "value": value,
                "load_ratio": _number(load),
                "proposal": evaluation.proposal,
                "missing": evaluation.missing,
                "detail": evaluation.detail,
            }
        )
    return {
        "app": decision.app_id,
        "at": decision.at.isoformat(),
        "current": decision.current,
        "desired": decision.desired,
        "action": decision.action,
        "code": decision.code,
        "cause": decision.cause,
        "summary": decision.summary(),
        "proposed": decision.proposed,
        "recommendation": decision.recommendation,
        "reasons": decision.reasons(),
        "metrics": metrics,
        "clamps": [
            {"rule": clamp.rule, "before": clamp.before, "after": clamp.after, "detail": clamp.detail}
            for clamp in decision.clamps
        ],
        "windows": [window_json(window) for window in decision.windows],
        "notes": list(decision.notes),
        "forecast": forecast_json(decision),
    }


def forecast_json(decision: Decision) -> JSON | None:
    """The seasonal forecast a decision saw (None for a policy without `predictive`).

    `mode`: forecast_only (shown, never acts) or on; `available`: false until enough history;
    `proposed_by`: which proposal won (`reactive` or `forecast`; never `forecast` in forecast_only);
    `would_win`: an agreed forecast proposes more than the metrics (what mode `on` would have done);
    `load`: the predicted load over the next `horizon_seconds` (the `quantile` of `samples`, one per
    previous period, raised by `margin`), in the units the metric's target divides; `proposal`:
    ceil(load / target); `spread`: how much the previous periods disagree ((q0.9 - q0.1) / q0.9 of
    `samples`); `agreed`: spread within `max_spread`; `acts`: mode `on` and an agreed forecast.
    """
    mode = decision.forecast_mode
    if mode is None:
        return None
    body: JSON = {"mode": mode, "acts": mode == "on", "available": False, "proposed_by": decision.proposed_by}
    forecast = decision.forecast
    if forecast is None:
        return body
    reactive = decision.proposed
    body.update(
        available=True,
        won=decision.proposed_by == "forecast",
        would_win=forecast.agreed and (reactive is None or forecast.proposal > reactive),
        metric=forecast.metric,
        load=_number(forecast.load),
        base=_number(forecast.base),
        target=_number(forecast.target),
        proposal=forecast.proposal,
        reactive_proposal=reactive,
        samples=[_number(sample) for sample in forecast.samples],
        quantile=forecast.quantile,
        margin=forecast.margin,
        spread=_number(forecast.spread),
        max_spread=forecast.max_spread,
        agreed=forecast.agreed,
        acts=mode == "on" and forecast.agreed,
        horizon_seconds=forecast.horizon.total_seconds(),
        describe=forecast.describe(),
    )
    return body


def outcome_json(outcome: AppOutcome) -> JSON:
    """What happened to one app in one tick: the outcome code, the decision and the write, if any."""
    write = outcome.write
    return {
        "app": outcome.app_id,
        "code": outcome.code,
        "detail": outcome.detail,
        "scaled": outcome.scaled,
        "at": _iso(outcome.decision.at) if outcome.decision is not None else None,
        "decision": decision_json(outcome.decision) if outcome.decision is not None else None,
        "write": (
            {
                "outcome": write.outcome,
                "instances": write.instances,
                "deployment_id": write.deployment_id,
                "detail": write.detail,
            }
            if write is not None
            else None
        ),
    }


def _schedule_json(schedule: Schedule) -> JSON:
    body: JSON = {"name": schedule.name, "lead": "auto" if schedule.lead is None else format_duration(schedule.lead)}
    if schedule.cron is not None:
        body.update(
            type="recurring",
            cron=schedule.cron,
            timezone=schedule.timezone or "UTC",
            duration=format_duration(schedule.duration) if schedule.duration is not None else None,
        )
    else:
        body.update(type="one-off", start=_iso(schedule.start), end=_iso(schedule.end))
    body.update(min_instances=schedule.min_instances, max_instances=schedule.max_instances)
    return body


def _predictive_json(predictive: Predictive | None) -> JSON | None:
    if predictive is None:
        return None
    return {
        "mode": predictive.mode,
        "lookback": format_duration(predictive.lookback),
        "period": format_duration(predictive.period),
        "quantile": predictive.quantile,
        "margin": predictive.margin,
        "max_spread": predictive.max_spread,
        "horizon": "auto" if predictive.horizon is None else format_duration(predictive.horizon),
        "bucket": format_duration(predictive.bucket),
        "min_samples": predictive.min_samples,
        "saturation": predictive.saturation,
        "load_queries": dict(predictive.load_queries),
    }


def startup_json(status: ServiceStatus, app_id: str) -> JSON | None:
    """The app's start-up time learned from Marathon: the median of the recent measurements (seconds,
    oldest first). None until one scale-up has been measured, or when the app does not learn it (no
    `predictive` and no `lead: auto`)."""
    estimate = status.startup.get(app_id)
    if estimate is None:
        return None
    return {"seconds": _number(estimate.seconds), "samples": [_number(s) for s in estimate.samples]}


def _policy_json(policy: Policy) -> JSON:
    def rule(direction: ScaleRule) -> JSON:
        return {
            "cooldown": format_duration(direction.cooldown),
            "max_step": [str(step) for step in direction.max_step],
            "stabilization": format_duration(direction.stabilization),
        }

    return {
        "min_instances": policy.min_instances,
        "max_instances": policy.max_instances,
        "tolerance": policy.tolerance,
        "metrics": [
            {"name": m.name, "source": m.source, "kind": m.kind, "target": m.target, "query": m.query}
            for m in policy.metrics
        ],
        "schedules": [_schedule_json(schedule) for schedule in policy.schedules],
        "scale_up": rule(policy.scale_up),
        "scale_down": rule(policy.scale_down),
        "force": policy.force,
        "predictive": _predictive_json(policy.predictive),
    }


def app_json(status: ServiceStatus, app_id: str, *, now: datetime) -> JSON:
    """One managed app: its policy, its last outcome and decision, and its schedule windows at `now`."""
    policy = status.policies[app_id]
    last = status.last(app_id)
    decision = last.decision if last is not None else None
    estimate = status.startup.get(app_id)
    lead = estimate.duration + status.interval if estimate is not None else None  # `lead: auto`
    return {
        "app": app_id,
        "role": status.role,
        "policy": _policy_json(policy),
        "current": decision.current if decision is not None else None,
        "desired": decision.desired if decision is not None else None,
        "code": last.code if last is not None else None,
        "last": outcome_json(last) if last is not None else None,
        "forecast": forecast_json(decision) if decision is not None else None,
        "startup": startup_json(status, app_id),
        "schedule": {
            "active": [window_json(w, now=now) for w in active_windows(policy.schedules, now, auto_lead=lead)],
            "next": [window_json(w, now=now) for w in next_windows(policy.schedules, now, auto_lead=lead)],
        },
    }


def apps_json(status: ServiceStatus, *, now: datetime) -> JSON:
    """Every managed app, plus the service's own state (role, readiness, ticks, policy problems)."""
    ready, reason = status.readiness()
    return {
        "generated_at": now.isoformat(),
        "role": status.role,
        "ready": ready,
        "readiness": reason,
        "healthy": status.heartbeat_fresh(now),
        "interval_seconds": status.interval.total_seconds(),
        "started_at": status.started_at.isoformat(),
        "ticks": status.ticks,
        "last_tick_at": _iso(status.last_tick_at),
        "last_success_at": _iso(status.last_success_at),
        "last_tick_error": status.last_report.error if status.last_report is not None else None,
        "policy_problems": [
            {"severity": p.severity, "path": p.path, "field": p.field, "line": p.line, "message": p.message}
            for p in status.policy_problems
        ],
        "apps": [app_json(status, app_id, now=now) for app_id in sorted(status.policies)],
    }


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


class _BadRequest(Exception):
    pass


def _text(status: int, text: str) -> _Response:
    return _Response(status, (text.rstrip("\n") + "\n").encode())


def _json(status: int, payload: Any) -> _Response:
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    return _Response(status, body.encode(), "application/json; charset=utf-8")


class StatusServer:
    """Serves the status of one running service. Start with `await start()`, end with `await stop()`.

    `clock` gives the `now` of every request (heartbeat age, schedule windows). `api_token`, when
    set, protects `/api/`.
    """

    def __init__(
        self,
        *,
        status: ServiceStatus,
        metrics: SelfMetrics,
        clock: Clock,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        api_token: str | None = None,
    ) -> None:
        self.status = status
        self.metrics = metrics
        self._clock = clock
        self.host = host
        self.port = port
        self._token = api_token.encode() if api_token else None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the status server is not started")
        return self._url

    async def start(self) -> str:
        """Listen on host:port (port 0 picks a free one) and return the base URL."""
        if self._server is not None:
            return self.url
        self._server = await asyncio.start_server(self._serve, host=self.host, port=self.port, limit=_MAX_LINE * 2)
        address = self._server.sockets[0].getsockname()
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        self._url = f"http://{host}:{address[1]}"
        log.info("status server listening on %s", self._url, extra={"fields": {"event": "server_start"}})
        return self._url

    async def stop(self) -> None:
        """Stop listening and end every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()
        self._url = None

    async def __aenter__(self) -> StatusServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # --- connections -----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._exchange(reader, writer)
        except asyncio.CancelledError:
            # Only stop() cancels a connection. Ending normally matters: asyncio logs an error for a
            # cancelled connection handler.
            pass
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request, one response, then the connection closes."""
        try:
            async with asyncio.timeout(_HEAD_TIMEOUT):
                head = await _read_head(reader)
        except (_BadRequest, ValueError, UnicodeDecodeError, asyncio.LimitOverrunError) as exc:
            await _send(writer, _text(400, f"bad request: {exc}"), head_only=False)
            return
        if head is None:
            return
        method, target, headers = head
        if method not in ("GET", "HEAD"):
            response = _Response(405, b"only GET and HEAD\n", headers={"Allow": "GET, HEAD"})
        else:
            try:
                response = self._route(target, headers)
            except Exception:  # a bug in one view must not take the server down or leak a trace
                log.exception("status server failed on %s", urlsplit(target).path)
                response = _text(500, "internal error (see the service log)")
        await _send(writer, response, head_only=method == "HEAD")

    # --- routing ---------------------------------------------------------------------------------

    def _route(self, target: str, headers: Mapping[str, str]) -> _Response:
        path = unquote(urlsplit(target).path)
        now = self._clock()
        if path == "/healthz":
            return self._healthz(now)
        if path == "/readyz":
            return self._readyz()
        if path == "/metrics":
            observe_status(self.metrics, self.status)
            return _Response(200, self.metrics.render(), CONTENT_TYPE)
        if path in ("/", "/index.html"):
            return _Response(200, _PAGE, "text/html; charset=utf-8", {"Content-Security-Policy": _PAGE_CSP})
        if path == "/api" or path.startswith("/api/"):
            if not self._authorized(headers):
                return _Response(
                    401,
                    b'{"error":"an API token is required: send Authorization: Bearer <token>"}',
                    "application/json; charset=utf-8",
                    {"WWW-Authenticate": 'Bearer realm="autoscaler"'},
                )
            return self._api(path, now)
        return _text(404, f"not found: {path[:200]}")

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        if self._token is None:
            return True
        scheme, _, given = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self._token)

    def _healthz(self, now: datetime) -> _Response:
        anchor = self.status.last_tick_at or self.status.started_at
        age = format_duration(max(now - anchor, timedelta(0)))
        what = f"last tick {age} ago" if self.status.last_tick_at is not None else f"started {age} ago, no tick yet"
        if self.status.heartbeat_fresh(now):
            return _text(200, f"ok: {what}")
        limit = format_duration(3 * self.status.interval)
        return _text(503, f"stale: {what}; ticks are expected at least every {limit}")

    def _readyz(self) -> _Response:
        ready, reason = self.status.readiness()
        lines = ["ready" if ready else f"not ready: {reason}"]
        if self.status.role == "follower":
            lines.append("role: follower (ready; the leader does the writing, this instance only decides)")
        else:
            lines.append(f"role: {self.status.role}")
        errors = [p for p in self.status.policy_problems if p.severity == "error"]
        warnings = [p for p in self.status.policy_problems if p.severity != "error"]
        if errors or warnings:
            lines.append(
                f"policy problems: {len(errors)} error(s), {len(warnings)} warning(s); "
                f"{len(self.status.policies)} valid policies loaded"
            )
            lines.extend(f"  {problem}" for problem in self.status.policy_problems[:50])
        return _text(200 if ready else 503, "\n".join(lines))

    def _api(self, path: str, now: datetime) -> _Response:
        path = path.rstrip("/")
        if path == _API_PREFIX:
            return _json(200, apps_json(self.status, now=now))
        if not path.startswith(_API_PREFIX + "/"):
            return _json(404, {"error": f"no such API route: {path[:200]}"})
        app_id = path[len(_API_PREFIX) :]
        policies = self.status.policies
        if app_id.endswith("/decisions") and app_id not in policies:
            app_id = app_id.removesuffix("/decisions")
            if app_id in policies:
                decisions = [outcome_json(o) for o in self.status.recent(app_id)]
                return _json(
                    200, {"app": app_id, "role": self.status.role, "order": "oldest first", "decisions": decisions}
                )
        elif app_id in policies:
            return _json(200, app_json(self.status, app_id, now=now))
        return _json(404, {"error": f"no policy manages {app_id[:200]}", "managed_apps": sorted(policies)})


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]] | None:
    line = await reader.readline()
    while line in (b"\r\n", b"\n"):
        line = await reader.readline()
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise _BadRequest("request line too long or incomplete")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest("malformed request line")
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS + 1):
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n"):
            return parts[0].upper(), parts[1], headers
        if not raw.endswith(b"\n"):
            raise _BadRequest("incomplete header")
        name, colon, value = raw.decode("latin-1").partition(":")
        if not colon:
            raise _BadRequest("malformed header line")
        headers[name.strip().lower()] = value.strip()
    raise _BadRequest("too many headers")


async def _send(writer: asyncio.StreamWriter, response: _Response, *, head_only: bool) -> None:
    headers = {
        "Content-Type": response.content_type,
        "Content-Length": str(len(response.body)),
        "Connection": "close",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        **response.headers,
    }
    lines = [f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if not head_only:
        writer.write(response.body)
    await writer.drain()


# --- the dashboard -------------------------------------------------------------------------------

_STYLE = """
:root{--bg:#f4f6f8;--card:#fff;--ink:#1c2530;--muted:#66727f;--line:#e2e7ec;--blue:#2f6fde;
--blue-soft:#dbe7fb;--green:#1f8a4c;--green-soft:#dcf2e4;--amber:#a76300;--amber-soft:#fdf0d5;
--red:#c0392b;--red-soft:#fbe1de;--grey-soft:#eceff2;--violet:#6b4fbb;--violet-soft:#ebe5fa}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Noto Sans","Helvetica Neue",Arial,sans-serif}
header{display:flex;flex-wrap:wrap;align-items:center;gap:10px 18px;padding:14px 24px;background:#17202b;color:#fff}
header h1{margin:0;font-size:17px;font-weight:600;letter-spacing:.2px}
header .meta{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-left:auto;font-size:13px;color:#c6ced8}
.chip{display:inline-block;padding:2px 9px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap}
.chip.ok{background:#1f8a4c;color:#fff}.chip.bad{background:#c0392b;color:#fff}
.chip.role{background:#33414f;color:#e8edf2}
main{padding:18px 24px 32px;max-width:1500px;margin:0 auto}
.banner{border-radius:8px;padding:10px 14px;margin-bottom:14px;font-size:13px}
.banner.warn{background:var(--amber-soft);color:#6b4300;border:1px solid #f1d59a}
.banner.err{background:var(--red-soft);color:#7d2318;border:1px solid #f0b9b2}
.banner ul{margin:6px 0 0;padding-left:18px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(390px,1fr));gap:16px;align-items:start}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;
box-shadow:0 1px 2px rgba(20,30,40,.04)}
.card-head{display:flex;align-items:center;gap:10px;margin-bottom:8px}
.app{font:600 15px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.badge{margin-left:auto;padding:2px 9px;border-radius:6px;font-size:12px;font-weight:600;white-space:nowrap}
.b-up{background:var(--blue-soft);color:var(--blue)}.b-down{background:var(--green-soft);color:var(--green)}
.b-hold{background:var(--grey-soft);color:#4a5561}.b-warn{background:var(--amber-soft);color:var(--amber)}
.b-err{background:var(--red-soft);color:var(--red)}.b-dry{background:var(--violet-soft);color:var(--violet)}
.counts{display:flex;align-items:baseline;gap:8px;margin:2px 0 6px}
.counts .n{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums}
.counts .arrow{color:var(--muted);font-size:18px}
.counts .lbl{color:var(--muted);font-size:12px}
.counts .bounds{margin-left:auto;color:var(--muted);font-size:12px;white-space:nowrap}
header .stats{color:#fff;font-weight:600}
.bar{position:relative;height:12px;background:var(--grey-soft);border-radius:6px;overflow:visible;margin:6px 0 4px}
.bar .below{position:absolute;top:0;bottom:0;left:0;border-radius:6px 0 0 6px;
background:repeating-linear-gradient(135deg,#d5dbe1 0 4px,transparent 4px 8px)}
.bar .fill{position:absolute;top:0;bottom:0;left:0;background:var(--blue);border-radius:6px;opacity:.85}
.bar .min{position:absolute;top:-2px;bottom:-2px;width:2px;margin-left:-1px;background:#8a96a3}
.bar .mark{position:absolute;top:-4px;bottom:-4px;width:3px;margin-left:-1px;background:#17202b;border-radius:2px}
.bar .target{position:absolute;top:-3px;bottom:-3px;width:2px;margin-left:-1px;background:#17202b;opacity:.55}
.scale{display:flex;justify-content:space-between;color:var(--muted);font-size:11.5px;font-variant-numeric:tabular-nums}
h3{margin:14px 0 6px;font-size:11.5px;text-transform:uppercase;letter-spacing:.6px;color:var(--muted);font-weight:650}
.metric{display:grid;grid-template-columns:fit-content(45%) minmax(70px,1fr) auto;gap:4px 12px;align-items:center;
margin:6px 0}
.metric .name{font-weight:600;overflow-wrap:break-word;min-width:90px}
.metric .src{color:var(--muted);font-size:11.5px;font-weight:400}
.metric .bar{height:8px;margin:0}
.metric .fill.hot{background:var(--red)}.metric .fill.cool{background:var(--green)}
.metric .num{font-variant-numeric:tabular-nums;font-size:12.5px;text-align:right;white-space:nowrap}
.metric .miss{grid-column:2/4;color:var(--amber);font-size:12.5px;overflow-wrap:anywhere;min-width:0}
.why{margin:2px 0 0;padding:0;list-style:none;font-size:12.5px;color:#33404d}
.why li{padding:3px 0 3px 10px;border-left:2px solid var(--line);margin:2px 0;overflow-wrap:anywhere}
.summary{font-weight:600;margin:0 0 4px}
.sched{display:flex;flex-wrap:wrap;gap:6px;font-size:12.5px}
.sched span{padding:3px 8px;border-radius:6px;background:var(--grey-soft)}
.sched span.on{background:var(--green-soft);color:#135c33;font-weight:600}
.fc{font-size:12.5px;color:#33404d}.fc .line{margin:2px 0;overflow-wrap:anywhere}
.fc .won{color:var(--blue);font-weight:600}.fc .off{color:var(--violet);font-weight:600}
.fc .num{font-variant-numeric:tabular-nums}
.foot{margin-top:10px;color:var(--muted);font-size:11.5px}
.empty{color:var(--muted);font-size:12.5px}
#auth{max-width:520px;margin:40px auto;background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:18px 20px}
#auth input{width:100%;padding:7px 9px;margin:8px 0;border:1px solid #c8d0d8;border-radius:6px;font:inherit}
#auth button{padding:6px 14px;border:0;border-radius:6px;background:var(--blue);color:#fff;font:inherit;cursor:pointer}
"""

_SCRIPT = """
"use strict";
const API = "api/v1/apps", REFRESH_MS = 5000;
const HOLD_WARN = new Set(["missing_metrics","instances_not_ready","deployment_in_progress","stabilizing"]);
const ERRORS = new Set(["app_not_found","invalid_app_state","internal_error","write_failed","write_rejected",
  "deployment_cap"]);
let token = null;
(function takeToken() {
  const url = new URL(window.location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem("autoscaler-token", given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  token = sessionStorage.getItem("autoscaler-token");
})();

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  return String(Math.round(v * 1000) / 1000);
}
function span(seconds) {
  const s = Math.round(Math.abs(seconds));
  if (s < 60) return s + "s";
  const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (d > 0) return d + "d " + (h % 24) + "h";
  if (h > 0) return h + "h " + (m % 60) + "m";
  return m + "m";
}
function when(iso, now) {
  const t = new Date(iso), diff = (t - now) / 1000;
  const day = t.toISOString().slice(0, 10) === now.toISOString().slice(0, 10);
  const local = day ? t.toTimeString().slice(0, 5)
    : t.toLocaleDateString("en-CA") + " " + t.toTimeString().slice(0, 5);
  if (Math.abs(diff) < 1) return local + " (just now)";
  return local + (diff > 0 ? " (in " + span(diff) + ")" : " (" + span(diff) + " ago)");
}
function badgeClass(code) {
  if (code === "scaled_up") return "b-up";
  if (code === "scaled_down") return "b-down";
  if (code === "dry_run") return "b-dry";
  if (ERRORS.has(code)) return "b-err";
  if (HOLD_WARN.has(code)) return "b-warn";
  return "b-hold";
}
function pct(part, whole) { return Math.max(0, Math.min(100, whole > 0 ? 100 * part / whole : 0)) + "%"; }

function instancesBlock(app) {
  const box = el("div");
  const p = app.policy, cur = app.current, des = app.desired;
  const counts = el("div", "counts");
  counts.append(el("span", "n", cur === null ? "–" : cur));
  if (des !== null && des !== cur) { counts.append(el("span", "arrow", "→"), el("span", "n", des)); }
  counts.append(el("span", "lbl", des !== null && des !== cur ? "instances (current → desired)" : "instances"));
  counts.append(el("span", "bounds", "min " + p.min_instances + " · max " + p.max_instances));
  box.append(counts);
  const top = Math.max(p.max_instances, cur || 0, des || 0, 1);
  const bar = el("div", "bar");
  bar.title = "0 to " + top + "; hatched: below min_instances";
  const below = el("div", "below"); below.style.width = pct(p.min_instances, top); bar.append(below);
  if (cur !== null) { const fill = el("div", "fill"); fill.style.width = pct(cur, top); bar.append(fill); }
  if (p.min_instances > 0) {
    const min = el("div", "min"); min.style.left = pct(p.min_instances, top); min.title = "min " + p.min_instances;
    bar.append(min);
  }
  if (des !== null && des !== cur) {
    const mark = el("div", "mark"); mark.style.left = pct(des, top); mark.title = "desired " + des; bar.append(mark);
  }
  box.append(bar);
  const scale = el("div", "scale");
  scale.append(el("span", "", "0"), el("span", "", String(top)));
  box.append(scale);
  return box;
}

function metricsBlock(app) {
  const box = el("div");
  const d = app.last && app.last.decision;
  box.append(el("h3", "", "Load vs target"));
  if (!app.policy.metrics.length) {
    box.append(el("div", "empty", "no metrics: schedules and bounds only"));
    return box;
  }
  const byName = new Map(((d && d.metrics) || []).map(m => [m.name, m]));
  for (const spec of app.policy.metrics) {
    const m = byName.get(spec.name);
    const row = el("div", "metric");
    const name = el("div", "name", spec.name); name.append(el("div", "src", spec.source + " · " +
      (spec.kind === "average" ? "average" : "per instance")));
    row.append(name);
    if (!m) { row.append(el("div", "miss", "not evaluated yet")); box.append(row); continue; }
    if (m.missing) { row.append(el("div", "miss", m.detail)); box.append(row); continue; }
    const bar = el("div", "bar");
    const ratio = m.load_ratio;
    if (ratio !== null) {
      const fill = el("div", "fill" + (ratio > 1.1 ? " hot" : ratio < 0.9 ? " cool" : ""));
      fill.style.width = pct(ratio, 2); bar.append(fill);
    }
    const target = el("div", "target"); target.style.left = "50%"; bar.append(target);
    bar.title = m.detail;
    row.append(bar);
    const proposal = m.proposal !== null ? "  → " + m.proposal : "";
    const num = el("div", "num", fmt(m.value) + " / " + fmt(m.target) + proposal);
    num.title = "value / target" + (spec.kind === "average" ? " (per instance)" : " per instance") + " → proposal";
    row.append(num);
    box.append(row);
  }
  return box;
}

function whyBlock(app) {
  const box = el("div");
  box.append(el("h3", "", "Last decision"));
  const last = app.last;
  if (!last) { box.append(el("div", "empty", "no tick has decided this app yet")); return box; }
  const d = last.decision;
  box.append(el("p", "summary", d ? d.summary : last.app + ": " + last.code));
  const list = el("ul", "why");
  const reasons = d ? d.reasons.slice() : [];
  if (last.detail && (!d || last.code !== d.code)) reasons.push(last.detail);
  if (!reasons.length) reasons.push(last.detail || last.code);
  for (const r of reasons) list.append(el("li", "", r));
  box.append(list);
  return box;
}

function scheduleBlock(app, now) {
  const box = el("div");
  box.append(el("h3", "", "Schedules & campaigns"));
  const s = app.schedule;
  if (!s.active.length && !s.next.length) { box.append(el("div", "empty", "none planned")); return box; }
  const wrap = el("div", "sched");
  const bounds = w => [w.min_instances !== null ? "floor " + w.min_instances : null,
    w.max_instances !== null ? "ceiling " + w.max_instances : null].filter(Boolean).join(", ");
  for (const w of s.active) {
    wrap.append(el("span", "on", w.name + " · " + bounds(w) + " · in force until " + when(w.end, now)));
  }
  for (const w of s.next) {
    wrap.append(el("span", "", w.name + " · " + bounds(w) + " · from " + when(w.applies_from, now)));
  }
  box.append(wrap);
  return box;
}

function forecastBlock(app) {
  const p = app.policy.predictive, f = app.forecast, st = app.startup;
  if (!p && !st) return null;
  const box = el("div", "fc");
  box.append(el("h3", "", "Forecast & start-up"));
  if (p) {
    const head = el("div", "line");
    head.append(el("span", p.mode === "on" ? "won" : "off", p.mode === "on" ? "mode on" : "forecast only"),
      el("span", "", p.mode === "on" ? " · the higher of forecast and metrics wins"
        : " · shown, never acts"));
    box.append(head);
    if (!f || !f.available) {
      box.append(el("div", "line empty", "no forecast yet: fewer than " + p.min_samples + " previous " +
        p.period + " periods of history"));
    } else {
      box.append(el("div", "line num", "predicted " + f.metric + " load " + fmt(f.load) + " over the next " +
        span(f.horizon_seconds) + " → " + f.proposal + " instances (metrics: " +
        (f.reactive_proposal === null ? "–" : f.reactive_proposal) + ")"));
      const verdict = f.won ? "the forecast won: it set the count"
        : !f.agreed ? "the previous periods disagree (spread " + fmt(f.spread * 100) + "% > " +
          fmt(f.max_spread * 100) + "%): the forecast does not act"
        : f.mode === "on" ? "the metrics' proposal won"
        : f.would_win ? "mode on would have raised the count to " + f.proposal : "mode on would not change it";
      box.append(el("div", "line " + (f.won ? "won" : ""), verdict));
      const samples = el("div", "line num", "q" + f.quantile + " of " + f.samples.length + " samples (" +
        f.samples.map(fmt).join(", ") + ") = " + fmt(f.base) + " + " + fmt(f.margin * 100) + "% margin");
      samples.title = f.describe;
      box.append(samples);
    }
  }
  box.append(el("div", "line num", st ? "start-up " + span(st.seconds) + " (median of " + st.samples.length +
    " measured scale-ups)" : "start-up: not measured yet (no scale-up seen)"));
  return box;
}

function card(app, now) {
  const c = el("section", "card");
  c.dataset.app = app.app;
  const head = el("div", "card-head");
  head.append(el("span", "app", app.app));
  const code = app.code || "pending";
  head.append(el("span", "badge " + badgeClass(code), code.replace(/_/g, " ")));
  c.append(head, instancesBlock(app), metricsBlock(app));
  const fc = forecastBlock(app);
  if (fc) c.append(fc);
  c.append(whyBlock(app), scheduleBlock(app, now));
  const d = app.last && app.last.decision;
  c.append(el("div", "foot", d ? "decided " + when(d.at, now) : ""));
  return c;
}

function render(data) {
  const now = new Date(data.generated_at);
  document.getElementById("auth").hidden = true;
  const ready = document.getElementById("ready");
  ready.className = "chip " + (data.ready ? "ok" : "bad");
  ready.textContent = data.ready ? "ready" : "not ready";
  ready.title = data.readiness;
  document.getElementById("role").textContent = data.role;
  document.getElementById("tick").textContent = data.last_tick_at
    ? "last tick " + when(data.last_tick_at, now) : "no tick yet";
  document.getElementById("updated").textContent = "updated " + new Date().toTimeString().slice(0, 8);
  const banners = document.getElementById("banners");
  banners.replaceChildren();
  if (!data.ready) banners.append(el("div", "banner err", "Not ready: " + data.readiness));
  if (data.role === "follower") banners.append(el("div", "banner warn",
    "This instance is a follower: it decides but does not write; the leader scales the apps."));
  if (data.policy_problems.length) {
    const b = el("div", "banner warn", data.policy_problems.length + " policy problem(s):");
    const ul = el("ul");
    for (const p of data.policy_problems) ul.append(el("li", "", p.path + (p.line ? ":" + p.line : "") + ": " +
      p.severity + ": " + (p.field ? p.field + ": " : "") + p.message));
    b.append(ul); banners.append(b);
  }
  const scaling = data.apps.filter(a => a.code === "scaled_up" || a.code === "scaled_down").length;
  const attention = data.apps.filter(a => ERRORS.has(a.code) || HOLD_WARN.has(a.code)).length;
  document.getElementById("stats").textContent = data.apps.length + " apps · " + scaling + " scaling · " +
    attention + " need attention";
  const grid = document.getElementById("apps");
  grid.replaceChildren(...data.apps.map(a => card(a, now)));
  if (!data.apps.length) grid.append(el("div", "empty", "no app is managed"));
}

function askForToken(message) {
  const box = document.getElementById("auth");
  box.hidden = false;
  document.getElementById("auth-msg").textContent = message;
}

async function refresh() {
  const headers = token ? {"Authorization": "Bearer " + token} : {};
  try {
    const res = await fetch(API, {headers, cache: "no-store"});
    if (res.status === 401) {
      askForToken(token ? "The API token was not accepted. Enter the right one."
        : "This service requires an API token (AUTOSCALER_API_TOKEN). Open this page as /?token=<token>, "
          + "or enter it here.");
      return;
    }
    if (!res.ok) throw new Error("HTTP " + res.status);
    render(await res.json());
    document.getElementById("conn").hidden = true;
  } catch (err) {
    const conn = document.getElementById("conn");
    conn.hidden = false;
    conn.textContent = "Cannot reach the service (" + err.message + "); showing the last data received.";
  }
}

document.getElementById("auth-form").addEventListener("submit", ev => {
  ev.preventDefault();
  token = document.getElementById("auth-token").value.trim();
  sessionStorage.setItem("autoscaler-token", token);
  refresh();
});
refresh();
setInterval(refresh, REFRESH_MS);
"""

_BODY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>marathon-autoscaler</title>
<style>{style}</style></head>
<body>
<header><h1>marathon-autoscaler</h1>
<span id="stats" class="stats"></span>
<div class="meta"><span id="ready" class="chip role">loading…</span><span id="role" class="chip role"></span>
<span id="tick"></span><span id="updated"></span></div></header>
<main>
<div id="conn" class="banner err" hidden></div>
<div id="banners"></div>
<div id="auth" hidden><strong>API token required</strong><p id="auth-msg"></p>
<form id="auth-form"><input id="auth-token" type="password" autocomplete="off" placeholder="token">
<button type="submit">Show status</button></form></div>
<div id="apps" class="grid"></div>
</main>
<script>{script}</script>
</body></html>
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


_PAGE = _BODY.replace("{style}", _STYLE).replace("{script}", _SCRIPT).encode()
_PAGE_CSP = (
    f"default-src 'none'; style-src {_csp_hash(_STYLE)}; script-src {_csp_hash(_SCRIPT)}; "
    "connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
