"""Strategy decision functions on recorded candles (../shared/data when present)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from bots.engine import market, tick
from bots.engine.strategies import BUY, HOLD, SELL, Decision, Fill, View, dca, grid, rsi, sma, sma_cross
from bots.models import Order
from tests.bots.factories import fill
from tests.engine.factories import running_bot


def view(closes, *, price=None, position=0.0, average_cost=0.0, cash=1000.0, tick=0, state=None, candle=0) -> View:
    closes = np.asarray(closes, dtype=float)
    return View(
        closes=closes,
        price=float(closes[-1] if price is None else price),
        position=position,
        average_cost=average_cost,
        cash=cash,
        capital=1000.0,
        position_size_pct=0.5,
        tick=tick,
        state=state or {},
        candle=candle,
    )


def replay_decisions(module, params, closes, *, window: int) -> list[tuple[int, str]]:
    """Walk a recording candle by candle as a bot would, holding one position."""
    position, cost, state, out = 0.0, 0.0, {}, []
    for i in range(window, len(closes)):
        seen = view(closes[i - window : i], position=position, average_cost=cost, state=state, candle=i)
        decision = module.decide(params, seen)
        if decision.action == BUY:
            position, cost = decision.quote / closes[i - 1], closes[i - 1]
        elif decision.action == SELL:
            position, cost = 0.0, 0.0
        if decision.is_order:
            state = module.on_fill(params, state, decision, Fill(decision.action, position or 1.0, closes[i - 1]))
            out.append((i, decision.action))
    return out


@pytest.fixture
def eth_btc(shared_data_dir) -> np.ndarray:
    rows = market.load_recorded(shared_data_dir / "ETH_BTC-5m.csv")
    return np.array([r.close for r in rows])


def test_sma_helper_is_exact():
    assert sma(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist() == [1.5, 2.5, 3.5]


def test_sma_cross_buys_on_the_cross_up_and_sells_on_the_cross_down():
    params = {"fast": 2, "slow": 3}
    up = view([5, 4, 3, 2, 6])  # fast (2,6)=4 > slow (3,2,6)=3.67, before fast 2.5 < slow 3
    assert sma_cross.decide(params, up) == Decision(BUY, quote=500.0, reason="sma_cross_up", tag={"candle": 0})
    assert sma_cross.decide(params, view([5, 4, 3, 2, 6], position=1.0)).action == HOLD
    down = view([1, 2, 3, 4, 0], position=2.0)
    assert sma_cross.decide(params, down) == Decision(SELL, quantity=2.0, reason="sma_cross_down")
    assert sma_cross.decide(params, view([1, 2])).action == HOLD  # not enough candles


def test_sma_cross_alternates_on_recorded_eth_btc(eth_btc):
    trades = replay_decisions(sma_cross, {"fast": 10, "slow": 30}, eth_btc, window=31)
    assert len(trades) > 10
    actions = [a for _, a in trades]
    assert actions[0] == BUY
    assert all(a != b for a, b in zip(actions, actions[1:], strict=False))  # never two buys in a row


def test_rsi_matches_wilder_on_a_known_series():
    closes = np.array([44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61,
                       46.28, 46.28])  # fmt: skip
    assert rsi.rsi(closes, 14) == pytest.approx(70.46, abs=0.05)
    assert rsi.rsi(closes[:5], 14) is None


def wilder_rsi(closes) -> list[float | None]:
    """Reference: Wilder's RSI over the whole history (SMA seed, then 1/n smoothing), per close."""
    n, out = 14, [None] * 14
    gains = [max(b - a, 0.0) for a, b in zip(closes, closes[1:], strict=False)]
    losses = [max(a - b, 0.0) for a, b in zip(closes, closes[1:], strict=False)]
    avg_gain, avg_loss = sum(gains[:n]) / n, sum(losses[:n]) / n
    for i in range(n, len(gains) + 1):
        if i > n:
            avg_gain += (gains[i - 1] - avg_gain) / n
            avg_loss += (losses[i - 1] - avg_loss) / n
        out.append(100.0 if avg_loss == 0 else 100.0 - 100.0 / (1.0 + avg_gain / avg_loss))
    return out


def reference_signals(values, start, end, *, holding: bool) -> list[tuple[int, str]]:
    out = []
    for i in range(start, end):
        if values[i] < 30 and not holding:
            holding = True
            out.append((i, BUY))
        elif values[i] > 70 and holding:
            holding = False
            out.append((i, SELL))
    return out


def test_rsi_equals_wilders_over_the_whole_history_after_the_warm_up(eth_btc):
    # Given the recorded ETH/BTC 5 m closes and the RSI of their whole history
    reference = wilder_rsi(eth_btc.tolist())
    window = rsi.lookback({"period": 14})
    # When the strategy computes it from its lookback window at every close
    ends = range(window, len(eth_btc) + 1)
    worst = max(abs(rsi.rsi(eth_btc[end - window : end], 14) - reference[end - 1]) for end in ends)
    # Then every value agrees to 1e-6 (the 4n+1 window was up to 2 points off)
    assert window == 295
    assert worst < 1e-6


def test_the_signals_a_replay_bot_gets_are_wilders_on_the_whole_recording(owner, db, settings):
    # Given an RSI bot on the replay venue holding ETH at candle 1605 of the recording,
    # where the whole history's RSI first exceeds 70 at 1614 (a 57-close window: at 1613)
    settings.DISABLE_AI_BODYGUARD = True
    rows = market._replay_file("ETH/BTC")
    reference = wilder_rsi([r.close for r in rows])
    start, end = 1605, 1640
    expected = reference_signals(reference, start, end, holding=True)
    assert expected == [(1614, SELL)]
    bot = running_bot(
        owner=owner,
        exchange="replay",
        symbol="ETH/BTC",
        timeframe="5m",
        interval_seconds=300,
        strategy="rsi",
        params={"period": 14, "oversold": 30, "overbought": 70},
        capital=Decimal("0.05"),
    )
    fill(bot, BUY, "0.2", str(rows[start - 1].close))
    # When the tick runs just after each candle closes
    signals = []
    for i in range(start, end):
        tick.tick_bot(bot.pk, now=datetime.fromtimestamp(rows[i].time + 300 + 1, UTC))
        for order in Order.objects.filter(bot=bot).exclude(pk__in=[pk for pk, _, _ in signals]):
            signals.append((order.pk, i, order.side))
    # Then it trades exactly where the reference signals
    assert [(i, side) for _, i, side in signals] == expected


def test_rsi_trades_both_ways_on_recorded_data(eth_btc):
    params = {"period": 14, "oversold": 30, "overbought": 70}
    trades = replay_decisions(rsi, params, eth_btc, window=rsi.lookback(params))
    assert {BUY, SELL} <= {a for _, a in trades}


def test_grid_buys_at_lines_and_sells_one_line_higher():
    params = {"lower": 100, "upper": 200, "levels": 11}  # lines every 10
    first = grid.decide(params, view([155], price=155))
    assert first == Decision(BUY, quote=1000 / 11, reason="grid_buy", tag={"line": 6})  # the 160 line
    state = grid.on_fill(params, {}, first, Fill(BUY, 0.5, 155))
    assert state == {"held": {"6": 0.5}}
    assert grid.decide(params, view([165], price=165, position=0.5, state=state)).action == HOLD
    take = grid.decide(params, view([171], price=171, position=0.5, state=state))
    assert take == Decision(SELL, quantity=0.5, reason="grid_take", tag={"line": 6})
    assert grid.on_fill(params, state, take, Fill(SELL, 0.5, 171)) == {"held": {}}
    assert grid.decide(params, view([90], price=90)).action == HOLD  # outside the grid


def test_dca_buys_every_n_ticks_up_to_max_then_takes_profit():
    params = {"order_pct": 0.1, "every_ticks": 2, "max_orders": 2, "take_profit_pct": 0.05}
    buy = dca.decide(params, view([100], tick=0))
    assert buy == Decision(BUY, quote=100.0, reason="dca_buy", tag={"tick": 0})
    state = dca.on_fill(params, {}, buy, Fill(BUY, 1, 100))
    assert dca.decide(params, view([100], tick=1, position=1, average_cost=100, state=state)).action == HOLD
    state = dca.on_fill(params, state, dca.decide(params, view([100], tick=2, state=state)), Fill(BUY, 1, 100))
    assert state == {"orders": 2, "last_buy_tick": 2}
    assert dca.decide(params, view([100], tick=9, position=2, average_cost=100, state=state)).action == HOLD
    sell = dca.decide(params, view([106], tick=10, position=2, average_cost=100, state=state))
    assert sell == Decision(SELL, quantity=2, reason="dca_take_profit")
    assert dca.on_fill(params, state, sell, Fill(SELL, 2, 106))["orders"] == 0


def test_recorded_json_with_gaps_is_filled_flat(shared_data_dir):
    path = shared_data_dir / "UNITTEST_BTC-1m.json"
    if not path.exists():
        path = market.REPLAY_DIR / "UNITTEST_BTC-1m.json"
    rows = market.load_recorded(path)
    recording = market.Recording(rows)
    assert recording.step == 60
    gap_start = next(a.time + 60 for a, b in zip(rows, rows[1:], strict=False) if b.time - a.time > 60)
    before = next(r for r in rows if r.time == gap_start - 60)
    filled = recording.candle(gap_start, 60)
    assert (filled.open, filled.close, filled.volume) == (before.close, before.close, 0.0)
    five = recording.candle(rows[0].time, 300)  # aggregated from the 1m rows inside it
    inside = [r for r in rows if rows[0].time <= r.time < rows[0].time + 300]
    assert five.high == max(r.high for r in inside) and five.close == inside[-1].close


@pytest.mark.django_db
def test_sma_cross_does_not_buy_the_same_cross_again_after_a_stop_loss(owner):
    """Given the simulated BTC/USDT's 1 h SMA 10/30 cross up closing at 22:00 on 2024-03-06 and a
    0.2 % stop-loss; when the bot buys at 22:01 and is stopped out at 22:02, then at 22:03 (the same
    candle, the signal still reads "crossed up") it holds instead of buying the cross again."""
    from datetime import UTC, datetime, timedelta

    from bots.engine import tick
    from bots.models import Order
    from tests.engine.factories import make_due, running_bot

    t = datetime(2024, 3, 6, 22, 1, tzinfo=UTC)
    bot = running_bot(
        owner=owner,
        strategy="sma_cross",
        params={"fast": 10, "slow": 30},
        timeframe="1h",
        override_rules={"stop_loss_pct": 0.002},
        next_tick_at=t - timedelta(seconds=1),
    )
    tick.tick_batch(now=t)
    make_due(bot, t + timedelta(minutes=1))
    tick.tick_batch(now=t + timedelta(minutes=1))
    assert list(Order.objects.filter(bot=bot).order_by("pk").values_list("side", "reason")) == [
        ("buy", "sma_cross_up"),
        ("sell", "stop_loss"),
    ]

    make_due(bot, t + timedelta(minutes=2))
    report = tick.tick_batch(now=t + timedelta(minutes=2))

    assert (report.claimed, report.orders, report.errors) == (1, 0, 0)
    assert Order.objects.filter(bot=bot).count() == 2
    bot.refresh_from_db()
    assert bot.state["strategy"] == {"entered_candle": int(t.timestamp()) // 3600}


def _bought_then_stopped_out(owner, t, stopped_at, entry: str, **bot_fields):
    """A running bot that buys at ``t`` (``entry``) and is stopped out at ``stopped_at``."""
    from datetime import timedelta

    from bots.engine import tick
    from bots.models import Order
    from tests.engine.factories import make_due, running_bot

    bot = running_bot(owner=owner, next_tick_at=t - timedelta(seconds=1), **bot_fields)
    tick.tick_batch(now=t)
    make_due(bot, stopped_at)
    tick.tick_batch(now=stopped_at)
    assert list(Order.objects.filter(bot=bot).order_by("pk").values_list("side", "reason")) == [
        ("buy", entry),
        ("sell", "stop_loss"),
    ]
    return bot


@pytest.mark.django_db
def test_rsi_does_not_buy_again_in_the_candle_of_its_stop_loss(owner):
    """Given the ETH/BTC replay's 15 m RSI below 30 at 00:01 on 2018-01-12 and a 0.3 % stop-loss;
    when the bot buys then (at the 00:00 open) and is stopped out at 00:16 (the 00:15 open is 0.39 %
    lower), then at 00:17 (the same candle: the RSI of the closed candles still reads oversold) it
    holds instead of buying back what the exit just sold; the next candle decides afresh."""
    from datetime import UTC, datetime, timedelta

    from bots.engine import tick
    from bots.models import Order
    from tests.engine.factories import make_due

    t = datetime(2018, 1, 12, 0, 1, tzinfo=UTC)
    bot = _bought_then_stopped_out(
        owner,
        t,
        t + timedelta(minutes=15),
        "rsi_oversold",
        exchange="replay",
        symbol="ETH/BTC",
        strategy="rsi",
        params={"period": 14, "oversold": 30, "overbought": 70},
        timeframe="15m",
        override_rules={"stop_loss_pct": 0.003},
    )

    make_due(bot, t + timedelta(minutes=16))
    report = tick.tick_batch(now=t + timedelta(minutes=16))

    assert (report.claimed, report.orders, report.errors) == (1, 0, 0)
    assert report.refused[bot.pk] == "no new entry in the candle of its stop-loss"
    assert Order.objects.filter(bot=bot).count() == 2
    make_due(bot, t + timedelta(minutes=30))  # the next candle (00:30) decides afresh: no refusal
    later = tick.tick_batch(now=t + timedelta(minutes=30))
    assert (later.claimed, later.errors, later.refused) == (1, 0, {})
