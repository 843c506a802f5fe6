"""A client of the running service's status API, for `explain`, the dry-run preview, `pause` and `resume`.

A fresh process deciding an app knows nothing of the recent past: not the recommendations of the
stabilisation windows, not the ready counts of the metric window, not the start-up time the service
learned from Marathon. The running service does, and its status API (`GET /api/v1/apps/<id>`, and the
list `GET /api/v1/apps`) shows what it decided with them. This reads that API; the only changes it
asks for are pauses (`POST`/`DELETE .../pause`), which the service keeps.

The service is outside this process, so its answers are bounded like any other: every request goes
through the project's one retry policy (`autoscaler.http`), each attempt must deliver its whole body
within the request timeout, bodies over a byte limit are refused, JSON is checked for nesting before
it is parsed, and only the fields read are validated (`extra` fields, which later versions may add,
are ignored). Decoding goes through `autoscaler.wire`. The bearer token is sent, never printed.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from autoscaler.errors import AutoscalerError, NotJSON, WireError
from autoscaler.http import RetryPolicy, make_client, send
from autoscaler.wire import decode_json

__all__ = [
    "MAX_APP_BYTES",
    "MAX_PAGE_BYTES",
    "AppView",
    "StatusAPIAuthError",
    "StatusAPIError",
    "StatusAPINotManaged",
    "StatusClient",
]

MAX_APP_BYTES = 1 << 20  # one app's JSON: policy, last decision, forecast, windows
MAX_PAGE_BYTES = 16 << 20  # a page of the app list
MAX_PAUSE_BYTES = 64 << 10  # the answer to a pause or resume
MAX_DEPTH = 32
PAGE_SIZE = 200
MAX_PAGES = 250  # 50,000 apps
_CHUNK = 64 << 10

Text = Annotated[str, Field(max_length=4000)]
Name = Annotated[str, Field(max_length=300)]
Items = 200  # longest list read from one decision


class StatusAPIError(AutoscalerError):
    """The running service could not be asked, or its answer cannot be used."""


class StatusAPIAuthError(StatusAPIError):
    """The status API answered 401: AUTOSCALER_API_TOKEN is missing or wrong."""


class StatusAPINotManaged(StatusAPIError):
    """The running service has no policy for the app."""


# --- what is read of the answers ------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MetricView(_Wire):
    name: Name
    source: Name = ""
    kind: Name = "average"
    target: float | None = None
    value: float | None = None
    proposal: StrictInt | None = None
    missing: StrictBool = False
    detail: Text = ""


class ClampView(_Wire):
    rule: Name
    before: StrictInt
    after: StrictInt
    detail: Text = ""


class DecisionView(_Wire):
    app: Name
    at: Name
    current: StrictInt
    desired: StrictInt
    code: Name
    cause: Name = ""
    summary: Text = ""
    proposed: StrictInt | None = None
    recommendation: StrictInt | None = None
    reasons: Annotated[list[Text], Field(max_length=Items)] = []
    metrics: Annotated[list[MetricView], Field(max_length=Items)] = []
    clamps: Annotated[list[ClampView], Field(max_length=Items)] = []
    notes: Annotated[list[Text], Field(max_length=Items)] = []
    forecast: dict[str, Any] | None = None


class WriteView(_Wire):
    outcome: Name
    instances: StrictInt | None = None
    deployment_id: Name | None = None
    detail: Text = ""


class OutcomeView(_Wire):
    code: Name
    detail: Text = ""
    scaled: StrictBool = False
    at: Name | None = None
    decision: DecisionView | None = None
    write: WriteView | None = None


class StartupView(_Wire):
    seconds: float | None = None
    samples: Annotated[list[float | None], Field(max_length=Items)] = []


class WindowView(_Wire):
    name: Name
    start: Name
    end: Name
    applies_from: Name = ""
    lead: Name = ""
    min_instances: StrictInt | None = None
    max_instances: StrictInt | None = None


class ScheduleView(_Wire):
    active: Annotated[list[WindowView], Field(max_length=Items)] = []
    next: Annotated[list[WindowView], Field(max_length=Items)] = []


class AppView(_Wire):
    """One app as the running service shows it (`GET /api/v1/apps/<id>`)."""

    app: Name
    role: Name = ""
    policy: dict[str, Any] = {}
    current: StrictInt | None = None
    desired: StrictInt | None = None
    code: Name | None = None
    last: OutcomeView | None = None
    startup: StartupView | None = None
    schedule: ScheduleView = ScheduleView()


# --- the client -------------------------------------------------------------------------------------


class StatusClient:
    """Reads the status API of a running service at `base_url`."""

    def __init__(
        self,
        *,
        base_url: str,
        policy: RetryPolicy,
        token: str | None = None,
        verify: bool | str = True,
    ) -> None:
        self.url = base_url.rstrip("/")
        self._policy = policy
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = make_client(base_url=self.url, policy=policy, verify=verify, headers=headers)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> StatusClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def app(self, app_id: str) -> AppView:
        """One app's view. Raises StatusAPINotManaged when the service has no policy for it."""
        path = "/api/v1/apps" + quote(app_id, safe="/")
        status, body = await self._get(path, max_bytes=MAX_APP_BYTES)
        if status == 404:
            managed = body.get("managed_apps") if isinstance(body, dict) else None
            names = [str(name)[:300] for name in managed[:50]] if isinstance(managed, list) else []
            more = f" (and {len(managed) - 50} more)" if isinstance(managed, list) and len(managed) > 50 else ""
            raise StatusAPINotManaged(
                f"the running service at {self.url} has no policy for {app_id}; it manages: "
                f"{', '.join(names) or 'none'}{more}"
            )
        return self._parse(body, what=f"GET {path}")

    async def apps(self) -> tuple[dict[str, Any], list[AppView]]:
        """Every managed app, page by page, with the first page's service fields (role, ticks, ...)."""
        views: list[AppView] = []
        seen: set[str] = set()
        head: dict[str, Any] = {}
        for page in range(MAX_PAGES):
            path = f"/api/v1/apps?offset={page * PAGE_SIZE}&limit={PAGE_SIZE}"
            _, body = await self._get(path, max_bytes=MAX_PAGE_BYTES)
            items = body.get("apps") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise StatusAPIError(f"the running service at {self.url} answered GET {path} without an app list")
            if page == 0:
                head = {key: value for key, value in body.items() if key != "apps"}
            fresh = [self._parse(item, what=f"GET {path}") for item in items]
            fresh = [view for view in fresh if view.app not in seen]
            views.extend(fresh)
            seen.update(view.app for view in fresh)
            total = body.get("total")
            if not fresh or len(items) < PAGE_SIZE or (isinstance(total, int) and len(views) >= total):
                break
        return head, views

    def _parse(self, body: Any, *, what: str) -> AppView:
        try:
            return AppView.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])[:200]
            raise StatusAPIError(
                f"the running service at {self.url} answered {what} with JSON this version cannot read "
                f"({exc.error_count()} problem(s), first at {where or 'the top'}: {first['msg'][:200]})"
            ) from None

    async def pause(self, scope: str, *, duration: str | None, reason: str, by: str) -> dict[str, Any]:
        """Pause `scope` (an app id, a group `/shop/*`, or `*`) on the running service; the stored pause."""
        body: dict[str, str] = {"reason": reason, "by": by}
        if duration is not None:
            body["for"] = duration
        path = "/api/v1/pause" if scope == "*" else "/api/v1/apps" + quote(scope, safe="/*") + "/pause"
        status, answer = await self._call(
            "POST", path, max_bytes=MAX_PAUSE_BYTES, payload=body, accept=(200, 400, 404, 503)
        )
        return self._pause_answer(status, answer, key="paused", what=f"POST {path}")

    async def resume(self, scope: str, *, by: str) -> dict[str, Any] | None:
        """Lift the pause of exactly `scope`; None when it had none."""
        path = "/api/v1/pause" if scope == "*" else "/api/v1/apps" + quote(scope, safe="/*") + "/pause"
        path += "?by=" + quote(by, safe="")
        status, answer = await self._call("DELETE", path, max_bytes=MAX_PAUSE_BYTES, accept=(200, 400, 404, 503))
        if status == 404 and isinstance(answer, dict) and "a pause is lifted by" in str(answer.get("error", "")):
            return None
        return self._pause_answer(status, answer, key="resumed", what=f"DELETE {path}")

    def _pause_answer(self, status: int, answer: Any, *, key: str, what: str) -> dict[str, Any]:
        error = answer.get("error") if isinstance(answer, dict) else None
        if status != 200:
            detail = str(error)[:500] if error is not None else f"HTTP {status}"
            raise StatusAPIError(f"the running service at {self.url} refused {what.partition('?')[0]}: {detail}")
        found = answer.get(key) if isinstance(answer, dict) else None
        if not isinstance(found, dict):
            raise StatusAPIError(f"the running service at {self.url} answered {what} without {key!r}")
        return {str(k)[:40]: v for k, v in list(found.items())[:20]}

    async def _get(self, path: str, *, max_bytes: int) -> tuple[int, Any]:
        return await self._call("GET", path, max_bytes=max_bytes)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        max_bytes: int,
        payload: dict[str, str] | None = None,
        accept: tuple[int, ...] = (200, 404),
    ) -> tuple[int, Any]:
        what = f"{method} {path}"

        async def attempt() -> httpx.Response:
            request = self._client.build_request(method, path, json=payload)
            async with asyncio.timeout(self._policy.request_timeout):
                response = await self._client.send(request, stream=True)
                try:
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise StatusAPIError(f"{what}: the answer declares {declared} bytes, over {max_bytes}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes(_CHUNK):  # decoded: a compressed bomb stops too
                        body += chunk
                        if len(body) > max_bytes:
                            raise StatusAPIError(f"{what}: the answer is over {max_bytes} bytes")
                finally:
                    await response.aclose()
            kept = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
            return httpx.Response(response.status_code, headers=kept, content=bytes(body), request=request)

        try:
            response = await send(attempt, policy=self._policy)
        except TimeoutError as exc:
            raise StatusAPIError(
                f"the running service at {self.url} did not answer {what} within {self._policy.request_timeout:g}s"
            ) from exc
        except httpx.HTTPError as exc:
            raise StatusAPIError(
                f"the running service at {self.url} could not be reached ({type(exc).__name__}) for {what}; "
                "is AUTOSCALER_STATUS_URL (or --url) the service's status server?"
            ) from exc
        except StatusAPIError as exc:
            raise StatusAPIError(f"the running service at {self.url}: {exc}") from None
        status = response.status_code
        if status == 401:
            raise StatusAPIAuthError(
                f"the running service at {self.url} needs its API token: set AUTOSCALER_API_TOKEN "
                "to the service's (sent as Authorization: Bearer)"
            )
        if status == 405 and method != "GET":
            raise StatusAPIError(
                f"the running service at {self.url} does not take {method} {path.partition('?')[0]}: "
                "pause and resume need AUTOSCALER_API_TOKEN set on the service"
            )
        if status not in accept:
            raise StatusAPIError(f"the running service at {self.url} answered HTTP {status} to {what}")
        return status, self._decode(response.content, what=what, status=status)

    def _decode(self, data: bytes, *, what: str, status: int) -> Any:
        try:
            return decode_json(data, what=what, max_bytes=len(data), max_depth=MAX_DEPTH)
        except NotJSON:
            if status == 404:
                return {}
            raise StatusAPIError(
                f"the running service at {self.url} answered {what} with a body that is not JSON; "
                "is the URL the service's status server?"
            ) from None
        except WireError as exc:
            raise StatusAPIError(f"the running service at {self.url}: {exc}") from None
