"""Analytics against an independent reference (empyrical-reloaded) on recorded prices."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import empyrical
import numpy as np
import pytest
from django.conf import settings
from django.test import override_settings

from bots import analytics, equity
from bots.engine import market
from bots.models import Bot, BotDailyPnl
from tests.bots.factories import BotFactory, fill

SHIPPED = Path(settings.BASE_DIR) / "bots" / "data" / "replay"


def _closes(shared_data_dir, name: str = "ETH_BTC-5m.csv") -> list[tuple[str, float]]:
    path = (shared_data_dir / name) if shared_data_dir and (shared_data_dir / name).exists() else SHIPPED / name
    with path.open() as handle:
        return [(row["timestamp"], float(row["close"])) for row in csv.DictReader(handle)]


def _returns(prices: list[float]) -> list[float]:
    return [b / a - 1 for a, b in zip(prices, prices[1:], strict=False)]


@pytest.mark.parametrize("name", ["ETH_BTC-5m.csv", "XRP_USDT-5m.csv"])
def test_ratios_agree_with_empyrical_on_recorded_prices(shared_data_dir, name):
    returns = _returns([close for _ts, close in _closes(shared_data_dir, name)])
    series = np.array(returns)
    assert len(returns) > 1000

    assert analytics.sharpe_ratio(returns) == pytest.approx(empyrical.sharpe_ratio(series, annualization=365), abs=1e-9)
    assert analytics.sortino_ratio(returns) == pytest.approx(
        empyrical.sortino_ratio(series, annualization=365), abs=1e-9
    )
    assert -analytics.max_drawdown(returns) == pytest.approx(empyrical.max_drawdown(series), abs=1e-9)
    assert analytics.calmar_ratio(returns) == pytest.approx(
        empyrical.calmar_ratio(series, annualization=365), rel=1e-9, abs=1e-9
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("symbol", "capital"), [("ETH/BTC", "1"), ("XRP/USDT", "10000")])
def test_bot_performance_marked_to_market_agrees_with_empyrical(owner, owner_client, symbol, capital):
    """A replay bot buys once and holds for the recording's week: its daily equity follows
    the market, and the endpoint's ratios are empyrical's on the hand-computed curve."""
    start = datetime.fromtimestamp(market._recording(symbol).start, UTC)
    end = start + timedelta(days=6, hours=12)
    bot = BotFactory(owner=owner, exchange="replay", symbol=symbol, capital=Decimal(capital))
    Bot.objects.filter(pk=bot.pk).update(created_at=start, last_tick_at=end)
    buy_at = start + timedelta(hours=1)
    price = market.last_price("replay", symbol, at=buy_at)
    quantity = (Decimal(capital) / 2 / price).quantize(Decimal("1e-6"))
    fill(bot, "buy", quantity, price, fee="0", at=buy_at)
    cash = Decimal(capital) - quantity * price
    midnight = start.replace(hour=0, minute=0)
    marks = [midnight + timedelta(days=d) for d in range(1, 7)] + [end]
    curve = [float(Decimal(capital))] + [
        float(cash + quantity * market.last_price("replay", symbol, at=t)) for t in marks
    ]
    reference = np.array(_returns(curve))

    body = owner_client.get(f"/api/bots/{bot.pk}/performance").json()

    assert body["days"] == len(reference) == 7
    assert body["sharpe_ratio"] == pytest.approx(empyrical.sharpe_ratio(reference, annualization=365), abs=1e-9)
    assert body["sortino_ratio"] == pytest.approx(empyrical.sortino_ratio(reference, annualization=365), abs=1e-9)
    assert body["max_drawdown"] == pytest.approx(-100 * empyrical.max_drawdown(reference), abs=1e-6)
    assert body["calmar_ratio"] == pytest.approx(empyrical.calmar_ratio(reference, annualization=365), rel=1e-9)
    assert body["total_return"] == pytest.approx(100 * (curve[-1] / curve[0] - 1), abs=1e-4)


def test_undefined_ratios_are_null():
    assert analytics.sharpe_ratio([0.01]) is None
    assert analytics.sharpe_ratio([0.01, 0.01]) is None  # no dispersion
    assert analytics.sortino_ratio([0.01, 0.02]) is None  # no downside
    assert analytics.calmar_ratio([0.01, 0.02]) is None  # no drawdown
    assert analytics.max_drawdown([]) == 0


def test_growth_beyond_a_float_when_annualized_gives_a_null_calmar():
    returns = [99.0, -0.1]  # 100x in a day: (100 * 0.9) ** 182.5 overflows a float
    assert analytics.annual_return(returns) == float("inf")
    assert analytics.calmar_ratio(returns) is None


@pytest.mark.django_db
def test_a_huge_day_still_answers_performance_and_summary(owner, owner_client):
    bot = BotFactory(owner=owner, capital=Decimal(10))
    fill(bot, "buy", 1, 10)
    fill(bot, "sell", 1, 80)  # +700 % of capital in one day

    performance = owner_client.get(f"/api/bots/{bot.pk}/performance")
    summary = owner_client.get("/api/analytics/summary")

    assert performance.status_code == summary.status_code == 200
    assert performance.json()["calmar_ratio"] is None


def test_the_daily_curve_marks_positions_and_fills_idle_days():
    # Given capital 100, a buy of 1 at 40 on Jan 1 and a sell at 50 on Jan 3 (fees 1 each)
    at = datetime(2026, 1, 1, 9, tzinfo=UTC)
    fills = [
        equity.Fill(at, "X/Y", "buy", Decimal(1), Decimal(40), Decimal(1), None),
        equity.Fill(at + timedelta(days=2), "X/Y", "sell", Decimal(1), Decimal(50), Decimal(1), Decimal(8)),
    ]
    closes = {date(2026, 1, 1): Decimal(30), date(2026, 1, 2): Decimal(45), date(2026, 1, 3): Decimal(60)}
    # When the curve runs from Jan 1 to noon on Jan 4
    curve = equity.daily_equity(
        capital=Decimal(100),
        fills=fills,
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 4, 12, tzinfo=UTC),
        price=lambda symbol, at: closes.get((at - timedelta(seconds=1)).date()),
    )
    # Then each day's end is cash + position × that day's close, idle days included
    assert curve == [
        (date(2025, 12, 31), 100),
        (date(2026, 1, 1), 59 + 30),
        (date(2026, 1, 2), 59 + 45),
        (date(2026, 1, 3), 108),
        (date(2026, 1, 4), 108),
    ]
    assert equity.max_drawdown([100, 89, 104, 108]) == pytest.approx(0.11)


@pytest.mark.django_db
def test_performance_counts_and_percentages(owner, owner_client):
    bot = BotFactory(owner=owner, capital=Decimal(1000))
    fill(bot, "buy", 1, 100, fee="1")  # avg cost 101
    fill(bot, "sell", 1, 121, fee="1")  # +19
    fill(bot, "buy", 1, 100)
    fill(bot, "sell", 1, 95)  # -5
    fill(bot, "buy", 1, 100)
    fill(bot, "sell", 1, 96)  # -4

    body = owner_client.get(f"/api/bots/{bot.pk}/performance").json()

    assert (body["total_trades"], body["winning_trades"], body["losing_trades"]) == (6, 1, 2)
    assert body["win_rate"] == pytest.approx(33.3333, abs=1e-4)
    assert body["total_pnl"] == 10
    assert body["total_pnl_percentage"] == 1.0
    assert body["profit_factor"] == pytest.approx(19 / 9, abs=1e-6)
    assert body["total_fees"] == 2


@pytest.mark.django_db
def test_fills_keep_position_rollup_and_totals_consistent(owner):
    bot = BotFactory(owner=owner, capital=Decimal(1000))
    fill(bot, "buy", 1, 100, fee="0.1")
    fill(bot, "buy", 1, 110, fee="0.1")  # avg (100.1 + 110.1) / 2 = 105.1
    trade = fill(bot, "sell", "1.5", 120, fee="0.18")
    position = bot.positions.get()
    assert position.average_cost == Decimal("105.1")
    assert trade.realized_pnl == Decimal("1.5") * (120 - Decimal("105.1")) - Decimal("0.18")
    assert position.quantity == Decimal("0.5")
    bot.refresh_from_db()
    day = BotDailyPnl.objects.get(bot=bot)
    assert bot.realized_pnl == day.realized_pnl == trade.realized_pnl
    assert (day.trades, day.wins, day.losses, bot.total_trades) == (3, 1, 0, 3)
    assert bot.total_fees == day.fees == Decimal("0.38")
    assert bot.cash_balance == 1000 - Decimal("100.1") - Decimal("110.1") + 180 - Decimal("0.18")


@pytest.mark.django_db
def test_fill_is_idempotent_and_never_shorts(owner):
    bot = BotFactory(owner=owner)
    first = fill(bot, "buy", 1, 100, fill_id="abc")
    again = fill(bot, "buy", 1, 100, fill_id="abc")
    assert first.pk == again.pk
    bot.refresh_from_db()
    assert bot.total_trades == 1 and bot.positions.get().quantity == 1
    with pytest.raises(ValueError, match="cannot sell"):
        fill(bot, "sell", 2, 100)


@pytest.mark.django_db
@override_settings(REPORTING_CURRENCY="USDT")
def test_summary_converts_to_reporting_currency_and_lists_the_rest(owner, owner_client):
    usdt = BotFactory(owner=owner, capital=Decimal(1000))
    fill(usdt, "buy", 1, 100)
    fill(usdt, "sell", 1, 110)  # +10 USDT
    btc = BotFactory(owner=owner, exchange="replay", symbol="ETH/BTC", capital=Decimal("0.1"))
    fill(btc, "buy", 1, "0.05")
    fill(btc, "sell", 1, "0.06")  # +0.01 BTC
    BotFactory(owner=owner, symbol="BTC/USDT", last_price=Decimal(50000))  # the latest known BTC price
    inr = BotFactory(owner=owner, exchange="angelone", symbol="NSE:SBIN-EQ", quote_currency="INR")
    fill(inr, "buy", 1, 500)
    fill(inr, "sell", 1, 510)

    body = owner_client.get("/api/analytics/summary").json()

    assert body["currency"] == "USDT"
    assert body["conversion_rates"] == {"BTC": 50000}
    assert body["total_pnl"] == 10 + 500  # 0.01 BTC at 50,000
    assert body["unconverted"] == {"INR": {"bots": 1, "capital": 1000, "total_pnl": 10}}
    assert body["total_bots"] == 4


@pytest.mark.django_db
def test_overview_provider_registered(owner):
    from realtime import registry

    bot = BotFactory(owner=owner, status="running")
    fill(bot, "buy", 1, 100)
    fill(bot, "sell", 1, 105)
    BotFactory(owner=owner)
    assert registry.overview_provider()(owner.pk) == {"active_bots": 1, "total_bots": 2, "total_profit": 5}
