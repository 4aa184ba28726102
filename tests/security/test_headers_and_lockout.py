"""Security headers on every kind of answer, and a login lockout that no spoofed
forwarding header can dodge."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings

from tests.envelope import assert_error
from tests.security.endpoints import OPERATIONS, PUBLIC_PARAMETERS

pytestmark = pytest.mark.django_db

PAGES = [op.url(**PUBLIC_PARAMETERS) for op in OPERATIONS if op.method == "GET" and not op.needs_token]


def assert_security_headers(response, where):
    assert response["X-Content-Type-Options"] == "nosniff", where
    assert response["Referrer-Policy"] == "same-origin", where
    assert response["X-Frame-Options"] == "DENY", where
    assert response["X-Request-ID"], where


@pytest.mark.parametrize("url", [*PAGES, "/api/auth/me", "/api/no-such-thing", "/admin/login/", "/api/docs/"])
def test_every_kind_of_answer_has_the_security_headers(client, url):
    assert_security_headers(client.get(url), url)


def test_errors_and_authenticated_answers_have_them_too(owner_client):
    for response in (
        owner_client.get("/api/bots"),
        owner_client.post("/api/bots", "{", content_type="application/json"),
        owner_client.delete("/api/bots/999999"),
        owner_client.generic("PUT", "/api/auth/me"),
    ):
        assert_security_headers(response, response.status_code)


# ---------------------------------------------------------------------------
# Lockout
# ---------------------------------------------------------------------------
LIMIT = settings.AXES_FAILURE_LIMIT
SPOOFS = [
    {"HTTP_X_FORWARDED_FOR": "203.0.113.{n}"},
    {"HTTP_X_REAL_IP": "203.0.113.{n}"},
    {"HTTP_FORWARDED": "for=203.0.113.{n}"},
    {"HTTP_X_FORWARDED_FOR": "203.0.113.{n}", "HTTP_CLIENT_IP": "198.51.100.{n}"},
]


def _login(client, identifier, password, n, spoof):
    headers = {key: value.format(n=n) for key, value in spoof.items()}
    return client.post(
        "/api/auth/login", {"email": identifier, "password": password}, format="json", REMOTE_ADDR="10.1.1.1", **headers
    )


@pytest.mark.parametrize("spoof", SPOOFS, ids=lambda s: "+".join(sorted(s)))
def test_a_new_forwarded_address_per_attempt_does_not_dodge_the_account_lock(api, owner, password, spoof):
    for n in range(LIMIT):
        _login(api, owner.email, "wrong-password", n, spoof)

    response = _login(api, owner.email, password, LIMIT + 1, spoof)

    assert_error(response, 429, "ACCOUNT_LOCKED")
    assert int(response["Retry-After"]) > 0
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.1.1.1"}


@pytest.mark.parametrize("spoof", SPOOFS, ids=lambda s: "+".join(sorted(s)))
def test_a_new_forwarded_address_per_attempt_does_not_dodge_the_ip_lock(api, other_user, password, spoof):
    for n in range(LIMIT):
        _login(api, f"victim{n}@example.com", "wrong-password", n, spoof)

    response = _login(api, other_user.email, password, LIMIT + 1, spoof)

    assert_error(response, 429, "ACCOUNT_LOCKED")


def test_made_up_methods_do_not_grow_the_metrics(client, staff_client):
    # Each label value is a time series kept forever: a client must not be able to mint them.
    for n in range(3):
        assert client.generic(f"XYZZY{n}", "/api/health").status_code == 405
    metrics = staff_client.get("/api/metrics").content.decode()
    assert "XYZZY" not in metrics
    assert 'method="OTHER"' in metrics


def test_no_server_layout_takes_the_client_address_from_a_request_header():
    # daphne's --proxy-headers put the client's own X-Forwarded-For into REMOTE_ADDR, past
    # TRUSTED_PROXY_COUNT (core/client_ip.py); tests/security/test_served.py shows it.
    # Both layouts are read as the launcher and the tests start them (config.processes).
    from config.processes import read_procfile

    layouts = [
        " ".join(spec.argv)
        for name in ("Procfile", "Procfile.embedded")
        for spec in read_procfile(settings.BASE_DIR / name, {}).values()
    ]

    assert len(layouts) >= 8
    assert [line for line in layouts if "--proxy-headers" in line or "--forwarded-allow-ips" in line] == []
