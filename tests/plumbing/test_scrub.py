"""The scrubber: credential shapes from any peer, and the secrets the service registered, in every form."""

from __future__ import annotations

import base64

import pytest

from autoscaler.scrub import register, register_basic, register_url, scrub

TOKEN = "tok-PLANTED-77aa"
PASSWORD = "pw-PLANTED-p@ss word"
WEBHOOK = "https://hooks.example.test/services/T0/B0/PLANTEDhook?access_token=PLANTEDquery"


@pytest.fixture(autouse=True, scope="module")
def _registered() -> None:
    register([TOKEN])
    register_basic("ops", PASSWORD)
    register_url(WEBHOOK)


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: token={TOKEN}",
        f"{{'authorization': 'Bearer {TOKEN}'}}",
        f'{{"Authorization": "Basic {base64.b64encode(f"ops:{PASSWORD}".encode()).decode()}"}}',
        f"the proxy saw ops:{PASSWORD} and gave up",
        "password in a URL-encoded form: pw-PLANTED-p%40ss%20word",
        f"posting to {WEBHOOK} failed",
        "path only: /services/T0/B0/PLANTEDhook",
        "Authorization: Basic b3RoZXI6UExBTlRFRC1ub3Qtb3Vycw==",  # someone else's credential: by its shape
        "Proxy-Authorization: Bearer PLANTED.jwt.value",
        "GET http://someone:PLANTED@host/x",
        "?token=PLANTED&x=1",
    ],
)
def test_every_form_of_a_credential_is_masked(text: str) -> None:
    scrubbed = scrub(text)
    assert "PLANTED" not in scrubbed
    assert "***" in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "Marathon answered HTTP 503 to GET /v2/apps after 3 attempt(s)",
        "Set AUTOSCALER_MARATHON_USER and AUTOSCALER_MARATHON_PASSWORD for HTTP basic authentication",
        "the bearer token was rejected",
        "prometheus query 'sum(rate(x[1m]))': HTTP 400 bad_data: parse error",
    ],
)
def test_ordinary_messages_are_left_alone(text: str) -> None:
    assert scrub(text) == text
