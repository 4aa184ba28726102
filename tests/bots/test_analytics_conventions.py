"""One definition of each number (bots.equity), on hand-computed books, through the API.

Real-venue bots mark past days at the last fill price and the last point at the last
price the engine saw, so their curves can be computed by hand; simulated and replay
bots are marked at the market (tests/bots/test_analytics.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import empyrical
import numpy as np
import pytest
from django.utils import timezone

from bots.engine import market, tick
from bots.models import Bot
from tests.bots.factories import BotFactory, fill
from training.selectors import training_metrics

pytestmark = pytest.mark.django_db


def _performance(client, bot) -> dict:
    return client.get(f"/api/bots/{bot.pk}/performance").json()


def test_an_open_loss_counts_in_the_drawdown_and_the_return(owner, owner_client):
    # Given a running bot that bought 10 at 100 with all its 1,000 two days ago
    now = timezone.now()
    bot = BotFactory(owner=owner, exchange="binance", symbol="BTC/USDT", status="running")
    Bot.objects.filter(pk=bot.pk).update(created_at=now - timedelta(days=2))
    fill(bot, "buy", 10, 100, at=now - timedelta(days=2) + timedelta(minutes=1))
    # and the market now at 80
    Bot.objects.filter(pk=bot.pk).update(last_price=Decimal(80))

    body = _performance(owner_client, bot)

    # Then the open loss is in the numbers: equity 1,000, 1,000, then 800 now
    assert (body["days"], body["max_drawdown"], body["total_return"]) == (3, 20.0, -20.0)
    assert (body["total_pnl"], body["unrealized_pnl"]) == (0, -200)


def test_returns_cover_the_bots_running_life_idle_days_included(owner, owner_client):
    # Given a bot that lived 91 days (Jan 1 to Apr 1) and traded on four of them
    created = datetime(2026, 1, 1, 12, tzinfo=UTC)
    bot = BotFactory(owner=owner, exchange="binance", symbol="BTC/USDT")
    Bot.objects.filter(pk=bot.pk).update(created_at=created, last_tick_at=created + timedelta(days=90))
    fill(bot, "buy", 1, 100, at=created + timedelta(days=40))
    fill(bot, "sell", 1, 90, at=created + timedelta(days=41))  # equity 990
    fill(bot, "buy", 1, 100, at=created + timedelta(days=50))
    fill(bot, "sell", 1, 130, at=created + timedelta(days=51))  # equity 1,020
    returns = np.zeros(91)
    returns[41], returns[51] = 990 / 1000 - 1, 1020 / 990 - 1

    body = _performance(owner_client, bot)

    # Then every day of its life is a return, and the ratios are empyrical's on them
    assert body["days"] == 91
    assert body["max_drawdown"] == pytest.approx(1.0, abs=1e-9)
    assert body["calmar_ratio"] == pytest.approx(empyrical.calmar_ratio(returns, annualization=365), rel=1e-9)
    assert body["sharpe_ratio"] == pytest.approx(empyrical.sharpe_ratio(returns, annualization=365), abs=1e-9)
    assert body["sortino_ratio"] == pytest.approx(empyrical.sortino_ratio(returns, annualization=365), abs=1e-9)


def test_a_round_trip_closed_in_parts_is_one_trade(owner, owner_client):
    bot = BotFactory(owner=owner)
    fill(bot, "buy", 2, 100)
    fill(bot, "sell", 1, 120)  # +20
    fill(bot, "sell", 1, 95)  # −5: the round trip made +15
    fill(bot, "buy", 1, 100)
    fill(bot, "sell", 1, 90)  # −10

    body = _performance(owner_client, bot)

    assert (body["total_trades"], body["winning_trades"], body["losing_trades"]) == (5, 1, 1)
    assert body["win_rate"] == 50.0


def test_the_summary_keeps_a_deleted_bots_pnl_over_its_capital(owner, owner_client):
    # Given a bot that made 100 on 1,000 and was deleted, and an idle bot of 1,000
    gone = BotFactory(owner=owner)
    fill(gone, "buy", 1, 100)
    fill(gone, "sell", 1, 200)
    assert owner_client.delete(f"/api/bots/{gone.pk}").status_code in (200, 204)
    BotFactory(owner=owner)

    body = owner_client.get("/api/analytics/summary").json()

    # Then the past PnL stays, over the capital that produced it and the capital there now
    assert (body["total_pnl"], body["capital"], body["total_pnl_percentage"]) == (100, 2000, 5.0)
    assert (body["total_bots"], body["winning_trades"]) == (1, 1)


def test_performance_the_autopilot_and_the_bodyguard_measure_one_drawdown(owner, owner_client, monkeypatch):
    # Given a bot that grew 1,000 to 1,500 two days ago, then bought all-in today at 1.3×
    # the market price, which is where the market stands now
    now = timezone.now().replace(microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: now)
    created = now - timedelta(days=2)
    price = market.last_price("simulated", "BTC/USDT", at=now)
    bot = BotFactory(
        owner=owner,
        status="running",
        strategy="rsi",
        params={"period": 14, "oversold": 0, "overbought": 100},  # never trades
        training_started_at=created,
    )
    Bot.objects.filter(pk=bot.pk).update(created_at=created)
    fill(bot, "buy", 1, 100, at=created + timedelta(minutes=1))
    fill(bot, "sell", 1, 600, at=created + timedelta(minutes=2))  # equity 1,500, the peak
    entry = price * Decimal("1.3")
    quantity = (Decimal(1500) / entry).quantize(Decimal("1e-6"), "ROUND_DOWN")
    fill(bot, "buy", quantity, entry, at=now - timedelta(minutes=5))
    bot.refresh_from_db()
    Bot.objects.filter(pk=bot.pk).update(state={"engine": {"peak_equity": 1500.0}})  # what its ticks saw
    expected = 1 - float(bot.cash_balance + quantity * price) / 1500

    performance = _performance(owner_client, bot)["max_drawdown"]
    gate = training_metrics(bot, now=now)["max_drawdown"]
    tick.tick_bot(bot.pk, now=now)
    bot.refresh_from_db()

    assert expected == pytest.approx(0.2308, abs=1e-4)
    assert performance == gate == round(expected * 100, 6)
    reason = f"bodyguard: drawdown {expected:.1%} from peak equity exceeds 20%"
    assert (bot.status, bot.paused_reason) == ("paused", reason)
