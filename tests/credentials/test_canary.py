"""A canary secret goes through every credentials path and must surface nowhere:
not in responses, logs (every logger at DEBUG, SQL included), stdout/stderr, the admin,
audit entries, events, or the database in plaintext. Only decrypted in memory."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from accounts.models import AuditEntry
from credentials import providers
from credentials.models import Credential
from credentials.selectors import credential_for_order
from tests.credentials.helpers import raw_columns
from tests.factories import UserFactory
from tests.fakes.fixtures import closed_port_url

CANARY = "CANARY7f3a9c1e5bd2"
CANARY_KEY = f"{CANARY}-key-WXYZ"  # the hint shows "…WXYZ", never the canary
CANARY_SECRET = f"{CANARY}-secret"
CANARY_TOTP = "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK"  # base32 cannot hold the canary; checked separately


@pytest.fixture
def every_logger_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    connection.force_debug_cursor = True  # SQL and its parameters are logged too
    yield caplog
    connection.force_debug_cursor = False


def test_canary_never_leaks(owner_client, owner, fake_exchange, settings, every_logger_at_debug, capfd):
    caplog = every_logger_at_debug
    fake_exchange.binance_key, fake_exchange.binance_secret = CANARY_KEY, CANARY_SECRET
    bodies: list[bytes] = []

    def call(response, status):
        assert response.status_code == status, response.content
        bodies.append(response.content)
        return response

    save = {"exchange": "binance", "apiKey": CANARY_KEY, "apiSecret": CANARY_SECRET, "passphrase": CANARY}
    credential_id = call(owner_client.post("/api/keys/save", save, format="json"), 201).json()["credential"]["id"]

    # Failures echoing nothing back.
    call(owner_client.post("/api/keys/save", {**save, "exchange": f"x{CANARY}"}, format="multipart"), 400)
    call(owner_client.post("/api/keys/save", {**save, "apiSecret": f"{CANARY}\x07"}, format="json"), 400)
    call(owner_client.post("/api/keys/save", {**save, "apiKey": CANARY * 40}, format="json"), 400)
    call(owner_client.post("/api/keys/save", {**save, "key": "other-and-different"}, format="json"), 400)
    call(owner_client.generic("POST", "/api/keys/save", f'{{"key": "{CANARY}"', content_type="text/plain"), 400)
    call(owner_client.post("/api/keys/save", {"provider": "angelone", "key": CANARY, "totp": "123456"}), 400)

    # Reads.
    call(owner_client.get("/api/keys"), 200)
    call(owner_client.get(f"/api/keys/{credential_id}"), 200)

    # Key tests: good, rejected, timeout, unreachable, and an unsaved set.
    by_id = {"provider": "binance", "credential_id": credential_id}
    assert call(owner_client.post("/api/keys/test", by_id, format="json"), 200).json()["ok"] is True
    fake_exchange.reject_keys = True
    assert call(owner_client.post("/api/keys/test", by_id, format="json"), 200).json()["ok"] is False
    fake_exchange.reject_keys = False
    settings.KEYS_TEST_TIMEOUT_SECONDS = 0.3
    fake_exchange.delay = 1.0
    assert call(owner_client.post("/api/keys/test", save, format="json"), 200).json()["ok"] is False
    fake_exchange.delay = 0
    settings.VENUE_URLS = {"binance": closed_port_url(), "angelone": closed_port_url()}
    assert call(owner_client.post("/api/keys/test", save, format="json"), 200).json()["ok"] is False
    settings.VENUE_URLS = {"binance": fake_exchange.url, "angelone": fake_exchange.url}
    settings.KEYS_TEST_TIMEOUT_SECONDS = 2
    angel = {"broker": "angelone", "key": CANARY_KEY, "clientCode": CANARY, "password": CANARY, "totp": CANARY_TOTP}
    assert call(owner_client.post("/api/keys/test", angel, format="json"), 200).json()["ok"] is False

    # The flat profile form and the profile.
    flat = {
        "angel_api_key": CANARY_KEY,
        "angel_client_code": CANARY,
        "angel_password": CANARY,
        "angel_totp": CANARY_TOTP,
    }
    call(owner_client.post("/api/val/update_profile", flat, format="json"), 200)
    call(owner_client.post("/api/val/update_profile", {"backtest_api_key": CANARY}, format="json"), 400)
    call(owner_client.get("/api/val/profile"), 200)

    # The engine's path: selector, shared client, an order.
    credential = credential_for_order(user=owner, provider="binance", purpose="live")
    client = providers.client_for(credential)
    client.create_order(symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.01"), client_order_id="c-1")
    assert repr(client.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="c-1"))

    # The admin, as a superuser.
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    call(admin.get("/admin/credentials/credential/"), 200)
    call(admin.get(f"/admin/credentials/credential/{credential_id}/change/"), 200)

    # Decrypted in memory, and only there.
    stored = Credential.objects.get(pk=credential_id)
    assert (stored.api_key, stored.api_secret, stored.passphrase) == (CANARY_KEY, CANARY_SECRET, CANARY)
    raw = raw_columns(credential_id)
    angel_row = Credential.objects.get(owner=owner, provider="angelone")
    raw_angel = raw_columns(angel_row.pk)

    call(owner_client.delete(f"/api/keys/{credential_id}"), 200)

    everything = [
        *(body.decode("utf-8", "replace") for body in bodies),
        caplog.text,
        *(record.getMessage() for record in caplog.records),
        *(repr(record.args) for record in caplog.records),
        *capfd.readouterr(),
        json.dumps(list(AuditEntry.objects.values("action", "data", "target_type", "target_id")), default=str),
        *(value.decode("latin-1") for value in (*raw.values(), *raw_angel.values()) if value),
        repr(list(Credential.objects.values("api_key_hint", "fields_set", "last_test_message"))),
    ]
    try:
        from realtime.models import Event
    except ImportError:  # pragma: no cover - realtime is part of the project
        Event = None
    if Event is not None:
        everything.append(json.dumps(list(Event.objects.values("type", "payload", "message")), default=str))
    for text in everything:
        assert CANARY not in text and CANARY_TOTP not in text
    assert any("credential" in r.getMessage() for r in caplog.records)  # the logs were captured
    assert len(bodies) == 20  # every call above was made
    assert b"\xe2\x80\xa6WXYZ" in bodies[0]  # the hint
