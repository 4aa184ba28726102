"""The decision core on the in-memory ledger: no lookahead, hand-computed books and performance."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from bots import candles
from bots.engine import backtest, strategies
from bots.engine.strategies import BUY, HOLD_DECISION, SELL, Decision
from bots.services import backtests as service

T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
DAY = 86400


def _config(**changes) -> backtest.Config:
    values = {
        "strategy": "sma_cross",
        "params": {"fast": 5, "slow": 20},
        "exchange": "replay",
        "symbol": "ETH/BTC",
        "timeframe": "5m",
        "since": int(datetime(2018, 1, 12, tzinfo=UTC).timestamp()),
        "until": int(datetime(2018, 1, 16, tzinfo=UTC).timestamp()),
        "capital": Decimal(1),
        "fee_pct": Decimal("0.001"),
        "slippage_pct": Decimal("0.0005"),
    }
    return backtest.Config(**{**values, **changes})


def _orders(result):
    return [(o["created_at"], o["side"], o["quantity"], o["average_price"], o["fee"]) for o in result.ledger.orders]


@pytest.mark.parametrize("strategy,params", [("sma_cross", {"fast": 5, "slow": 20}), ("rsi", {"period": 6})])
def test_no_lookahead_changing_every_candle_after_t_leaves_the_decisions_up_to_t_unchanged(db, strategy, params):
    candles.ensure_shipped()
    config = _config(strategy=strategy, params={**strategies_defaults(strategy), **params})
    rows = service.load_rows(config)
    before = backtest.run(config, rows)
    t = int(datetime(2018, 1, 14, 6, 0, tzinfo=UTC).timestamp())
    assert any(o["created_at"] < "2018-01-14T06" for o in before.ledger.orders)
    assert any(o["created_at"] > "2018-01-14T06" for o in before.ledger.orders)

    # Every candle after t becomes noise; the candle opening at t keeps only its open (known at t).
    rng = np.random.default_rng(7)
    after = rows.time > t
    at_t = rows.time == t
    noise = rng.uniform(0.05, 0.15, len(rows))
    changed = candles.Rows(
        rows.time,
        np.where(after, noise, rows.open),
        np.where(after | at_t, noise * 1.1, rows.high),
        np.where(after | at_t, noise * 0.9, rows.low),
        np.where(after | at_t, noise, rows.close),
        rows.volume,
    )
    altered = backtest.run(config, changed)

    def upto(result):
        return [o for o in _orders(result) if o[0] <= "2018-01-14T06:00:00Z"]

    assert upto(altered) == upto(before)
    assert _orders(altered) != _orders(before)


def strategies_defaults(strategy):
    from bots.strategies import get_strategy

    return get_strategy(strategy).defaults


class Scripted:
    """Buys with all its cash at tick 1, sells everything at tick 3."""

    @staticmethod
    def lookback(params):
        return 1

    @staticmethod
    def decide(params, view):
        if view.tick == 1:
            return Decision(BUY, quote=view.cash, reason="scripted_buy")
        if view.tick == 3 and view.position > 0:
            return Decision(SELL, quantity=view.position, reason="scripted_sell")
        return HOLD_DECISION

    on_fill = staticmethod(strategies.default_on_fill)


def test_the_books_and_performance_match_hand_computed_values(db):
    # Daily candles opening at 10, 10, 12, 12: buy at the open of day 1, sell at the open of day 3.
    opens = [10, 10, 12, 12]
    candles.store("mine", "A/B", "1d", [(T0 + DAY * i, o, o, o, o, 1) for i, o in enumerate(opens)])
    undo = strategies.override("dca", Scripted)
    try:
        config = backtest.Config(
            strategy="dca",
            params={},
            exchange="mine",
            symbol="A/B",
            timeframe="1d",
            since=T0,
            until=T0 + 3 * DAY,
            capital=Decimal(100),
            fee_pct=Decimal("0.001"),
            slippage_pct=Decimal(0),
        )
        result = backtest.run(config, service.load_rows(config))
    finally:
        undo()

    q12 = Decimal("1e-12")
    quantity = (Decimal(100) / Decimal("1.001") / 10).quantize(q12, rounding=ROUND_DOWN)
    buy_fee = (quantity * 10 * Decimal("0.001")).quantize(q12)
    average = ((quantity * 10 + buy_fee) / quantity).quantize(q12, rounding=ROUND_HALF_UP)
    sell_fee = (quantity * 12 * Decimal("0.001")).quantize(q12)
    realized = (quantity * 12 - quantity * average - sell_fee).quantize(q12, rounding=ROUND_HALF_UP)
    cash = 100 - quantity * 10 - buy_fee + quantity * 12 - sell_fee

    assert [(t["side"], t["quantity"], t["price"], t["fee"]) for t in result.ledger.trades] == [
        ("buy", quantity, Decimal(10), buy_fee),
        ("sell", quantity, Decimal(12), sell_fee),
    ]
    assert result.ledger.trades[1]["realized_pnl"] == realized
    assert result.ledger.cash == cash.quantize(q12, rounding=ROUND_HALF_UP)
    assert result.ledger.position == 0

    from bots.models import Backtest

    run = Backtest(capital=Decimal(100), since=datetime.fromtimestamp(T0, UTC), symbol="A/B", timeframe="1d")
    performance = service.result_performance(run, result)
    assert performance["total_trades"] == 2
    assert (performance["winning_trades"], performance["losing_trades"], performance["win_rate"]) == (1, 0, 100.0)
    assert Decimal(str(performance["total_pnl"])) == realized
    assert performance["total_pnl_percentage"] == round(float(realized / 100 * 100), 4)
    assert performance["profit_factor"] is None  # no losing trade
    # Daily equity, marked at each day's end at the price known then (the next open): 100 (the day
    # before), 100 (day 0), 100 − buy fee + 2 a unit (days 1 and 2, at 12), the cash after the sale
    # (day 3): the only fall is the sale's fee.
    peak = 100 - buy_fee + 2 * quantity
    assert performance["max_drawdown"] == pytest.approx(float(sell_fee / peak) * 100, rel=1e-6)
    assert performance["total_return"] == round(float((cash - 100) / 100 * 100), 4)
