"""The signals endpoints (API.md "signals"): webhook, parse, import, providers, history, isolation."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import UserUsage
from bots.models import Bot, FleetHalt, Order
from realtime.models import Event
from signals.models import Provider, Signal
from tests.bots.factories import BotFactory
from tests.conftest import USING_REDIS
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    return body["error"]


def _post(client, url, body, **headers):
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


# ---------------------------------------------------------------------------
# the webhook
# ---------------------------------------------------------------------------
def test_a_signal_is_accepted_recorded_and_acted_on_at_once(
    api_client, webhook_url, signal_bot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(
            api_client, webhook_url, {"action": "BUY", "symbol": "BINANCE:BTCUSDT", "quote_amount": 25.5, "id": "a1"}
        )

    assert response.status_code == 202, response.content
    body = response.json()["signal"]
    signal = Signal.objects.get(pk=body["id"])
    assert body["status"] == "accepted"  # the answer is the verdict on receipt; the task acts after the commit
    assert signal.bot == signal_bot and signal.source == "webhook" and signal.client_id == "a1"
    assert signal.payload["quote_amount"] == "25.5"  # exact, never a float
    # The task ran on receipt (eager in tests): the bot was checked again and its paper order filled.
    order = Order.objects.get(bot=signal_bot)
    assert (signal.status, signal.order, signal.reason) == ("executed", order, "")
    assert (order.side, order.type, order.status, order.reason, order.is_paper) == (
        "buy",
        "market",
        "filled",
        "signal",
        True,
    )
    assert order.filled_quantity * order.average_price <= Decimal("25.5")
    event = Event.objects.get(type="signal_received")
    assert (event.user_id, event.bot_id) == (signal_bot.owner_id, signal_bot.pk)
    assert event.payload["signal"]["id"] == signal.pk and event.payload["signal"]["status"] == "accepted"


def test_a_receipt_reads_the_webhook_and_its_bot_in_one_query_and_writes_two_rows(
    api_client, webhook_url, signal_bot, django_capture_on_commit_callbacks
):
    """The hot path of a flood: no lock on the bot (it would wait for the bot's tick) and no write
    to the user's usage row (every tick and fill of the user's bots writes it)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks, CaptureQueriesContext(connection) as sql:
        response = _post(api_client, webhook_url, {"action": "buy", "id": "q1"})

    assert response.status_code == 202, response.content
    statements = [query["sql"].split(" ")[0] for query in sql.captured_queries]
    writes = [query["sql"].split('"')[1] for query in sql.captured_queries if query["sql"].startswith("INSERT")]
    assert statements.count("SELECT") == 1 and "FOR UPDATE" not in sql.captured_queries[0]["sql"]
    assert writes == ["signals_signal", "realtime_event"]
    assert not [query for query in sql.captured_queries if "userusage" in query["sql"]]
    assert len(callbacks) == 2  # the task, and the relay's wake-up


def test_every_signal_event_is_counted_in_the_users_usage(
    api_client, webhook_url, signal_bot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for body in ({"action": "buy", "quote_amount": 100}, {"action": "close", "symbol": "ETHUSDT"}):
            _post(api_client, webhook_url, body)  # one accepted and executed, one refused on receipt

    usage = UserUsage.objects.get(user=signal_bot.owner)
    assert Event.objects.filter(type__startswith="signal_").count() == 3
    assert usage.events == Event.objects.filter(user=signal_bot.owner).count()


@pytest.mark.parametrize(
    ("change", "body", "reason"),
    [
        ({"status": Bot.Status.STOPPED}, {"action": "buy"}, "bot_not_running"),
        ({"status": Bot.Status.PAUSED, "force_paused": True}, {"action": "buy"}, "bot_locked"),
        ({"strategy": "sma_cross"}, {"action": "buy"}, "not_signal_bot"),
        ({}, {"action": "sell", "symbol": "ETHUSDT"}, "wrong_symbol"),
        ({}, {"action": "buy", "timestamp": int(time.time()) - 120}, "stale"),
        ({}, {"action": "buy", "timestamp": int(time.time()) - 20, "max_lag_seconds": 10}, "stale"),
        ({}, {"action": "buy", "timestamp": int(time.time()) + 3600}, "from_the_future"),
    ],
)
def test_a_signal_that_may_not_act_is_refused_with_its_reason_and_recorded(
    api_client, webhook_url, signal_bot, change, body, reason
):
    Bot.objects.filter(pk=signal_bot.pk).update(**change)

    response = _post(api_client, webhook_url, body)

    assert response.status_code == 202, response.content
    assert response.json()["signal"]["status"] == "rejected"
    assert response.json()["signal"]["reason"] == reason
    assert Signal.objects.get().reason == reason
    assert not Order.objects.exists()


def test_a_fresh_signal_within_its_lag_is_accepted(api_client, webhook_url):
    sent = (timezone.now() - timedelta(seconds=5)).isoformat()
    response = _post(api_client, webhook_url, {"action": "close", "timestamp": sent, "max_lag_seconds": 30})
    assert response.json()["signal"]["status"] == "accepted"


def test_a_live_bot_is_refused_while_the_fleet_is_halted(api_client, webhook_url, signal_bot):
    Bot.objects.filter(pk=signal_bot.pk).update(trading_mode="live")
    FleetHalt.objects.update_or_create(pk=FleetHalt.SINGLETON_ID, defaults={"halted": True})
    response = _post(api_client, webhook_url, {"action": "buy"})
    assert response.json()["signal"]["reason"] == "fleet_halted"


def test_a_duplicate_id_is_refused_and_recorded_once_more(api_client, webhook_url):
    first = _post(api_client, webhook_url, {"action": "buy", "id": "tv-42"})
    second = _post(api_client, webhook_url, {"action": "buy", "id": "tv-42"})

    assert first.json()["signal"]["status"] == "accepted"
    assert second.json()["signal"] == {**second.json()["signal"], "status": "rejected", "reason": "duplicate"}
    assert Signal.objects.count() == 2
    assert Signal.objects.filter(status="accepted").count() == 1


def test_the_same_id_on_another_bot_is_not_a_duplicate(api_client, owner_client, owner, webhook_url):
    other = BotFactory(owner=owner, strategy="signal", params={}, status=Bot.Status.RUNNING)
    url = owner_client.get(f"/api/bots/{other.pk}/webhook").json()["webhook"]["url"]
    _post(api_client, webhook_url, {"action": "buy", "id": "x"})
    response = _post(api_client, url[url.index("/api/") :], {"action": "buy", "id": "x"})
    assert response.json()["signal"]["status"] == "accepted"


def test_the_signal_is_checked_again_when_acted_on(
    api_client, webhook_url, signal_bot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(api_client, webhook_url, {"action": "buy"})
    Bot.objects.filter(pk=signal_bot.pk).update(status=Bot.Status.STOPPED)
    for callback in callbacks:
        callback()
    signal = Signal.objects.get(pk=response.json()["signal"]["id"])
    assert (signal.status, signal.reason) == ("rejected", "bot_not_running")
    event = Event.objects.get(type="signal_rejected")
    assert event.payload["signal"]["reason"] == "bot_not_running"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "action"),
        ({"action": "hold"}, "action"),
        ({"action": "buy", "quantity": 1, "percent": 10}, "percent"),
        ({"action": "buy", "quantity": -1}, "quantity"),
        ({"action": "buy", "percent": 101}, "percent"),
        ({"action": "buy", "price": "NaN"}, "price"),
        ({"action": "close", "price": 10}, "price"),
        ({"action": "buy", "timestamp": "yesterday"}, "timestamp"),
        ({"action": "buy", "timestamp": 10**20}, "timestamp"),
        ({"action": "buy", "max_lag_seconds": 0}, "max_lag_seconds"),
        ({"action": "buy", "id": "x" * 65}, "id"),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_field_and_records_nothing(api_client, webhook_url, body, field):
    error = _error(_post(api_client, webhook_url, body), 400)
    assert field in json.dumps(error)
    assert not Signal.objects.exists()


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"buy"', b"null"])
def test_a_body_that_is_not_an_object_is_a_400(api_client, webhook_url, raw):
    response = api_client.post(webhook_url, data=raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not Signal.objects.exists()


def test_an_unknown_or_malformed_token_is_a_bare_404(api_client, webhook_url):
    forged = webhook_url[:-1] + ("0" if webhook_url[-1] != "0" else "1")
    for url in (forged, "/api/signals/" + "a" * 64, "/api/signals/short"):
        error = _error(_post(api_client, url, {"action": "buy"}), 404)
        assert "token" not in error["message"].lower()
    assert not Signal.objects.exists()


def test_a_deleted_bots_webhook_is_gone(api_client, webhook_url, signal_bot):
    Bot.objects.filter(pk=signal_bot.pk).update(deleted_at=timezone.now())
    _error(_post(api_client, webhook_url, {"action": "buy"}), 404)


def _signed(secret: str, body: bytes, timestamp: int | None = None) -> dict:
    timestamp = str(timestamp or int(time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_BOTFLEET_TIMESTAMP": timestamp, "HTTP_X_BOTFLEET_SIGNATURE": f"v1={digest}"}


def test_a_signature_when_sent_must_be_right_fresh_and_new(api_client, owner_client, signal_bot, webhook_url):
    secret = owner_client.get(f"/api/bots/{signal_bot.pk}/webhook").json()["webhook"]["signing_secret"]
    body = json.dumps({"action": "buy"}).encode()
    headers = _signed(secret, body)

    ok = api_client.post(webhook_url, data=body, content_type="application/json", **headers)
    replay = api_client.post(webhook_url, data=body, content_type="application/json", **headers)
    wrong = api_client.post(webhook_url, data=body, content_type="application/json", **_signed("nope", body))
    old = api_client.post(
        webhook_url, data=body, content_type="application/json", **_signed(secret, body, int(time.time()) - 3600)
    )
    half = api_client.post(webhook_url, data=body, content_type="application/json", HTTP_X_BOTFLEET_SIGNATURE="v1=00")

    assert ok.status_code == 202
    assert _error(replay, 401)["code"] == "REPLAYED"
    assert _error(wrong, 401)["code"] == "BAD_SIGNATURE"
    assert _error(old, 401)["code"] == "SIGNATURE_EXPIRED"
    _error(half, 401)
    assert Signal.objects.count() == 1


def test_a_flood_on_one_webhook_is_answered_429(api_client, webhook_url, monkeypatch):
    from signals.views import WebhookThrottle

    monkeypatch.setattr(WebhookThrottle, "THROTTLE_RATES", {"signal_webhook": "3/min"})
    answers = [_post(api_client, webhook_url, {"action": "buy"}).status_code for _ in range(5)]

    assert answers[:3] == [202, 202, 202]
    assert answers[3:] == [429, 429]
    assert Signal.objects.count() == 3


@pytest.mark.skipif(USING_REDIS, reason="the embedded default's counters: the web process's memory, not Redis")
def test_a_flood_is_answered_429_while_the_embedded_cache_is_busy(api_client, webhook_url, monkeypatch, settings):
    """The shared SQLite cache refusing under load ("database is locked") used to open the throttle."""
    from django.core.cache import caches
    from django.db import OperationalError

    from signals.views import WebhookThrottle

    def busy(*args, **kwargs):
        raise OperationalError("database is locked")

    assert settings.THROTTLE_CACHE != "default"
    for name in ("get", "add", "set", "incr", "delete", "touch", "get_many", "set_many"):
        monkeypatch.setattr(caches["default"], name, busy)
    monkeypatch.setattr(WebhookThrottle, "THROTTLE_RATES", {"signal_webhook": "3/min"})

    answers = [_post(api_client, webhook_url, {"action": "buy"}).status_code for _ in range(5)]

    assert answers == [202, 202, 202, 429, 429]
    assert Signal.objects.count() == 3


def test_a_receipt_that_meets_a_write_lock_held_too_long_is_a_429_to_retry(api_client, webhook_url, monkeypatch):
    """Overload on the embedded default (SQLite's write lock still taken past its busy timeout)
    is excess like any other: a 429 with Retry-After, nothing recorded, never a 5xx."""
    from django.db import OperationalError

    from signals import services

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "_record", locked)

    response = _post(api_client, webhook_url, {"action": "buy", "id": "busy-1"})

    body = assert_error(response, 429, "SERVER_BUSY")
    assert "nothing was done" in body["message"]
    assert response["Retry-After"] == "5"
    assert not Signal.objects.exists()


# ---------------------------------------------------------------------------
# webhook URL and rotation
# ---------------------------------------------------------------------------
def test_the_webhook_url_is_stable_until_rotated_and_the_old_one_then_dies(api_client, owner_client, signal_bot):
    path = f"/api/bots/{signal_bot.pk}/webhook"
    first = owner_client.get(path).json()["webhook"]
    assert owner_client.get(path).json()["webhook"]["url"] == first["url"]
    assert first["url"].startswith("http://testserver/api/signals/")

    rotated = owner_client.post(path + "/rotate")

    assert rotated.status_code == 200
    new = rotated.json()["webhook"]
    assert new["url"] != first["url"] and new["signing_secret"] != first["signing_secret"]
    assert new["rotated_at"]
    old_path = first["url"][first["url"].index("/api/") :]
    _error(_post(api_client, old_path, {"action": "buy"}), 404)
    new_path = new["url"][new["url"].index("/api/") :]
    assert _post(api_client, new_path, {"action": "buy"}).status_code == 202


def test_the_token_is_not_stored(owner_client, signal_bot):
    url = owner_client.get(f"/api/bots/{signal_bot.pk}/webhook").json()["webhook"]["url"]
    token = url.rsplit("/", 1)[1]
    from signals.models import Webhook

    row = Webhook.objects.values().get(bot=signal_bot)
    assert all(token not in str(value) for value in row.values())


def test_only_a_signal_bot_has_a_webhook(owner_client, owner):
    bot = BotFactory(owner=owner)
    assert _error(owner_client.get(f"/api/bots/{bot.pk}/webhook"), 409)["code"] == "NOT_A_SIGNAL_BOT"
    assert _error(owner_client.post(f"/api/bots/{bot.pk}/webhook/rotate"), 409)["code"] == "NOT_A_SIGNAL_BOT"


def test_webhook_endpoints_need_a_login(api_client, signal_bot):
    _error(api_client.get(f"/api/bots/{signal_bot.pk}/webhook"), 401)
    _error(api_client.post(f"/api/bots/{signal_bot.pk}/webhook/rotate"), 401)


# ---------------------------------------------------------------------------
# parse and import
# ---------------------------------------------------------------------------
def test_parse_answers_the_signal_with_exact_numbers(owner_client):
    response = owner_client.post(
        "/api/signals/parse", {"text": "BUY XAUUSD at 1950.00 TP: 1965.00 TP2 1980.5 SL: 1940.00"}, format="json"
    )
    assert response.status_code == 200, response.content
    signal = response.json()["signal"]
    assert signal["symbol"] == "XAU/USD" and signal["action"] == "buy"
    assert b'"entry_price":1950.00' in response.content.replace(b" ", b"")
    assert [Decimal(str(tp)) for tp in signal["take_profit"]] == [Decimal("1965.00"), Decimal("1980.5")]
    assert signal["confidence"] == 1


def test_parse_refuses_a_text_that_is_not_a_signal_saying_why(owner_client):
    error = _error(owner_client.post("/api/signals/parse", {"text": "Good morning traders"}, format="json"), 400)
    assert error["code"] == "NOT_A_SIGNAL"
    assert "symbol" in error["message"]
    _error(owner_client.post("/api/signals/parse", {}, format="json"), 400)
    _error(owner_client.post("/api/signals/parse", {"text": "x" * 5001}, format="json"), 400)


def test_import_parses_then_records_for_the_users_bot(owner_client, owner):
    bot = BotFactory(owner=owner, strategy="signal", params={}, status=Bot.Status.RUNNING, symbol="XAU/USD")
    response = owner_client.post(
        "/api/signals/import", {"bot_id": bot.pk, "text": "buy gold @ 1950 tp 1965 sl 1940"}, format="json"
    )
    assert response.status_code == 202, response.content
    signal = Signal.objects.get()
    assert (signal.source, signal.status, signal.action, signal.symbol) == ("import", "accepted", "buy", "XAU/USD")
    assert signal.payload["parsed"]["stop_loss"] == "1940"
    assert response.json()["parsed"]["take_profit"] == [1965]


def test_import_for_the_wrong_symbol_is_recorded_as_refused(owner_client, signal_bot):
    response = owner_client.post(
        "/api/signals/import", {"bot_id": signal_bot.pk, "text": "SELL EURUSD 1.09 TP 1.08 SL 1.10"}, format="json"
    )
    assert response.json()["signal"]["reason"] == "wrong_symbol"


def test_import_of_a_non_signal_records_nothing(owner_client, signal_bot):
    error = _error(
        owner_client.post("/api/signals/import", {"bot_id": signal_bot.pk, "text": "hello"}, format="json"), 400
    )
    assert error["code"] == "NOT_A_SIGNAL"
    assert not Signal.objects.exists()


# ---------------------------------------------------------------------------
# providers
# ---------------------------------------------------------------------------
def test_providers_are_created_listed_updated_and_deleted(owner_client, signal_bot):
    created = owner_client.post(
        "/api/signals/providers", {"name": "TV script", "bot_ids": [signal_bot.pk]}, format="json"
    )
    assert created.status_code == 201, created.content
    provider = created.json()["provider"]
    assert provider["bot_ids"] == [signal_bot.pk]

    listing = owner_client.get("/api/signals/providers").json()
    assert listing["total"] == 1 and listing["providers"][0]["name"] == "TV script"

    updated = owner_client.put(
        f"/api/signals/providers/{provider['id']}", {"name": "Renamed", "bot_ids": []}, format="json"
    )
    assert updated.status_code == 200, updated.content
    assert updated.json()["provider"] == {**updated.json()["provider"], "name": "Renamed", "bot_ids": []}

    assert owner_client.delete(f"/api/signals/providers/{provider['id']}").status_code == 200
    assert not Provider.objects.exists()


def test_a_signal_carries_its_bots_provider(api_client, owner_client, signal_bot, webhook_url):
    provider_id = owner_client.post(
        "/api/signals/providers", {"name": "P", "bot_ids": [signal_bot.pk]}, format="json"
    ).json()["provider"]["id"]
    _post(api_client, webhook_url, {"action": "buy"})
    assert Signal.objects.get().provider_id == provider_id


def test_provider_names_are_unique_per_user_and_bots_must_be_signal_bots(owner_client, other_client, owner):
    owner_client.post("/api/signals/providers", {"name": "P"}, format="json")
    assert _error(owner_client.post("/api/signals/providers", {"name": "P"}, format="json"), 409)["code"] == (
        "PROVIDER_EXISTS"
    )
    assert other_client.post("/api/signals/providers", {"name": "P"}, format="json").status_code == 201
    plain = BotFactory(owner=owner)
    error = _error(
        owner_client.post("/api/signals/providers", {"name": "Q", "bot_ids": [plain.pk]}, format="json"), 400
    )
    assert error["code"] == "NOT_A_SIGNAL_BOT"
    assert not Provider.objects.filter(name="Q").exists()  # one transaction: nothing half-written
    _error(owner_client.post("/api/signals/providers", {"name": ""}, format="json"), 400)


# ---------------------------------------------------------------------------
# history
# ---------------------------------------------------------------------------
def test_history_filters_and_paginates_in_a_fixed_number_of_queries(
    api_client, owner_client, owner, signal_bot, webhook_url, django_assert_max_num_queries
):
    for n in range(6):
        _post(api_client, webhook_url, {"action": "buy", "id": f"s{n}"})
    Bot.objects.filter(pk=signal_bot.pk).update(status=Bot.Status.STOPPED)
    _post(api_client, webhook_url, {"action": "sell"})

    with django_assert_max_num_queries(4):  # the session's user, the count, the page
        page = owner_client.get("/api/signals/history?page_size=5").json()
    assert page["total"] == 7 and len(page["signals"]) == 5 and page["next"]
    rejected = owner_client.get("/api/signals/history", {"status": "rejected"}).json()
    assert [row["reason"] for row in rejected["signals"]] == ["bot_not_running"]
    assert owner_client.get("/api/signals/history", {"bot_id": signal_bot.pk}).json()["total"] == 7
    assert owner_client.get("/api/signals/history", {"provider_id": 999}).json()["total"] == 0
    _error(owner_client.get("/api/signals/history", {"status": "maybe"}), 400)
    _error(owner_client.get("/api/signals/history", {"bot_id": "x"}), 400)


# ---------------------------------------------------------------------------
# isolation
# ---------------------------------------------------------------------------
def test_another_users_providers_history_and_webhook_are_invisible(
    api_client, owner_client, other_client, signal_bot, webhook_url
):
    provider_id = owner_client.post(
        "/api/signals/providers", {"name": "Mine", "bot_ids": [signal_bot.pk]}, format="json"
    ).json()["provider"]["id"]
    _post(api_client, webhook_url, {"action": "buy"})

    assert other_client.get("/api/signals/providers").json()["total"] == 0
    assert other_client.get("/api/signals/history").json()["total"] == 0
    assert other_client.get("/api/signals/history", {"bot_id": signal_bot.pk}).json()["total"] == 0
    _error(other_client.put(f"/api/signals/providers/{provider_id}", {"name": "Theirs"}, format="json"), 404)
    _error(other_client.delete(f"/api/signals/providers/{provider_id}"), 404)
    _error(other_client.get(f"/api/bots/{signal_bot.pk}/webhook"), 404)
    _error(other_client.post(f"/api/bots/{signal_bot.pk}/webhook/rotate"), 404)
    _error(
        other_client.post("/api/signals/import", {"bot_id": signal_bot.pk, "text": "BUY BTCUSDT NOW"}, format="json"),
        404,
    )
    error = _error(
        other_client.post("/api/signals/providers", {"name": "Steal", "bot_ids": [signal_bot.pk]}, format="json"), 404
    )
    assert error["code"] == "NOT_FOUND"
    assert Provider.objects.get(pk=provider_id).name == "Mine"
    assert Signal.objects.filter(source="import").count() == 0


def test_the_provider_list_costs_the_same_queries_for_many_providers(
    owner_client, owner, django_assert_max_num_queries
):
    for n in range(8):
        bot = BotFactory(owner=owner, strategy="signal", params={})
        owner_client.post("/api/signals/providers", {"name": f"P{n}", "bot_ids": [bot.pk]}, format="json")

    with django_assert_max_num_queries(5):  # the session's user, the count, the page, the bots
        listing = owner_client.get("/api/signals/providers").json()
    assert listing["total"] == 8
    assert all(len(row["bot_ids"]) == 1 for row in listing["providers"])
