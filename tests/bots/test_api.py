"""bots CRUD, PATCH/DELETE rules, validation, catalogues, isolation of every endpoint."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import AuditEntry
from bots.models import Bot, Trade
from credentials.models import Credential
from realtime.models import Event
from tests.bots.factories import BotFactory, fill

pytestmark = pytest.mark.django_db

VALID = {"name": "Bot-1", "exchange": "simulated", "symbol": "BTC/USDT", "strategy": "sma_cross", "capital": 1000}


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    return body["error"]


# ---------------------------------------------------------------------------
# Create
# ---------------------------------------------------------------------------
def test_create_paper_bot(owner_client, owner):
    response = owner_client.post("/api/bots", {**VALID, "symbol": "btc/usdt", "params": {"fast": 5}}, format="json")

    assert response.status_code == 201
    bot = response.json()["bot"]
    assert bot["symbol"] == "BTC/USDT" and bot["symbol_verified"] is True
    assert bot["params"] == {"fast": 5, "slow": 30}
    assert bot["status"] == "stopped" and bot["trading_mode"] == "paper" and bot["in_training"] is False
    assert bot["capital"] == 1000 and bot["quote_currency"] == "USDT" and bot["timeframe"] == "1m"
    assert bot["interval_seconds"] == 60
    assert Event.objects.get(type="bot_created").payload["bot"]["id"] == bot["id"]
    assert AuditEntry.objects.get(action="bot.create").actor == owner


def test_create_accepts_form_data_and_aliases(owner_client):
    response = owner_client.post(
        "/api/bots",
        {
            "name": "F",
            "platform": "simulated",
            "symbol": "ETH/BTC",
            "strategy": "rsi",
            "capital": "0.5",
            "params": '{"period": 7}',
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    bot = response.json()["bot"]
    assert (bot["exchange"], bot["quote_currency"], bot["params"]["period"]) == ("simulated", "BTC", 7)


def test_create_live_on_simulated_enters_training(owner_client):
    response = owner_client.post("/api/bots", {**VALID, "trading_mode": "live"}, format="json")
    assert response.status_code == 201
    bot = response.json()["bot"]
    assert bot["in_training"] is True and bot["training_started_at"] is not None
    assert bot["training_hours_remaining"] == 24.0
    assert Event.objects.filter(type="training_started", bot_id=bot["id"]).count() == 1


def test_create_live_on_real_venue_needs_live_key_set(owner_client, owner):
    response = owner_client.post("/api/bots", {**VALID, "exchange": "binance", "trading_mode": "live"}, format="json")
    error = _error(response, 400)
    assert "trading_mode" in error["details"]
    assert "live key set for binance" in error["message"]
    assert not Bot.objects.exists()

    Credential.objects.create(owner=owner, provider="binance", purpose="backtest", api_key="k")
    assert (
        owner_client.post(
            "/api/bots", {**VALID, "exchange": "binance", "trading_mode": "live"}, format="json"
        ).status_code
        == 400
    )
    credential = Credential.objects.create(owner=owner, provider="binance", purpose="live", api_key="k")
    response = owner_client.post("/api/bots", {**VALID, "exchange": "binance", "trading_mode": "live"}, format="json")
    assert response.status_code == 201
    assert response.json()["bot"]["credential_id"] == credential.pk
    assert response.json()["bot"]["symbol_verified"] is False  # binance markets not cached here


def test_create_with_someone_elses_credential_is_refused(owner_client, other_user):
    theirs = Credential.objects.create(owner=other_user, provider="binance", purpose="live", api_key="k")
    response = owner_client.post(
        "/api/bots", {**VALID, "exchange": "binance", "trading_mode": "live", "credential_id": theirs.pk}, format="json"
    )
    assert "credential_id" in _error(response, 400)["details"]


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"params": {"fast": 30, "slow": 10}}, "params", "fast must be less than slow"),
        ({"params": {"fats": 3}}, "params", "fats"),
        ({"params": {"fast": "ten"}}, "params", "fast"),
        ({"strategy": "grid", "params": {"lower": 10, "upper": 5}}, "params", "lower must be less than upper"),
        ({"strategy": "grid", "params": {}}, "params", "lower"),
        ({"strategy": "rsi", "params": {"oversold": 80}}, "params", "oversold must be less than overbought"),
        ({"strategy": "dca", "params": {"order_pct": 2}}, "params", "order_pct"),
        ({"strategy": "martingale"}, "strategy", "martingale"),
        ({"exchange": "nowhere"}, "exchange", "unknown exchange"),
        ({"symbol": "BTCUSDT"}, "symbol", "BASE/QUOTE"),
        ({"symbol": "DOGE/USDT"}, "symbol", "not listed on simulated"),
        ({"capital": -5}, "capital", ""),
        ({"capital": 0}, "capital", ""),
        ({"interval_seconds": 0}, "interval_seconds", ""),
        ({"timeframe": "7m"}, "timeframe", ""),
        ({"trading_mode": "yolo"}, "trading_mode", ""),
        ({"name": ""}, "name", ""),
    ],
)
def test_create_validation_names_the_field(owner_client, change, field, fragment):
    response = owner_client.post("/api/bots", {**VALID, **change}, format="json")
    error = _error(response, 400)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error
    assert fragment in error["message"] or fragment in str(error["details"])
    assert not Bot.objects.exists() and not Event.objects.exists()


def test_unknown_fields_are_ignored(owner_client):
    assert owner_client.post("/api/bots", {**VALID, "colour": "red"}, format="json").status_code == 201


def test_angelone_symbol_form(owner_client, owner):
    Credential.objects.create(owner=owner, provider="angelone", purpose="live", api_key="k")
    response = owner_client.post("/api/bots", {**VALID, "exchange": "angelone", "symbol": "nse:sbin-eq"}, format="json")
    assert response.status_code == 201
    assert (response.json()["bot"]["symbol"], response.json()["bot"]["quote_currency"]) == ("NSE:SBIN-EQ", "INR")


# ---------------------------------------------------------------------------
# List and detail
# ---------------------------------------------------------------------------
def test_list_is_paginated_and_scoped(owner_client, owner, other_bot):
    bots = [BotFactory(owner=owner) for _ in range(3)]
    body = owner_client.get("/api/bots?page_size=2").json()
    assert body["success"] is True and body["total"] == 3
    assert [b["id"] for b in body["bots"]] == [bots[2].pk, bots[1].pk]
    assert body["next"] is not None and body["previous"] is None
    assert other_bot.pk not in [b["id"] for b in owner_client.get("/api/bots").json()["bots"]]


def test_list_filters(owner_client, owner):
    running = BotFactory(owner=owner, status="running")
    BotFactory(owner=owner, exchange="replay", symbol="ETH/BTC")
    assert [b["id"] for b in owner_client.get("/api/bots?status=running").json()["bots"]] == [running.pk]
    assert owner_client.get("/api/bots?exchange=replay").json()["total"] == 1


# ---------------------------------------------------------------------------
# PATCH rules
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["running", "paused", "error"])
def test_patch_runtime_fields_while_not_stopped(owner_client, owner, status):
    bot = BotFactory(owner=owner, status=status)
    response = owner_client.patch(
        f"/api/bots/{bot.pk}", {"name": "Renamed", "params": {"fast": 5}, "interval_seconds": 30}, format="json"
    )
    assert response.status_code == 200
    bot.refresh_from_db()
    assert (bot.name, bot.params, bot.interval_seconds) == ("Renamed", {"fast": 5, "slow": 30}, 30)
    assert Event.objects.get(type="bot_updated").payload["changed"] == ["interval_seconds", "name", "params"]


@pytest.mark.parametrize(
    "change",
    [{"exchange": "replay", "symbol": "ETH/BTC"}, {"symbol": "ETH/USDT"}, {"trading_mode": "live"}, {"capital": 5}],
)
def test_patch_venue_symbol_mode_only_while_stopped(owner_client, owner, change):
    bot = BotFactory(owner=owner, status="running")
    error = _error(owner_client.patch(f"/api/bots/{bot.pk}", change, format="json"), 409)
    assert error["code"] == "BOT_NOT_STOPPED"
    assert set(change) <= set(error["details"]["fields"])
    bot.refresh_from_db()
    assert (bot.exchange, bot.symbol, bot.trading_mode, bot.capital) == (
        "simulated",
        "BTC/USDT",
        "paper",
        Decimal(1000),
    )
    assert not Event.objects.exists()


def test_patch_same_values_while_running_is_allowed(owner_client, owner):
    bot = BotFactory(owner=owner, status="running")
    response = owner_client.patch(f"/api/bots/{bot.pk}", {"exchange": "simulated", "symbol": "BTC/USDT"}, format="json")
    assert response.status_code == 200


def test_patch_while_stopped_switches_venue_and_mode(owner_client, owner):
    bot = BotFactory(owner=owner)
    response = owner_client.patch(
        f"/api/bots/{bot.pk}",
        {"exchange": "replay", "symbol": "XRP/USDT", "timeframe": "5m", "trading_mode": "live"},
        format="json",
    )
    assert response.status_code == 200
    bot.refresh_from_db()
    assert (bot.exchange, bot.symbol, bot.in_training) == ("replay", "XRP/USDT", True)
    assert Event.objects.filter(type="training_started").count() == 1
    # back to paper leaves the bay; live again restarts the countdown
    owner_client.patch(f"/api/bots/{bot.pk}", {"trading_mode": "paper"}, format="json")
    bot.refresh_from_db()
    assert (bot.in_training, bot.training_started_at) == (False, None)


def test_patch_bad_params(owner_client, owner):
    bot = BotFactory(owner=owner)
    assert (
        "params"
        in _error(owner_client.patch(f"/api/bots/{bot.pk}", {"params": {"slow": 5}}, format="json"), 400)["details"]
    )


# ---------------------------------------------------------------------------
# DELETE rules
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["running", "paused", "error"])
def test_delete_needs_a_stopped_bot(owner_client, owner, status):
    bot = BotFactory(owner=owner, status=status)
    assert _error(owner_client.delete(f"/api/bots/{bot.pk}"), 409)["code"] == "BOT_NOT_STOPPED"
    assert Bot.objects.get(pk=bot.pk).deleted_at is None


def test_delete_keeps_history_and_hides_the_bot(owner_client, owner):
    bot = BotFactory(owner=owner)
    fill(bot, "buy", 1, 100)
    assert owner_client.delete(f"/api/bots/{bot.pk}").status_code == 200
    assert owner_client.get(f"/api/bots/{bot.pk}").status_code == 404
    assert owner_client.get("/api/bots").json()["total"] == 0
    assert owner_client.post(f"/api/bots/{bot.pk}/start").status_code == 404
    assert Trade.objects.filter(bot=bot).count() == 1
    assert owner_client.get("/api/trades").json()["total"] == 1  # the history stays
    assert Event.objects.filter(type="bot_deleted", bot_id=bot.pk).count() == 1


# ---------------------------------------------------------------------------
# Isolation: another user's bot is a 404 on every endpoint, and nothing changes
# ---------------------------------------------------------------------------
BOT_ENDPOINTS = [
    ("get", ""),
    ("patch", ""),
    ("delete", ""),
    ("post", "/start"),
    ("post", "/stop"),
    ("post", "/pause"),
    ("post", "/resume"),
    ("get", "/orders"),
    ("get", "/positions"),
    ("get", "/trades"),
    ("get", "/equity"),
    ("get", "/candles"),
    ("get", "/events"),
    ("get", "/performance"),
]


@pytest.mark.parametrize(("method", "suffix"), BOT_ENDPOINTS)
def test_other_users_bot_is_404(owner_client, other_user, method, suffix):
    theirs = BotFactory(owner=other_user, status="running", name="Theirs")
    fill(theirs, "buy", 1, 100)
    events = Event.objects.count()

    response = getattr(owner_client, method)(f"/api/bots/{theirs.pk}{suffix}", {"name": "mine now"}, format="json")

    assert _error(response, 404)["code"] == "NOT_FOUND"
    assert "Theirs" not in response.content.decode() and str(theirs.name) not in response.content.decode()
    theirs.refresh_from_db()
    assert (theirs.name, theirs.deleted_at) == ("Theirs", None)
    assert theirs.status == "running" and Event.objects.count() == events


@pytest.mark.parametrize(("method", "suffix"), BOT_ENDPOINTS)
def test_missing_bot_is_404_too(owner_client, method, suffix):
    assert getattr(owner_client, method)(f"/api/bots/999999{suffix}").status_code == 404


def test_all_trades_and_platforms_and_summary_never_show_other_users(owner_client, other_user):
    theirs = BotFactory(owner=other_user, exchange="replay", symbol="ETH/BTC")
    fill(theirs, "buy", 1, "0.05")
    fill(theirs, "sell", 1, "0.06")
    assert owner_client.get("/api/trades").json()["total"] == 0
    assert _error(owner_client.get(f"/api/trades?bot_id={theirs.pk}"), 404)
    assert owner_client.get("/api/platforms/summary").json()["platforms"] == []
    assert owner_client.get("/api/platforms/replay/bots").json()["bots"] == []
    summary = owner_client.get("/api/analytics/summary").json()
    assert (summary["total_bots"], summary["total_trades"], summary["total_pnl"]) == (0, 0, 0)


@pytest.mark.parametrize(
    "path", ["bots", "bots/1", "trades", "analytics/summary", "platforms/summary", "platforms/simulated/bots"]
)
def test_anonymous_is_401(api_client, path):
    assert api_client.get(f"/api/{path}").status_code == 401


# ---------------------------------------------------------------------------
# Catalogues
# ---------------------------------------------------------------------------
def test_strategies_catalogue(api_client):
    body = api_client.get("/api/strategies").json()
    ids = {s["id"]: s for s in body["strategies"]}
    assert set(ids) == {"sma_cross", "rsi", "grid", "dca", "signal"}
    assert ids["signal"]["defaults"] == {} and ids["signal"]["external"] is True
    assert not ids["sma_cross"]["external"]
    assert ids["sma_cross"]["defaults"] == {"fast": 10, "slow": 30}
    assert ids["rsi"]["defaults"] == {"period": 14, "oversold": 30, "overbought": 70}
    assert ids["grid"]["defaults"] == {"levels": 10}
    assert ids["grid"]["params_schema"]["required"] == ["lower", "upper"]
    assert ids["dca"]["defaults"] == {"order_pct": 0.1, "every_ticks": 1, "max_orders": 10, "take_profit_pct": 0.02}


def test_exchanges_catalogue(api_client):
    ids = {e["id"]: e for e in api_client.get("/api/exchanges").json()["exchanges"]}
    assert {"simulated", "replay", "angelone", "binance", "kraken"} <= set(ids)
    assert ids["simulated"]["needs_keys_for_live"] is False and ids["binance"]["needs_keys_for_live"] is True


def test_symbols(api_client):
    body = api_client.get("/api/exchanges/simulated/symbols").json()
    assert body["verified"] is True
    assert body["symbols"] == ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ETH/BTC", "LTC/BTC"]
    assert set(api_client.get("/api/exchanges/replay/symbols").json()["symbols"]) >= {"ETH/BTC", "XRP/USDT"}
    unknown = api_client.get("/api/exchanges/kraken/symbols").json()
    assert (unknown["symbols"], unknown["verified"]) == ([], False)
    assert api_client.get("/api/exchanges/nowhere/symbols").status_code == 404


def test_ccxt_symbols_from_cached_markets(owner_client):
    from bots.engine import market

    market.venue_markets_store("kraken", ["BTC/USD", "ETH/USD"])
    assert owner_client.get("/api/exchanges/kraken/symbols").json()["verified"] is True
    response = owner_client.post("/api/bots", {**VALID, "exchange": "kraken", "symbol": "DOGE/USD"}, format="json")
    assert "not listed on kraken" in _error(response, 400)["message"]
    response = owner_client.post("/api/bots", {**VALID, "exchange": "kraken", "symbol": "ETH/USD"}, format="json")
    assert response.json()["bot"]["symbol_verified"] is True


# ---------------------------------------------------------------------------
# Reads: orders, positions, trades, equity, candles, events
# ---------------------------------------------------------------------------
def test_trades_filters(owner_client, owner):
    from datetime import UTC, datetime

    a = BotFactory(owner=owner)
    b = BotFactory(owner=owner, symbol="ETH/USDT")
    fill(a, "buy", 1, 100, at=datetime(2026, 1, 1, tzinfo=UTC))
    fill(a, "sell", 1, 110, at=datetime(2026, 1, 2, tzinfo=UTC))
    fill(b, "buy", 2, 50, at=datetime(2026, 1, 3, tzinfo=UTC))
    get = lambda q: owner_client.get(f"/api/trades?{q}").json()  # noqa: E731
    assert get("")["total"] == 3
    assert get(f"bot_id={a.pk}")["total"] == 2
    assert get("symbol=eth/usdt")["total"] == 1
    assert get("side=sell")["trades"][0]["realized_pnl"] == 10
    assert get("since=2026-01-02T00:00:00Z")["total"] == 2
    assert get("until=2026-01-02T00:00:00Z")["total"] == 1
    assert owner_client.get(f"/api/bots/{a.pk}/trades?side=buy").json()["total"] == 1
    assert owner_client.get("/api/trades?since=yesterday").status_code == 400


def test_orders_positions_equity_candles_events(owner_client, owner):
    bot = BotFactory(owner=owner)
    fill(bot, "buy", 2, 100, fee="0.2", with_order=True)
    orders = owner_client.get(f"/api/bots/{bot.pk}/orders").json()
    assert orders["total"] == 1 and orders["orders"][0]["status"] == "filled"
    assert orders["orders"][0]["average_price"] == 100
    positions = owner_client.get(f"/api/bots/{bot.pk}/positions").json()["positions"]
    assert positions[0]["quantity"] == 2 and positions[0]["average_cost"] == 100.1
    assert positions[0]["market_price"] is not None
    equity = owner_client.get(f"/api/bots/{bot.pk}/equity").json()["points"]
    assert equity[0]["equity"] == 1000
    candles = owner_client.get(f"/api/bots/{bot.pk}/candles?limit=5&timeframe=5m").json()
    assert len(candles["candles"]) == 5 and candles["timeframe"] == "5m"
    assert all(c["low"] <= c["open"] <= c["high"] for c in candles["candles"])
    events = owner_client.get(f"/api/bots/{bot.pk}/events").json()
    assert [e["type"] for e in events["events"]] == ["trade_executed"]


def test_stop_with_close_positions_closes_paper_position_in_books(owner_client, owner):
    bot = BotFactory(owner=owner, status="running")
    fill(bot, "buy", 1, 100)
    response = owner_client.post(f"/api/bots/{bot.pk}/stop", {"close_positions": True}, format="json")
    assert response.status_code == 200
    assert "closed 1 position" in response.json()["message"]
    bot.refresh_from_db()
    assert bot.positions.get().quantity == 0
    assert bot.total_trades == 2
    assert Trade.objects.filter(bot=bot, side="sell").get().order.reason == "close_on_stop"
