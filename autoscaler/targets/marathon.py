"""The Marathon client: list every app in one request and change one app's instance count.

This is the only code of the service that talks to Marathon. It keeps the rules Marathon's API
imposes in one place: the list comes from a single `GET /v2/apps` (counts and deployments are
always embedded there; `autoscaler.targets.marathon_apps` reads it); a scale is a
`PATCH /v2/apps/<id>` whose body is exactly `{"instances": N}` (PUT would create unknown apps, and
any other field could turn the scale into a rolling restart or a rollback); `force` is only sent
when the caller asks for it. Every request goes through the shared retry policy of
`autoscaler.http`, and Marathon's answers are translated into `AppsSnapshot` / `ScaleResult` values
or the project's own errors, never leaking credentials.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from autoscaler.core.appid import app_id_problem
from autoscaler.errors import ConfigurationError, TargetAuthError, TargetUnavailable, WireError
from autoscaler.http import Attempts, RetryPolicy, make_client, request
from autoscaler.ports import AppsSnapshot, ScaleOutcome, ScaleResult
from autoscaler.scrub import register, register_basic, scrub
from autoscaler.targets.marathon_apps import USUAL_LIST, AppListReader
from autoscaler.wire import decode_json, decode_shaped

__all__ = ["MarathonClient", "app_id_problem"]


_AUTH_HINT = (
    "Set AUTOSCALER_MARATHON_USER and AUTOSCALER_MARATHON_PASSWORD for HTTP basic auth, "
    "or AUTOSCALER_MARATHON_TOKEN for a DC/OS token."
)
_MAX_QUOTED = 300


def _json_or_none(response: httpx.Response, policy: RetryPolicy) -> Any:
    """The decoded body of an answer whose JSON is only informative (error messages, a PATCH's
    deployment id); None when there is none or it is unusable."""
    try:
        return decode_json(
            response.content,
            what=f"Marathon's answer to {response.request.method}",
            max_bytes=policy.max_response_bytes,
        )
    except WireError:
        return None


class MarathonClient:
    """`Target` implementation for Marathon's REST API (v2, Marathon 1.4 or newer for PATCH).

    `token` is a DC/OS ACS token, sent as `Authorization: token=<token>`; `username`/`password`
    use HTTP basic auth. Give one or the other, not both. `base_url` may carry a path prefix such
    as `https://dcos.example.com/service/marathon`.
    """

    def __init__(
        self,
        *,
        base_url: str,
        policy: RetryPolicy,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        verify: bool | str = True,
        max_connections: int | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.username or url.password:
            # Credentials written into the URL are moved to the auth settings, so the URL that
            # appears in messages and logs never carries them.
            if username or password or token:
                raise ConfigurationError(
                    "Marathon credentials are given both in the Marathon URL and in the "
                    "credential settings; keep only one"
                )
            username, password = url.username or None, url.password or None
            url = url.copy_with(username=None, password=None)
            base_url = str(url)
        if token and (username or password):
            raise ConfigurationError(
                "Marathon credentials: give either a DC/OS token (AUTOSCALER_MARATHON_TOKEN) or "
                "a user and password (AUTOSCALER_MARATHON_USER / AUTOSCALER_MARATHON_PASSWORD), "
                "not both"
            )
        if password and not username:
            raise ConfigurationError(
                "Marathon credentials: AUTOSCALER_MARATHON_PASSWORD is set but AUTOSCALER_MARATHON_USER is not"
            )
        self._secrets = tuple(s for s in (password, token) if s)
        register_basic(username, password)
        register([token])
        self._display_url = str(url).rstrip("/")
        self._policy = policy
        self._auth_mode = "token" if token else "basic" if username else "none"
        auth = httpx.BasicAuth(username, password or "") if username else None
        headers = {"Authorization": f"token={token}"} if token else None
        self._client = make_client(
            base_url=base_url, policy=policy, verify=verify, auth=auth, headers=headers, max_connections=max_connections
        )
        self._apps = AppListReader()  # keeps each app's last AppState while it is unchanged

    def __repr__(self) -> str:
        return f"MarathonClient(base_url={self._display_url!r}, auth={self._auth_mode!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- listing ---------------------------------------------------------------------------------

    async def list_apps(self) -> AppsSnapshot:
        """Every app from one `GET /v2/apps`; apps whose JSON is unusable land in `invalid`."""
        what = "GET /v2/apps"
        tries = Attempts()
        try:
            response = await request(self._client, "GET", "/v2/apps", policy=self._policy, attempts=tries)
        except httpx.HTTPError as exc:
            raise TargetUnavailable(self._transport_message(what, exc, tries)) from exc
        except WireError as exc:
            raise TargetUnavailable(f"Marathon at {self._display_url}: {self._redact(str(exc))}") from exc
        status = response.status_code
        if status == 401:
            raise TargetAuthError(self._auth_message(what))
        if status >= 500 or status == 429:
            raise TargetUnavailable(
                f"Marathon at {self._display_url} answered HTTP {status} to {what} after {tries}{self._quote(response)}"
            )
        if status != 200:
            raise TargetUnavailable(
                f"Marathon at {self._display_url} refused {what} with HTTP {status}{self._quote(response)}"
            )
        max_bytes, setting = self._policy.max_response_bytes, self._policy.max_bytes_setting
        try:
            shaped = decode_shaped(response.content, USUAL_LIST, what=what, max_bytes=max_bytes, setting=setting)
            usual = self._apps.read_usual(shaped)
            if usual is not None:
                return usual
            body = decode_json(response.content, what=what, max_bytes=max_bytes, setting=setting)
        except WireError as exc:
            raise TargetUnavailable(
                f"Marathon at {self._display_url} answered {what} with a body that cannot be used "
                f"(Content-Type {response.headers.get('content-type', 'missing')!r}): {exc}; "
                "is the URL really Marathon's?"
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("apps"), list):
            raise TargetUnavailable(
                f"Marathon at {self._display_url} answered {what} with JSON that is not "
                '{"apps": [...]}; is the URL really Marathon\'s?'
            )
        return self._apps.read(body)

    # --- scaling ---------------------------------------------------------------------------------

    async def scale(self, app_id: str, instances: int, *, force: bool = False) -> ScaleResult:  # noqa: PLR0911, PLR0912  one outcome per kind of answer Marathon gives
        """`PATCH /v2/apps<app_id>` with `{"instances": N}`; never creates an app."""

        def result(outcome: ScaleOutcome, detail: str, *, deployment_id: str | None = None) -> ScaleResult:
            return ScaleResult(
                app_id=app_id,
                instances=instances,
                outcome=outcome,
                deployment_id=deployment_id,
                detail=self._redact(detail),
            )

        problem = app_id_problem(app_id)
        if problem is not None:
            return result("rejected", f"Not sent to Marathon: {app_id!r} is not a valid app id: {problem}.")
        if isinstance(instances, bool) or not isinstance(instances, int) or instances < 0:
            return result(
                "rejected",
                f"Not sent to Marathon: {instances!r} is not a valid "
                "instance count (a whole number of 0 or more is needed).",
            )

        path = f"/v2/apps{app_id}"
        what = f"PATCH {path}"
        body = json.dumps({"instances": instances}).encode()
        params = {"force": "true"} if force else None

        tries = Attempts()
        try:
            response = await request(
                self._client,
                "PATCH",
                path,
                policy=self._policy,
                attempts=tries,
                content=body,
                params=params,
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return result("unavailable", self._transport_message(what, exc, tries) + ".")
        except WireError as exc:
            return result("unavailable", f"Marathon's answer to {what} was unusable: {exc}.")

        status = response.status_code
        payload = _json_or_none(response, self._policy)
        message = self._marathon_message(payload)
        if 200 <= status < 300:
            deployment_id = None
            if isinstance(payload, dict) and isinstance(payload.get("deploymentId"), str):
                deployment_id = payload["deploymentId"]
            deployment_id = deployment_id or response.headers.get("Marathon-Deployment-Id")
            return result(
                "scaled",
                f"Marathon accepted {app_id} at {instances} instance(s)"
                + (f"; deployment {deployment_id}." if deployment_id else "."),
                deployment_id=deployment_id,
            )
        if status == 401:
            raise TargetAuthError(self._auth_message(what))
        if status == 409:
            if isinstance(payload, dict) and "deployments" in payload:
                ids = [
                    d["id"]
                    for d in payload.get("deployments") or ()
                    if isinstance(d, dict) and isinstance(d.get("id"), str)
                ]
                listed = ", ".join(ids) if ids else "unknown"
                return result(
                    "deployment_in_progress",
                    f"{app_id} is locked by running deployment(s) {listed}; not scaled.",
                )
            return result("rejected", f"Marathon refused to scale {app_id} (HTTP 409): {message}")
        if status == 403:
            lowered = message.lower()
            if "max number" in lowered and "deployments" in lowered:
                return result(
                    "deployment_cap",
                    f"Marathon has reached its maximum number of running deployments; {app_id} "
                    f"was not scaled: {message}",
                )
            return result(
                "rejected",
                f"The configured Marathon account is not authorized to scale {app_id} (HTTP 403): {message}",
            )
        if status == 404:
            return result("not_found", f"Marathon does not know the app {app_id} (HTTP 404).")
        if status in (400, 422):
            details = self._marathon_details(payload)
            return result(
                "rejected",
                f"Marathon rejected the new instance count for {app_id} (HTTP {status}): {message}{details}",
            )
        if status >= 500 or status == 429:
            return result(
                "unavailable",
                f"Marathon answered HTTP {status} to {what} after {tries}: {message}",
            )
        return result("rejected", f"Marathon answered HTTP {status} to {what}: {message}")

    # --- messages --------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        """Marathon's own words may echo what we sent (a proxy echoing headers): never let them out."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return scrub(text)

    def _auth_message(self, what: str) -> str:
        sent = {
            "none": "no credentials are configured",
            "basic": "the configured user and password were rejected",
            "token": "the configured DC/OS token was rejected",
        }[self._auth_mode]
        return f"Marathon at {self._display_url} answered 401 Unauthorized to {what}: {sent}. {_AUTH_HINT}"

    def _transport_message(self, what: str, exc: httpx.HTTPError, tries: Attempts) -> str:
        reason = self._redact(str(exc)) or "no details"
        return (
            f"Marathon at {self._display_url} could not be reached for {what} after "
            f"{tries}: {type(exc).__name__}: {reason}"
        )

    def _marathon_message(self, payload: Any) -> str:
        if isinstance(payload, dict) and isinstance(payload.get("message"), str):
            return self._redact(payload["message"][: _MAX_QUOTED * 4])[:_MAX_QUOTED]
        return "no message"

    def _marathon_details(self, payload: Any) -> str:
        if not isinstance(payload, dict) or not isinstance(payload.get("details"), list):
            return ""
        parts = []
        for item in payload["details"][:5]:
            if isinstance(item, dict):
                errors = item.get("errors")
                text = ", ".join(str(e) for e in errors) if isinstance(errors, list) else ""
                parts.append(f"{item.get('path', '?')}: {text}")
        return f" ({'; '.join(parts)[:_MAX_QUOTED]})" if parts else ""

    def _quote(self, response: httpx.Response) -> str:
        payload = _json_or_none(response, self._policy)
        if isinstance(payload, dict) and isinstance(payload.get("message"), str):
            return f": {self._marathon_message(payload)}"
        return ""
