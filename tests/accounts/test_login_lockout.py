"""POST /api/auth/login, and the lockout after repeated failures (django-axes)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import F
from django.test import override_settings

from tests.envelope import assert_error
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/auth/login"
LIMIT = settings.AXES_FAILURE_LIMIT
COOLOFF = int(settings.AXES_COOLOFF_TIME.total_seconds())


def login(client, identifier, password, *, ip="10.0.0.1", xff=None, key="identifier"):
    extra = {"REMOTE_ADDR": ip}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return client.post(URL, {key: identifier, "password": password}, format="json", **extra)


@pytest.mark.parametrize(
    ("key", "identifier"),
    [("email", "OWNER@example.com"), ("username", "Owner"), ("identifier", "owner@example.com")],
)
def test_login_by_email_username_or_identifier(api, owner, password, key, identifier):
    response = login(api, identifier, password, key=key)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["user"]["id"] == owner.pk
    assert body["token"] == body["access_token"]
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    owner.refresh_from_db()
    assert owner.last_login is not None
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api.get("/api/auth/me").json()["user"]["email"] == "owner@example.com"


def test_login_accepts_a_form_encoded_body(api, owner, password):
    response = api.post(URL, {"email": "owner@example.com", "password": password}, format="multipart")

    assert response.status_code == 200, response.content


def test_wrong_password_is_a_401_and_counts_a_failure(api, owner):
    response = login(api, "owner@example.com", "wrong-password")

    error = assert_error(response, 401, "INVALID_CREDENTIALS")
    assert error["message"] == "Invalid credentials."
    assert "password" not in error["details"]
    owner.refresh_from_db()
    assert owner.last_login is None
    assert AccessAttempt.objects.get().failures_since_start == 1


def test_unknown_account_gets_the_same_answer_as_a_wrong_password(api):
    response = login(api, "nobody@example.com", "whatever-password")

    assert_error(response, 401, "INVALID_CREDENTIALS")


def test_login_without_an_identifier_is_a_400(api):
    response = api.post(URL, {"password": "x"}, format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"] == {"identifier": ["Give an email, a username or an identifier."]}


def test_disabled_account_with_the_right_password_is_403_account_disabled(api, password):
    UserFactory(email="gone@example.com", is_active=False)

    assert_error(login(api, "gone@example.com", password), 403, "ACCOUNT_DISABLED")
    # A wrong password reveals nothing more than for anyone else.
    assert_error(login(api, "gone@example.com", "wrong-password"), 401, "INVALID_CREDENTIALS")


def _fail_until_locked(client, identifier, **kwargs):
    for _ in range(LIMIT - 1):
        assert_error(login(client, identifier, "wrong-password", **kwargs), 401, "INVALID_CREDENTIALS")
    return login(client, identifier, "wrong-password", **kwargs)


def assert_locked(response):
    error = assert_error(response, 429, "ACCOUNT_LOCKED")
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= COOLOFF
    assert error["details"] == {"retry_after": retry_after}


def test_the_account_locks_after_the_failure_limit_even_from_other_ips(api, owner, password):
    # When the limit is reached with wrong passwords from one IP
    assert_locked(_fail_until_locked(api, "owner@example.com"))

    # Then even the right password, from another IP, is refused while locked
    assert_locked(login(api, "owner@example.com", password, ip="10.9.9.9"))
    # and by username too: one budget per account, however it is named
    assert_locked(login(api, "owner", password, ip="10.9.9.8"))
    owner.refresh_from_db()
    assert owner.last_login is None


def test_the_client_ip_locks_after_failures_across_accounts(api, owner, other_user, password):
    # Given failures against many different accounts from one IP
    for n in range(LIMIT - 1):
        assert_error(login(api, f"victim{n}@example.com", "wrong-password"), 401, "INVALID_CREDENTIALS")
    assert_locked(login(api, "victim-last@example.com", "wrong-password"))

    # Then that IP cannot log into any account, even with the right password
    assert_locked(login(api, "other@example.com", password))
    # while the same account from another IP is fine
    assert login(api, "other@example.com", password, ip="10.0.0.2").status_code == 200


def age_failures(seconds):
    """Move the clock: the recorded failures happened ``seconds`` earlier."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(seconds=seconds))


def test_lockout_expires_after_the_cool_off(api, owner, password):
    assert_locked(_fail_until_locked(api, "owner@example.com"))

    # When the cool-off has passed since the last failure
    age_failures(COOLOFF + 1)

    # Then the right password works again
    assert login(api, "owner@example.com", password).status_code == 200


def test_lockout_still_holds_just_before_the_cool_off_ends(api, owner, password):
    assert_locked(_fail_until_locked(api, "owner@example.com"))
    age_failures(COOLOFF - 30)

    response = login(api, "owner@example.com", password)

    assert_locked(response)
    assert int(response["Retry-After"]) <= 30


def test_a_success_resets_that_accounts_failures(api, owner, password):
    for _ in range(LIMIT - 1):
        login(api, "owner@example.com", "wrong-password")
    assert login(api, "owner@example.com", password).status_code == 200

    for _ in range(LIMIT - 1):
        assert_error(login(api, "owner@example.com", "wrong-password"), 401, "INVALID_CREDENTIALS")


def test_logging_into_ones_own_account_does_not_reset_the_ips_failures(api, owner, other_user, password):
    # An attacker guessing other accounts cannot clear the per-IP count with a login of their own.
    for n in range(LIMIT - 1):
        login(api, f"victim{n}@example.com", "wrong-password")
    assert login(api, "other@example.com", password).status_code == 200

    assert_locked(login(api, "victim-last@example.com", "wrong-password"))


def _lock_ip_with_spoofed_addresses(client, xff: str):
    """Fail LIMIT times from one connection, claiming another address in X-Forwarded-For each time."""
    for n in range(LIMIT - 1):
        login(client, f"victim{n}@example.com", "wrong-password", xff=xff.format(n=n))
    assert_locked(login(client, "victim-last@example.com", "wrong-password", xff=xff.format(n=99)))


@pytest.mark.parametrize(
    ("proxies", "xff", "client_ip"),
    [
        # No trusted proxy: the header is the client's own invention; REMOTE_ADDR is the truth.
        (0, "203.0.113.{n}", "10.0.0.1"),
        # One proxy (REMOTE_ADDR 10.0.0.1) appends the real client; the client prepends what it likes.
        (1, "203.0.113.{n}, 198.51.100.20", "198.51.100.20"),
    ],
)
def test_a_spoofed_forwarded_for_does_not_dodge_the_ip_lock(api, owner, password, settings, proxies, xff, client_ip):
    settings.TRUSTED_PROXY_COUNT = proxies

    _lock_ip_with_spoofed_addresses(api, xff)

    assert_locked(login(api, "owner@example.com", password, xff=xff.format(n=200)))
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {client_ip}


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_another_client_behind_the_same_proxy_is_not_locked(api, owner, password):
    _lock_ip_with_spoofed_addresses(api, "203.0.113.{n}, 198.51.100.20")

    assert login(api, "owner@example.com", password, xff="203.0.113.1, 198.51.100.21").status_code == 200


def _admin_login(client, username, password):
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    return client.post(
        "/admin/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token},
        format="multipart",
        REMOTE_ADDR="10.0.0.1",
    )


def test_the_admin_login_locks_with_the_same_envelope(api, staff, password):
    # Given wrong passwords on the staff login page, up to one short of the limit
    for _ in range(LIMIT - 1):
        response = _admin_login(api, "staff@example.com", "wrong-password")
        assert response.status_code == 200 and b"errornote" in response.content

    # When the limit is reached, and then even with the right password
    locked = _admin_login(api, "staff@example.com", "wrong-password")
    still_locked = _admin_login(api, "staff@example.com", password)

    # Then the lockout envelope answers (under ASGI it was a 500: axes' async path)
    assert_locked(locked)
    assert_locked(still_locked)
    assert "sessionid" not in still_locked.cookies
