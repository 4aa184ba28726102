"""The audit trail: one entry per account action, never a secret."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import orjson
import pytest
from django.core import mail
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from accounts.models import AuditEntry
from accounts.services import audit_record
from core.middleware import RequestIdMiddleware

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-passphrase-1"
NEW_PASSWORD = "an-even-longer-passphrase-2"


def test_account_actions_are_audited_without_any_secret(api_client):
    # Given a user who goes through every account action
    body = api_client.post("/api/auth/register", {"email": "a@example.com", "password": PASSWORD}, format="json").json()
    login = api_client.post("/api/auth/login", {"email": "a@example.com", "password": PASSWORD}, format="json").json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {login['token']}")
    api_client.patch("/api/auth/me", {"full_name": "A"}, format="json")
    changed = api_client.post(
        "/api/auth/change-password", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    ).json()
    api_client.post("/api/auth/send-otp", {"identifier": "a@example.com"}, format="json")
    code = re.search(r"(\d{6})", mail.outbox[0].body).group(1)
    api_client.post("/api/auth/verify-otp", {"identifier": "a@example.com", "otp_code": code}, format="json")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {changed['token']}")
    api_client.post("/api/auth/logout", {"refresh": changed["refresh_token"]}, format="json")

    # Then
    entries = list(AuditEntry.objects.order_by("id"))
    assert [e.action for e in entries] == [
        "user.registered",
        "user.logged_in",
        "user.profile_updated",
        "user.password_changed",
        "user.otp_sent",
        "user.email_verified",
        "user.logged_out",
    ]
    user_id = str(body["user"]["id"])
    assert {(e.actor_id, e.actor_email, e.target_type, e.target_id) for e in entries} == {
        (int(user_id), "a@example.com", "user", user_id)
    }
    assert entries[2].data == {"fields": ["full_name"]}
    assert all(e.ip_address == "127.0.0.1" and len(e.request_id) == 32 for e in entries)
    dump = orjson.dumps(list(AuditEntry.objects.values())).decode()
    for secret in (PASSWORD, NEW_PASSWORD, code, body["token"], login["refresh_token"], changed["access_token"]):
        assert secret not in dump


def test_audit_record_scrubs_secret_keys_at_any_depth_and_stores_json():
    entry = audit_record(
        actor=None,
        action="key.saved",
        target_type="credential",
        target_id=7,
        data={
            "provider": "binance",
            "api_key": "AKIA-123",
            "nested": {"apiSecret": "s3cr3t", "items": [{"totp_secret": "JBSWY3DP", "label": "main"}]},
            "Password": "hunter22",
            "amount": Decimal("0.10"),
            "at": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        },
    )

    entry.refresh_from_db()
    assert entry.data == {
        "provider": "binance",
        "api_key": "[redacted]",
        "nested": {"apiSecret": "[redacted]", "items": [{"totp_secret": "[redacted]", "label": "main"}]},
        "Password": "[redacted]",
        "amount": 0.1,
        "at": "2026-01-02T03:04:05+00:00",
    }
    assert (entry.actor_id, entry.actor_email, entry.target_type, entry.target_id) == (None, "", "credential", "7")
    assert str(entry) == "system key.saved credential#7"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_audit_record_takes_the_trusted_client_ip(owner):
    # The IP comes from the request context the middleware sets, not from a request argument.
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4")
    entries = []

    def view(_request):
        entries.append(audit_record(actor=owner, action="user.poked", target=owner))
        return HttpResponse()

    RequestIdMiddleware(view)(request)
    entry = entries[0]

    assert (entry.ip_address, entry.target_type, entry.target_id) == ("198.51.100.4", "user", str(owner.pk))
    assert str(entry) == f"owner@example.com user.poked user#{owner.pk}"


def test_a_refused_action_writes_no_audit_entry(api_client, owner):
    api_client.post("/api/auth/login", {"email": "owner@example.com", "password": "wrong-password"}, format="json")
    api_client.post("/api/auth/register", {"email": "owner@example.com", "password": PASSWORD}, format="json")

    assert AuditEntry.objects.count() == 0


def test_audit_outside_a_request_records_no_ip_or_request_id(owner):
    # A Celery task or a command: no middleware ran, so nothing pretends to be a request.
    entry = audit_record(actor=owner, action="user.poked", target=owner)

    assert (entry.ip_address, entry.request_id) == (None, "")
