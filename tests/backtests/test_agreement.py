"""One decision core: a backtest of a bot's configuration places exactly the orders a paper bot on
the replay venue places ticking over the same recorded candles (issue 19, "Done when")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots import candles
from bots.engine import backtest, market, tick
from bots.models import Bot, Order
from bots.services import backtests as service
from tests.engine.factories import running_bot

FIVE_MIN = 300
# ETH/BTC 5m (shipped): a window far enough into the recording for every strategy's lookback.
START = datetime(2018, 1, 13, 0, 0, tzinfo=UTC)
TICKS = 400

STRATEGIES = {
    "sma_cross": {"fast": 5, "slow": 20},
    "rsi": {"period": 6, "oversold": 35, "overbought": 65},
    "grid": {"lower": 0.088, "upper": 0.1, "levels": 12},
    "dca": {"order_pct": 0.05, "every_ticks": 7, "max_orders": 10, "take_profit_pct": 0.005},
}


def _paper_orders(bot: Bot) -> list[tuple]:
    rows = Order.objects.filter(bot=bot).order_by("created_at", "pk")
    return [
        (o.created_at, o.side, o.quantity.normalize(), o.average_price.normalize(), o.fee.normalize(), o.reason)
        for o in rows
    ]


def _backtest_orders(result: backtest.Result) -> list[tuple]:
    out = []
    for o in result.ledger.orders:
        at = datetime.fromisoformat(o["created_at"].replace("Z", "+00:00"))
        out.append(
            (
                at,
                o["side"],
                Decimal(o["quantity"]).normalize(),
                Decimal(o["average_price"]).normalize(),
                Decimal(o["fee"]).normalize(),
                o["reason"],
            )
        )
    return out


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_a_backtest_places_exactly_the_orders_a_replay_paper_bot_places(owner, settings, strategy):
    # The bodyguard pauses a running bot; a backtest shows the strategy and its rules without it.
    settings.DISABLE_AI_BODYGUARD = True
    settings.PAPER_SLIPPAGE_PCT = "0.0005"
    bot = running_bot(
        owner=owner,
        exchange="replay",
        symbol="ETH/BTC",
        timeframe="5m",
        interval_seconds=FIVE_MIN,
        strategy=strategy,
        params=STRATEGIES[strategy],
        capital=Decimal("1"),
        cash_balance=Decimal("1"),
        override_rules={"stop_loss_pct": "0.01"} if strategy == "sma_cross" else {},
    )
    # Given a paper bot ticking at every candle open over the recording ...
    for i in range(TICKS):
        now = START + timedelta(seconds=FIVE_MIN * i)
        report = tick.tick_bot(bot.pk, now=now)
        assert report.errors == 0, Bot.objects.get(pk=bot.pk).last_error
    paper = _paper_orders(bot)

    # ... and a backtest of that bot's configuration over the stored copy of the same recording,
    candles.ensure_shipped()
    bot.refresh_from_db()
    config = backtest.Config(
        strategy=bot.strategy,
        params=bot.params,
        exchange=bot.exchange,
        symbol=bot.symbol,
        timeframe=bot.timeframe,
        since=int(START.timestamp()),
        until=int((START + timedelta(seconds=FIVE_MIN * (TICKS - 1))).timestamp()),
        capital=bot.capital,
        fee_pct=Decimal(settings.PAPER_FEE_PCT),
        slippage_pct=Decimal(settings.PAPER_SLIPPAGE_PCT),
        position_size_pct=bot.position_size_pct,
        rules=bot.override_rules,
    )
    result = backtest.run(config, service.load_rows(config))

    # Then both placed the same orders: time, side, quantity, price, fee and reason.
    assert len(paper) >= 2, "the window must make the strategy trade"
    assert _backtest_orders(result) == paper
    # And both hold the same books.
    assert result.ledger.cash == bot.cash_balance
    assert result.candles == TICKS
    # And the performance formulas agree on the same trades (those that do not depend on the
    # life of the bot: its equity curve runs to "now", the backtest's to its last candle).
    from bots import analytics
    from bots.models import Backtest

    run = Backtest(capital=bot.capital, since=START, symbol=bot.symbol, timeframe=bot.timeframe)
    mine = service.result_performance(run, result)
    theirs = analytics.bot_performance(bot)
    same = ("total_trades", "winning_trades", "losing_trades", "win_rate", "total_pnl", "profit_factor", "total_fees")
    assert {k: mine[k] for k in same} == {k: theirs[k] for k in same}


def test_the_stored_recording_is_the_replay_venue_candle_for_candle(db):
    candles.ensure_shipped()
    rows = candles.load("replay", "ETH/BTC", "5m", since=0, until=2**40)
    recorded = market._replay_file("ETH/BTC")
    assert len(rows) == len(recorded)
    assert rows.close.tolist() == [c.close for c in recorded]
    assert rows.time.tolist() == [c.time for c in recorded]
