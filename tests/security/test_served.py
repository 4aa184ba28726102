"""Lockouts, throttles and bad bodies through the real ASGI server, as ``make run`` starts it.

The ASGI server runs from the layout ``make run`` starts (``Procfile.embedded``, through
``tests/processes.py``), so a
server flag (``--proxy-headers``) or a server-level parser (Twisted's) is part of what is
tested. Each test speaks from its own loopback address (127.0.0.x), so the per-IP
lockouts and throttles of one test never touch another.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from django.conf import settings

from tests.processes import running_product

pytestmark = pytest.mark.e2e

LIMIT = settings.AXES_FAILURE_LIMIT


@pytest.fixture(scope="module")
def product():
    with running_product(services=False, start=False) as product:
        product.start("asgi")
        yield product


def http_from(product, source_ip: str) -> httpx.Client:
    return httpx.Client(
        base_url=product.base_url,
        transport=httpx.HTTPTransport(local_address=source_ip),
        timeout=httpx.Timeout(30.0),
    )


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    return body["error"]


def test_a_forged_forwarded_for_does_not_become_the_client_address(product):
    # Given no trusted proxy (the default) and a client that claims a new address each time
    with http_from(product, "127.0.0.2") as client:
        answers = [
            client.post(
                "/api/auth/login",
                json={"email": f"victim{n}@example.com", "password": "wrong-password"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )
            for n in range(LIMIT)
        ]

    # Then its failures count against its real address, which locks at the limit
    for response in answers[:-1]:
        assert_envelope(response, 401, "INVALID_CREDENTIALS")
    assert_envelope(answers[-1], 429, "ACCOUNT_LOCKED")
    recorded = product.query("SELECT DISTINCT ip_address FROM axes_accessattempt WHERE username LIKE %s", ["victim%"])
    assert recorded == [("127.0.0.2",)]


def test_a_forged_forwarded_for_does_not_dodge_a_throttle(product):
    # The "otp" scope allows 5 a minute per client address, in fixed windows: the 6th send is
    # refused, or at worst (the sends straddle a minute's boundary) the 11th. Dodging it by
    # forging an address per send would pass them all.
    answers = []
    with http_from(product, "127.0.0.3") as client:
        for n in range(11):
            answers.append(
                client.post(
                    "/api/auth/send-otp",
                    json={"identifier": f"someone{n}@example.com"},  # one send a minute per identifier
                    headers={"X-Forwarded-For": f"198.51.100.{n}"},
                )
            )
            if answers[-1].status_code != 200:
                break

    assert [r.status_code for r in answers[:-1]] == [200] * (len(answers) - 1)
    assert len(answers) >= 6, [r.status_code for r in answers]  # not before the limit
    assert_envelope(answers[-1], 429, "RATE_LIMITED")


def test_the_failure_that_reaches_the_limit_is_a_429_not_a_500(product):
    email = f"lock-{uuid.uuid4().hex[:8]}@example.com"
    with http_from(product, "127.0.0.4") as client:
        registered = client.post("/api/auth/register", json={"email": email, "password": "a-long-passphrase-1"})
        assert registered.status_code == 201, registered.text

        answers = [client.post("/api/auth/login", json={"email": email, "password": "wrong"}) for _ in range(LIMIT)]
        right = client.post("/api/auth/login", json={"email": email, "password": "a-long-passphrase-1"})

    for response in answers[:-1]:
        assert_envelope(response, 401, "INVALID_CREDENTIALS")
    error = assert_envelope(answers[-1], 429, "ACCOUNT_LOCKED")
    assert int(answers[-1].headers["retry-after"]) == error["details"]["retry_after"] > 0
    assert_envelope(right, 429, "ACCOUNT_LOCKED")


def test_the_admin_login_that_reaches_the_limit_is_a_429_not_a_500(product):
    with http_from(product, "127.0.0.5") as client:

        def attempt():
            page = client.get("/admin/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
            return client.post(
                "/admin/login/",
                data={"username": "nobody-admin@example.com", "password": "wrong", "csrfmiddlewaretoken": token},
                headers={"Referer": f"{product.base_url}/admin/login/"},
            )

        answers = [attempt() for _ in range(LIMIT)]

    assert [r.status_code for r in answers[:-1]] == [200] * (LIMIT - 1)
    assert_envelope(answers[-1], 429, "ACCOUNT_LOCKED")


@pytest.mark.parametrize("body", [b"--x--\r\n", b"\r\n"], ids=["no-parts", "blank"])
def test_an_empty_multipart_body_gets_the_envelope(product, body):
    with http_from(product, "127.0.0.6") as client:
        response = client.post(
            "/api/auth/login", content=body, headers={"Content-Type": "multipart/form-data; boundary=x"}
        )

    # Django's answer, as under WSGI: an empty form, so the fields are missing.
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert error["details"] == {"password": ["This field is required."]}
