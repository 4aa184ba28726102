"""Vectorized signals are ``decide`` (issue 19): a backtest skips the candles where a strategy's
``signals`` say nothing can happen, so they must be the same function as ``decide`` on every
window; and a run that skips (``fast``) must be the run that ticks every candle."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from bots import candles
from bots.engine import backtest, market, strategies
from bots.engine.strategies import BUY, SELL, View
from bots.services import backtests as service

SMA_PARAMS = [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 30}, {"fast": 3, "slow": 4}, {"fast": 1, "slow": 50}]
RSI_PARAMS = [
    {"period": 14, "oversold": 30, "overbought": 70},
    {"period": 6, "oversold": 35, "overbought": 65},
    {"period": 2, "oversold": 20, "overbought": 80},
    {"period": 30, "oversold": 45, "overbought": 55},
]
CASES = [("sma_cross", p) for p in SMA_PARAMS] + [("rsi", p) for p in RSI_PARAMS]


def _closes(symbol: str) -> np.ndarray:
    return np.array([c.close for c in market._replay_file(symbol)], dtype=float)


def _view(closes, *, position: float) -> View:
    return View(
        closes=closes,
        price=float(closes[-1]) if len(closes) else 1.0,
        position=position,
        average_cost=1.0 if position else 0.0,
        cash=1.0,
        capital=1.0,
        position_size_pct=1.0,
        tick=0,
        state={},
        candle=-1,
    )


@pytest.mark.parametrize("symbol", ["ETH/BTC", "UNITTEST/BTC"])
@pytest.mark.parametrize("strategy,params", CASES)
def test_signals_are_decide_on_every_window_of_a_recording(strategy, params, symbol):
    # Given a recording and the strategy's window at every candle (closed candles only)
    module = strategies.get(strategy)
    closes = _closes(symbol)
    lookback = module.lookback(params)
    entry, leave = module.signals(params, closes)
    assert len(entry) == len(leave) == len(closes)
    bought = sold = 0
    for i in range(len(closes)):
        window = closes[max(0, i - lookback) : i]
        buys = module.decide(params, _view(window, position=0.0)).action == BUY
        sells = module.decide(params, _view(window, position=1.0)).action == SELL
        bought, sold = bought + buys, sold + sells
        # Then at every candle, warm-up included, the signals are exactly decide's answers.
        assert (bool(entry[i]), bool(leave[i])) == (buys, sells), i
    assert bought and sold, "the recording must make the strategy trade both ways"


def test_signals_read_no_candle_at_or_after_their_own():
    closes = _closes("ETH/BTC")
    t = 1200
    changed = closes.copy()
    changed[t:] = np.random.default_rng(3).uniform(0.05, 0.15, len(closes) - t)
    for strategy, params in CASES:
        module = strategies.get(strategy)
        before, after = module.signals(params, closes), module.signals(params, changed)
        for a, b in zip(before, after, strict=True):
            assert np.array_equal(a[: t + 1], b[: t + 1]), (strategy, params)


def _config(**changes) -> backtest.Config:
    values = {
        "strategy": "sma_cross",
        "params": {"fast": 5, "slow": 20},
        "exchange": "replay",
        "symbol": "ETH/BTC",
        "timeframe": "5m",
        "since": int(datetime(2018, 1, 10, tzinfo=UTC).timestamp()),
        "until": int(datetime(2018, 1, 18, tzinfo=UTC).timestamp()),
        "capital": Decimal(1),
        "fee_pct": Decimal("0.001"),
        "slippage_pct": Decimal("0.0005"),
    }
    return backtest.Config(**{**values, **changes})


def _same(fast: backtest.Result, slow: backtest.Result) -> None:
    assert fast.ledger.orders == slow.ledger.orders
    assert fast.ledger.trades == slow.ledger.trades
    assert (fast.ledger.cash, fast.ledger.position, fast.ledger.average_cost) == (
        slow.ledger.cash,
        slow.ledger.position,
        slow.ledger.average_cost,
    )
    assert fast.ledger.strategy_state == slow.ledger.strategy_state
    assert (fast.candles, fast.canceled) == (slow.candles, slow.canceled)
    assert fast.equity == slow.equity
    assert fast.prices == slow.prices


RULES = [
    {},
    {"stop_loss_pct": "0.004"},
    {"take_profit_pct": "0.003"},
    {"stop_loss_pct": "0.002", "take_profit_pct": "0.002", "max_daily_trades": "3"},
]


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize("strategy,params", CASES)
def test_a_fast_run_is_the_run_that_ticks_every_candle(db, strategy, params, rules):
    # Given a configuration with or without protective exits and a trade limit
    candles.ensure_shipped()
    config = _config(strategy=strategy, params=params, rules=rules)
    rows = service.load_rows(config)
    # When it runs skipping the quiet candles and ticking every one
    fast, slow = backtest.run(config, rows), backtest.run(config, rows, fast=False)
    # Then both placed the same orders and hold the same books, curve and prices
    assert slow.ledger.orders, "the configuration must trade"
    _same(fast, slow)


def test_a_fast_run_reports_progress_and_stops_on_cancel_where_the_slow_one_does(db):
    candles.ensure_shipped()
    config = _config(params={"fast": 3, "slow": 8}, rules={"stop_loss_pct": "0.003"})
    rows = service.load_rows(config)
    seen: dict[bool, list[int]] = {True: [], False: []}

    def stop_at_the_third(fast):
        def progress(fraction, ticks):
            seen[fast].append(ticks)
            return len(seen[fast]) < 3

        return progress

    fast = backtest.run(config, rows, progress=stop_at_the_third(True), every=250)
    slow = backtest.run(config, rows, progress=stop_at_the_third(False), every=250, fast=False)
    assert seen[True] == seen[False] == [250, 500, 750]
    assert fast.canceled and fast.candles == 750
    _same(fast, slow)


@pytest.mark.parametrize("strategy,params", [CASES[0], CASES[4]])
def test_a_fast_run_on_a_real_venue_with_lot_sizes_and_dust_is_the_slow_run(db, strategy, params):
    # Given a real venue's candles, its lot size and minimum notional (a position under it is
    # dust the strategy does not see: the fast run then watches for buys while holding too)
    from bots.engine.market import MarketRules, market_rules_store

    rows = [(c.time, c.open, c.high, c.low, c.close, c.volume) for c in market._replay_file("ETH/BTC")]
    candles.store("kraken", "ETH/BTC", "5m", rows)
    market_rules_store("kraken", {"ETH/BTC": MarketRules(amount_step=Decimal("0.013"), min_notional=Decimal("0.0005"))})
    config = _config(strategy=strategy, params=params, exchange="kraken", rules={"stop_loss_pct": "0.003"})
    loaded = service.load_rows(config)
    # When it runs skipping the quiet candles and ticking every one, then both are the same run
    fast, slow = backtest.run(config, loaded), backtest.run(config, loaded, fast=False)
    assert slow.ledger.orders, "the configuration must trade"
    _same(fast, slow)


def test_a_rule_skipping_does_not_know_makes_the_run_tick_every_candle():
    from bots.engine import risk

    # The trailing stop (issue 20) follows the highest price the ticks saw: skipping does not know it.
    rules = risk.effective_rules(position_size_pct=Decimal(1), override_rules={"stop_loss_pct": "0.01"})
    trailing = risk.effective_rules(
        position_size_pct=Decimal(1), override_rules={"stop_loss_pct": "0.01"}, exits={"trailing_stop_pct": "0.02"}
    )
    closes = _closes("ETH/BTC")
    module = strategies.get("sma_cross")
    quiet = backtest._Quiet.of
    kwargs = {"venue_real": False, "market_rules": market.MarketRules(), "last": len(closes)}
    params = {"fast": 5, "slow": 20}
    assert quiet(module, params, closes, closes, rules, **kwargs) is not None
    assert quiet(module, params, closes, closes, trailing, **kwargs) is None
