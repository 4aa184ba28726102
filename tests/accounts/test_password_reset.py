"""Password reset: no enumeration, single-use short-lived tokens, every session ends, throttled.

Timing: the request path does the same work for every address (it queues the mail job
and touches neither the user table nor the mail server), which the structural tests
below pin; ``bench/password_reset_timing.py`` measures the median difference over 50
tries per kind (the suite has no timing assertion: a loaded 2-core machine makes them flaky).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import PasswordResetToken, UserSession
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-7"


def ask(client, email="owner@example.com"):
    return client.post("/api/auth/password-reset", {"email": email}, format="json")


def confirm(client, token, new_password=NEW_PASSWORD):
    return client.post(
        "/api/auth/password-reset/confirm", {"token": token, "new_password": new_password}, format="json"
    )


def mailed_token() -> str:
    return re.search(r"once\):\n\n(\S+)\n", mail.outbox[-1].body).group(1)


def _stable(response) -> tuple:
    return response.status_code, response.json()["success"], response.json()["message"], sorted(response.json())


# ---------------------------------------------------------------------------
# No enumeration
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("address", ["nobody@example.com", "not-an-address", "OWNER@example.com"])
def test_every_address_gets_the_same_answer(api, owner, address):
    known, other = ask(api), ask(api, address)

    assert known.status_code == 200
    assert _stable(known) == _stable(other)


def test_only_a_real_account_gets_a_mail(api_client, owner):
    ask(api_client, "nobody@example.com")
    assert mail.outbox == []

    ask(api_client)

    assert [m.to for m in mail.outbox] == [["owner@example.com"]]
    assert PasswordResetToken.objects.filter(user=owner).count() == 1


def test_a_disabled_account_gets_no_mail(api_client, owner):
    owner.is_active = False
    owner.save()

    assert ask(api_client).status_code == 200
    assert mail.outbox == []


def test_the_request_does_the_same_work_for_every_address(api_client, owner, monkeypatch):
    """Equal work, structurally: both kinds queue one job with the address and run no query."""
    from accounts import tasks

    queued = []
    monkeypatch.setattr(tasks.password_reset_mail, "delay", lambda email: queued.append(email))
    runs = {}
    for address in ("owner@example.com", "nobody@example.com"):
        with CaptureQueriesContext(connection) as queries:
            response = ask(api_client, address)
        runs[address] = (response.status_code, len(queries))

    assert runs == {"owner@example.com": (200, 0), "nobody@example.com": (200, 0)}
    assert queued == ["owner@example.com", "nobody@example.com"]


# ---------------------------------------------------------------------------
# The token
# ---------------------------------------------------------------------------
def test_the_mailed_token_sets_the_password_once(api_client, owner):
    ask(api_client)
    token = mailed_token()

    assert confirm(api_client, token).status_code == 200
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert_error(confirm(api_client, token, "yet-another-passphrase-8"), 400, "RESET_TOKEN_INVALID")
    assert PasswordResetToken.objects.get().token_hash != token  # stored hashed


def test_an_expired_token_is_refused(api_client, owner, password):
    ask(api_client)
    PasswordResetToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert_error(confirm(api_client, mailed_token()), 400, "RESET_TOKEN_INVALID")
    owner.refresh_from_db()
    assert owner.check_password(password)


def test_tokens_live_thirty_minutes(api_client, owner):
    ask(api_client)

    row = PasswordResetToken.objects.get()
    assert row.expires_at - row.created_at <= timedelta(minutes=30, seconds=1)


def test_a_newer_token_voids_the_older_one(api_client, owner):
    ask(api_client)
    first = mailed_token()
    PasswordResetToken.objects.update(created_at=timezone.now() - timedelta(minutes=2))  # past the resend minute
    ask(api_client)

    assert_error(confirm(api_client, first), 400, "RESET_TOKEN_INVALID")
    assert confirm(api_client, mailed_token()).status_code == 200


def test_asking_again_within_a_minute_sends_no_second_mail(api_client, owner):
    ask(api_client)
    ask(api_client)

    assert len(mail.outbox) == 1


def test_a_weak_password_is_a_400_and_keeps_the_token(api_client, owner):
    ask(api_client)
    token = mailed_token()

    error = assert_error(confirm(api_client, token, "123"), 400, "VALIDATION_ERROR")

    assert "new_password" in error["details"]
    assert confirm(api_client, token).status_code == 200


@pytest.mark.parametrize("token", ["", "x", "a" * 43, "\u00e9" * 10])
def test_a_made_up_token_is_a_400(api_client, owner, token):
    response = confirm(api_client, token)

    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("RESET_TOKEN_INVALID", "VALIDATION_ERROR")


def test_a_reset_ends_every_session(api_client, owner_client, owner):
    old_refresh = owner_client.tokens["refresh_token"]
    ask(api_client)

    assert confirm(api_client, mailed_token()).status_code == 200

    assert_error(owner_client.get("/api/auth/me"), 401, "AUTHENTICATION_FAILED")
    assert api_client.post("/api/auth/refresh", {"refresh": old_refresh}, format="json").status_code == 401
    assert not UserSession.objects.filter(user=owner, ended_at__isnull=True).exists()
    login = api_client.post("/api/auth/login", {"email": owner.email, "password": NEW_PASSWORD}, format="json")
    assert login.status_code == 200


def test_confirm_is_throttled(api_client, owner):
    answers = [confirm(api_client, f"guess-{n}").status_code for n in range(8)]

    assert answers[:5] == [400] * 5
    assert 429 in answers[5:]
