"""End to end through the engine: a quarantined bot never places a real order; promotion switches it.

The outside world is the local fake exchange (HTTP); nothing in between is mocked, except
that the live adapter is made to fail loudly should a quarantined bot ever reach it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bots.engine import tick
from bots.engine.adapters import live
from bots.models import Bot, Order, Position, Trade
from credentials.services import credential_save
from tests.fakes.exchange import BINANCE_KEY, BINANCE_SECRET

pytestmark = pytest.mark.django_db


def posted_orders(fake) -> int:
    return sum(1 for method, path in fake.requests if method == "POST" and path == "/api/v3/order")


@pytest.fixture
def engine_settings(settings):
    settings.ENABLE_TRADING = True  # real money allowed on this server: only the quarantine holds the bot back
    settings.LIVE_MIN_TRAINING_HOURS = 0.05  # three minutes
    settings.ENGINE_MAX_DAILY_TRADES = 0
    settings.ENGINE_TRADE_COOLDOWN_SECONDS = 0
    return settings


def test_a_quarantined_bot_trades_only_on_paper_until_promoted(
    owner,
    owner_client,
    fake_exchange,
    engine_settings,
    clock,
    monkeypatch,
):
    credential_save(
        user=owner,
        provider="binance",
        purpose="live",
        label="default",
        secrets={"api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET},
    )
    created = owner_client.post(
        "/api/bots",
        {
            "name": "Trainee",
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "strategy": "dca",
            "params": {"order_pct": 0.1, "every_ticks": 1, "max_orders": 100, "take_profit_pct": 5},
            "trading_mode": "live",
            "capital": 1000,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    bot_id = created.json()["bot"]["id"]
    started = owner_client.post(f"/api/bots/{bot_id}/start")
    assert "in the training bay (paper fills until promotion)" in started.json()["message"]

    real_place = live.place

    def forbidden(*args, **kwargs):
        raise AssertionError("a quarantined bot reached the live adapter")

    monkeypatch.setattr(live, "place", forbidden)
    for minute in range(3):  # 0, 1 and 2 minutes into the three-minute quarantine
        if minute:
            clock.advance(seconds=60)
        report = tick.tick_batch()
        assert (report.orders, report.errors) == (1, 0)
    assert posted_orders(fake_exchange) == 0
    assert set(Order.objects.filter(bot_id=bot_id).values_list("is_paper", flat=True)) == {True}
    assert Position.objects.get(bot_id=bot_id).quantity > 0
    assert owner_client.post(f"/api/training/{bot_id}/promote").status_code == 409  # two minutes in

    clock.advance(seconds=60)
    promoted = owner_client.post(f"/api/training/{bot_id}/promote")
    assert promoted.status_code == 200, promoted.content
    assert posted_orders(fake_exchange) == 0  # the paper position was closed in the books, not on the venue
    assert Position.objects.get(bot_id=bot_id).quantity == 0
    assert not Trade.objects.filter(bot_id=bot_id, is_paper=False).exists()

    # Promoted: the next tick's order goes to the venue.
    monkeypatch.setattr(live, "place", real_place)
    Bot.objects.filter(pk=bot_id).update(next_tick_at=clock.now - timedelta(seconds=1))
    report = tick.tick_batch()
    assert (report.orders, report.errors) == (1, 0)
    real = Order.objects.get(bot_id=bot_id, is_paper=False)
    assert posted_orders(fake_exchange) == 1
    assert list(fake_exchange.orders) == [real.client_order_id]
