"""Leaving: the export archive (never a secret: the canary test) and closing the account."""

from __future__ import annotations

import json

import pytest

from accounts import hooks
from accounts.models import ApiToken, AuditEntry, TwoFactor, User, UserSession
from accounts.services import leaving
from bots.models import Bot
from credentials.models import Credential
from notifications.models import Channel
from realtime.models import Event
from tests.bots.factories import BacktestFactory, BotFactory, fill
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db

CANARY = "CANARY-leave-4e1d9b"
KEYS = {
    "provider": "binance",
    "api_key": f"{CANARY}-key-WXYZ",
    "api_secret": f"{CANARY}-secret",
    "passphrase": f"{CANARY}-pass",
}


def _holdings(client, owner):
    assert client.post("/api/keys/save", KEYS, format="json").status_code == 201
    bot = BotFactory(owner=owner, name="Leaver-1", status=Bot.Status.RUNNING)
    fill(bot, side="buy", quantity="0.01", price="50000", with_order=True)
    token = client.post("/api/auth/tokens", {"name": "cron", "scopes": ["read"]}, format="json").json()["token"]
    return bot, token


def test_the_export_holds_the_users_data_and_no_secret(owner_client, owner):
    bot, raw_token = _holdings(owner_client, owner)
    setup = owner_client.post("/api/auth/2fa/setup", {}, format="json").json()
    Event.objects.create(user=owner, type="bot_started", payload={"bot": {"id": bot.pk}}, message="started")
    run = BacktestFactory(
        owner=owner,
    )

    response = owner_client.get("/api/auth/me/export")

    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    archive = response.json()["archive"]
    assert archive["user"]["email"] == owner.email
    assert [b["name"] for b in archive["bots"]] == ["Leaver-1"]
    assert len(archive["trades"]) == 1 and len(archive["orders"]) >= 1
    assert "bot_started" in [e["type"] for e in archive["events"]]
    assert [b["id"] for b in archive["backtests"]] == [run.pk]
    assert [t["name"] for t in archive["api_tokens"]] == ["cron"]
    text = response.content.decode()
    for secret in (CANARY, raw_token, setup["secret"], owner.password):
        assert secret not in text
    assert "WXYZ" not in json.dumps(archive.get("credentials", []))  # keys are not exported at all


def test_an_exporter_that_returns_a_secret_field_is_scrubbed(owner_client):
    hooks.register_exporter("leaky", lambda user: [{"name": "x", "api_secret": CANARY, "nested": {"token": CANARY}}])
    try:
        archive = owner_client.get("/api/auth/me/export").json()["archive"]
    finally:
        hooks.unregister("leaky")

    assert archive["leaky"] == [{"name": "x", "nested": {}}]


def test_another_user_gets_only_their_own_export(owner_client, other_client, owner):
    _holdings(owner_client, owner)

    archive = other_client.get("/api/auth/me/export").json()["archive"]

    assert archive["bots"] == [] and archive["trades"] == [] and "Leaver-1" not in json.dumps(archive)


def test_leaving_needs_the_password(owner_client, owner):
    error = assert_error(
        owner_client.delete("/api/auth/me", {"password": "wrong"}, format="json"), 400, "VALIDATION_ERROR"
    )

    assert "password" in error["details"]
    owner.refresh_from_db()
    assert owner.is_active


def test_leaving_stops_bots_erases_keys_ends_sessions_and_deactivates(owner_client, api_client, owner, password):
    bot, raw_token = _holdings(owner_client, owner)
    Channel.objects.create(user=owner, kind="email", name="alerts", address=owner.email, events=[])

    response = owner_client.delete("/api/auth/me", {"password": password}, format="json")

    assert response.status_code == 200, response.content
    assert not Channel.objects.filter(user=owner).exists()
    owner.refresh_from_db()
    bot.refresh_from_db()
    assert owner.is_active is False
    assert bot.status == Bot.Status.STOPPED
    assert not Credential.objects.filter(owner=owner).exists()
    assert not UserSession.objects.filter(user=owner, ended_at__isnull=True).exists()
    assert not ApiToken.objects.filter(user=owner, revoked_at__isnull=True).exists()
    assert owner_client.get("/api/auth/me").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    assert api_client.get("/api/auth/me").status_code == 401
    login = api_client.post("/api/auth/login", {"email": owner.email, "password": password}, format="json")
    assert_error(login, 403, "ACCOUNT_DISABLED")
    assert AuditEntry.objects.filter(action="user.left", actor=owner).exists()
    assert bot.trades.count() == 1  # history stays


def test_leaving_with_2fa_needs_a_fresh_code(owner_client, owner, password, clock):
    from tests.accounts.twofactor_kit import turn_on_two_factor

    app, _codes = turn_on_two_factor(owner_client, clock)

    missing = owner_client.delete("/api/auth/me", {"password": password}, format="json")
    assert_error(missing, 403, "TWO_FACTOR_CODE_REQUIRED")
    done = owner_client.delete("/api/auth/me", {"password": password, "two_factor_code": app.code()}, format="json")

    assert done.status_code == 200, done.content
    assert not TwoFactor.objects.filter(user=owner).exists()
    assert User.objects.get(pk=owner.pk).is_active is False


def test_a_failing_leaver_leaves_the_account_open(owner_client, owner, password):
    bot, _raw = _holdings(owner_client, owner)

    def broken(user):
        raise RuntimeError("boom")

    hooks.register_leaver("zz-broken", broken)
    try:
        with pytest.raises(RuntimeError):
            leaving.user_leave(user=owner, password=password)
    finally:
        hooks.unregister("zz-broken")

    owner.refresh_from_db()
    bot.refresh_from_db()
    assert owner.is_active and bot.status == Bot.Status.RUNNING
    assert Credential.objects.filter(owner=owner).exists()
