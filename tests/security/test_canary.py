"""A canary secret goes in through the API, trades through the engine on the Celery
path, and must come out nowhere: not in responses, logs (every logger at DEBUG, SQL
included), Celery messages, event payloads, audit entries or admin pages.

Celery messages are the ones really published: the broker is kombu's in-memory
transport for this test, ``before_task_publish`` records each message, and a stand-in
worker runs it with the arguments it carried (what a real worker would see)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from celery.signals import before_task_publish
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry
from bots.models import Bot, Order
from config.celery import app as celery_app
from realtime.models import Event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CANARY = "CANARYe81b44c09f7d"
CANARY_KEY = f"{CANARY}-key-QRST"
CANARY_SECRET = f"{CANARY}-secret"


@pytest.fixture
def published():
    """Publish for real, to an in-memory broker, and record every message."""
    conf = celery_app.conf
    saved = {
        key: conf[key]
        for key in (
            "task_always_eager",
            "broker_url",
            "broker_write_url",
            "broker_transport",
            "broker_transport_options",
        )
    }
    messages: list[dict] = []

    def record(sender=None, body=None, headers=None, properties=None, **kwargs):
        messages.append({"task": sender, "body": body, "headers": headers, "properties": properties})

    # broker_transport too: the embedded default names its own transport class (config.broker),
    # which would win over the URL's scheme.
    conf.update(
        task_always_eager=False,
        broker_url="memory://",
        broker_write_url=None,
        broker_transport=None,
        broker_transport_options={},
    )
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    before_task_publish.connect(record, weak=False)
    try:
        yield messages
    finally:
        before_task_publish.disconnect(record)
        conf.update(**saved)
        celery_app._pool = None
        celery_app.amqp._producer_pool = None


def work_off(messages: list[dict]) -> list[str]:
    """A stand-in worker: run each published message with the arguments it carried."""
    ran, done = [], 0
    while done < len(messages):
        message = messages[done]
        done += 1
        args, kwargs, _embed = message["body"]
        celery_app.tasks[message["headers"]["task"]].apply(args=args, kwargs=kwargs, throw=True)
        ran.append(message["headers"]["task"])
    return ran


@pytest.fixture
def engine_settings(_engine_defaults, settings):
    settings.ENABLE_TRADING = True


def test_a_canary_credential_trades_and_surfaces_nowhere(
    owner_client, owner, fake_exchange, engine_settings, every_logger_at_debug, published, capfd
):
    caplog = every_logger_at_debug
    fake_exchange.binance_key, fake_exchange.binance_secret = CANARY_KEY, CANARY_SECRET
    bodies: list[bytes] = []

    def call(response, status):
        assert response.status_code == status, response.content
        bodies.append(response.content)
        return response.json()

    # The key goes in and is tested.
    save = {"exchange": "binance", "apiKey": CANARY_KEY, "apiSecret": CANARY_SECRET, "purpose": "live"}
    credential_id = call(owner_client.post("/api/keys/save", save, format="json"), 201)["credential"]["id"]
    assert call(owner_client.post("/api/keys/test", {"credential_id": credential_id, "provider": "binance"}), 200)["ok"]

    # A live bot uses it; training is over (the training tests prove promotion itself).
    new_bot = {
        "name": "Canary",
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "strategy": "dca",
        "params": {"order_pct": 0.1, "every_ticks": 1, "max_orders": 100, "take_profit_pct": 5},
        "trading_mode": "live",
        "capital": 1000,
        "credential_id": credential_id,
    }
    bot_id = call(owner_client.post("/api/bots", new_bot, format="json"), 201)["bot"]["id"]
    Bot.objects.filter(pk=bot_id).update(in_training=False)
    call(owner_client.post(f"/api/bots/{bot_id}/start", {}, format="json"), 200)
    Bot.objects.filter(pk=bot_id).update(next_tick_at=timezone.now() - timedelta(seconds=1), claimed_until=None)

    # The engine's Celery path: beat's dispatch, the batch it sends, a one-bot tick, housekeeping.
    from bots import tasks

    tasks.engine_dispatch_task.apply_async()
    tasks.bot_tick_task.apply_async(args=[bot_id])
    tasks.engine_housekeeping_task.apply_async()
    ran = work_off(published)
    assert ran.count("bots.tick_batch") == 1 and "bots.dispatch" in ran and "bots.tick" in ran

    # It really traded with the canary key on the venue.
    order = Order.objects.get(bot_id=bot_id)
    assert (order.is_paper, order.status) == (False, "filled")
    assert order.client_order_id in fake_exchange.orders

    # Everything a user or staff member can read afterwards.
    for url in ["/api/keys", f"/api/keys/{credential_id}", "/api/val/profile", f"/api/bots/{bot_id}"]:
        call(owner_client.get(url), 200)
    for suffix in ["orders", "trades", "events", "positions", "performance"]:
        call(owner_client.get(f"/api/bots/{bot_id}/{suffix}"), 200)
    call(owner_client.post(f"/api/bots/{bot_id}/stop", {"close_positions": True}, format="json"), 200)

    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    pages = [
        "/admin/",
        "/admin/bots/bot/",
        f"/admin/bots/bot/{bot_id}/change/",
        "/admin/credentials/credential/",
        f"/admin/credentials/credential/{credential_id}/change/",
        "/admin/accounts/auditentry/",
        *(f"/admin/accounts/auditentry/{pk}/change/" for pk in AuditEntry.objects.values_list("pk", flat=True)),
    ]
    admin_html = []
    for url in pages:
        response = admin.get(url)
        assert response.status_code == 200, url
        admin_html.append(response.content.decode())

    events = list(Event.objects.values("type", "payload", "message"))
    assert {"bot_started", "trade_executed"} <= {e["type"] for e in events}
    everything = {
        "responses": [body.decode("utf-8", "replace") for body in bodies],
        "logs": [caplog.text, *(r.getMessage() for r in caplog.records), *(repr(r.args) for r in caplog.records)],
        "stdout/stderr": list(capfd.readouterr()),
        "celery messages": [repr(message) for message in published],
        "events": [json.dumps(events, default=str)],
        "audit": [json.dumps(list(AuditEntry.objects.values()), default=str)],
        "admin": admin_html,
    }
    for where, texts in everything.items():
        assert texts, where
        for text in texts:
            assert CANARY not in text, where
    assert any("SELECT" in r.getMessage() for r in caplog.records)  # SQL was logged, and scanned
