"""The owner's exits on recorded candles (issue 20, item 1): each fires where a hand computation
says, in a backtest and in a paper bot ticking over the same candles (one decision core).

ETH/BTC 5m (shipped recording), from 2018-01-13 00:00 UTC. Candle opens (the price a tick sees):

    00:00 0.09124999   00:05 0.09095831   00:10 0.0912798    00:15 0.09125000000000001
    00:20 0.09129991   00:25 0.09125001   00:30 0.0911       00:35 0.09097599
    00:40 0.09149882   00:45 0.09149881   00:50 0.09065397   00:55 0.09059999
    01:00 0.09049999   01:05 0.09017

A DCA bot (one buy of half its capital, its own take-profit out of reach) buys at 00:00's open;
no fee, no slippage, so its average cost is 0.09124999.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots import candles
from bots.engine import backtest, tick
from bots.models import Bot, Trade
from bots.services import backtests as service
from tests.engine.factories import running_bot

pytestmark = pytest.mark.django_db

FIVE_MIN = 300
START = datetime(2018, 1, 13, 0, 0, tzinfo=UTC)
TICKS = 15  # 00:00 … 01:10
DCA = {"order_pct": 0.5, "every_ticks": 1000, "max_orders": 1, "take_profit_pct": 10}
COST = Decimal("0.09124999")


def _at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return START + timedelta(hours=int(hours), minutes=int(minutes))


def _backtest(rules: dict) -> list[tuple]:
    candles.ensure_shipped()
    config = backtest.Config(
        strategy="dca",
        params=DCA,
        exchange="replay",
        symbol="ETH/BTC",
        timeframe="5m",
        since=int(START.timestamp()),
        until=int((START + timedelta(seconds=FIVE_MIN * (TICKS - 1))).timestamp()),
        capital=Decimal("1"),
        fee_pct=Decimal(0),
        slippage_pct=Decimal(0),
        rules=rules,
    )
    result = backtest.run(config, service.load_rows(config))
    out = []
    for trade in result.ledger.trades:
        at = trade["executed_at"]
        at = datetime.fromisoformat(at.replace("Z", "+00:00")) if isinstance(at, str) else at
        out.append((at, trade["side"], Decimal(str(trade["price"])).normalize(), trade["reason"]))
    return out


def _paper(owner, settings, exits: dict) -> list[tuple]:
    settings.DISABLE_AI_BODYGUARD = True
    settings.PAPER_FEE_PCT = "0"
    settings.PAPER_SLIPPAGE_PCT = "0"
    bot = running_bot(
        owner=owner,
        exchange="replay",
        symbol="ETH/BTC",
        timeframe="5m",
        interval_seconds=FIVE_MIN,
        strategy="dca",
        params=DCA,
        capital=Decimal("1"),
        cash_balance=Decimal("1"),
        **{key: Decimal(value) for key, value in exits.items()},
    )
    for i in range(TICKS):
        report = tick.tick_bot(bot.pk, now=START + timedelta(seconds=FIVE_MIN * i))
        assert report.errors == 0, Bot.objects.get(pk=bot.pk).last_error
    return [
        (t.executed_at, t.side, t.price.normalize(), t.reason)
        for t in Trade.objects.filter(bot=bot).order_by("executed_at", "pk")
    ]


BUY = (_at("00:00"), "buy", COST, "dca_buy")

CASES = {
    # 0.09124999 × 0.99 = 0.0903374901: 01:00's 0.09049999 is above it, 01:05's 0.09017 below.
    "stop_loss": ({"stop_loss_pct": "0.01"}, (_at("01:05"), "sell", Decimal("0.09017"), "stop_loss")),
    # 0.09124999 × 1.002 = 0.09143249: first reached by 00:40's 0.09149882.
    "take_profit": ({"take_profit_pct": "0.002"}, (_at("00:40"), "sell", Decimal("0.09149882"), "take_profit")),
    # Armed at once: the high is the cost, 0.09124999 × 0.997 = 0.09097624; 00:05's 0.09095831 is below.
    "trailing_at_once": (
        {"trailing_stop_pct": "0.003"},
        (_at("00:05"), "sell", Decimal("0.09095831"), "trailing_stop"),
    ),
    # Armed at 0.09143249 (cost × 1.002): 00:10's high 0.0912798 is not; 00:40's 0.09149882 is.
    # Its line is 0.09149882 × 0.995 = 0.0910413259: 00:45's 0.09149881 is above, 00:50's 0.09065397
    # below — above the 1 % stop-loss (0.0903374901), so the trailing stop is the reason.
    "trailing_armed": (
        {"trailing_stop_pct": "0.005", "trailing_arm_pct": "0.002", "stop_loss_pct": "0.01"},
        (_at("00:50"), "sell", Decimal("0.09065397"), "trailing_stop"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_exit_fires_where_the_hand_computation_says_in_a_backtest_and_a_paper_bot(owner, settings, case):
    exits, sell = CASES[case]

    tested = _backtest(exits)
    paper = _paper(owner, settings, exits)

    # The exit sells the position once, where computed; the DCA buys again in the next candle.
    assert tested[:2] == [BUY, sell]
    assert paper[:2] == [BUY, sell]
    assert tested == paper
    sides = [side for _, side, _, _ in tested]
    assert all(a != b for a, b in zip(sides, sides[1:], strict=False)), "never two sells (nor buys) in a row"


def test_a_position_never_sells_twice_when_a_stop_and_a_trail_both_cross(owner, settings):
    # 01:05's 0.09017 is under both the 1 % stop-loss and the 0.5 % trail from 00:40's high; the
    # trail sold the position at 00:50 and nothing is left to sell (the DCA does not buy again).
    exits = {"trailing_stop_pct": "0.005", "trailing_arm_pct": "0.002", "stop_loss_pct": "0.01"}

    paper = _paper(owner, settings, exits)

    assert paper == [BUY, (_at("00:50"), "sell", Decimal("0.09065397"), "trailing_stop")]


def test_an_exit_filled_for_a_position_does_not_fire_again_on_what_is_left():
    from bots.engine import risk

    rules = risk.effective_rules(position_size_pct=Decimal(1), override_rules={}, exits={"stop_loss_pct": "0.01"})
    engine = risk.note_exit({}, reason=risk.STOP_LOSS, candle=1)  # a partial fill of the stop-loss
    left = {"position": Decimal("0.5"), "average_cost": Decimal(100), "price": Decimal(90)}

    assert risk.protective_exit(rules, **left) == risk.STOP_LOSS
    assert risk.protective_exit(rules, **left, engine=engine) == ""
    # Flat again, the next position has its own exits.
    flat = risk.trail(engine, position=Decimal(0), average_cost=Decimal(0), price=Decimal(90))
    assert risk.protective_exit(rules, **left, engine=flat) == risk.STOP_LOSS


def test_staff_overrides_win_only_where_stricter():
    from bots.engine import risk

    own = {"stop_loss_pct": "0.05", "take_profit_pct": "0.02"}
    rules = risk.effective_rules(
        position_size_pct=Decimal(1), override_rules={"stop_loss_pct": "0.02", "take_profit_pct": "0.1"}, exits=own
    )

    assert (rules.stop_loss_pct, rules.take_profit_pct) == (Decimal("0.02"), Decimal("0.02"))
    assert rules.as_dict()["overridden"] == ["stop_loss_pct", "take_profit_pct"]


def test_an_exit_emits_exit_triggered_once_and_its_trade_says_why(owner, settings):
    from realtime.models import Event

    _paper(owner, settings, {"stop_loss_pct": "0.01"})

    event = Event.objects.get(type="exit_triggered")
    assert (event.payload["reason"], event.payload["price"]) == ("stop_loss", "0.09017")
    assert event.payload["order"]["side"] == "sell"
    assert Trade.objects.get(side="sell").reason == "stop_loss"


def test_a_backtest_of_a_bot_runs_with_its_effective_exits(owner):
    from bots.models import Backtest
    from tests.bots.factories import BotFactory

    bot = BotFactory(
        owner=owner,
        exchange="replay",
        symbol="ETH/BTC",
        timeframe="5m",
        strategy="dca",
        params=DCA,
        capital=Decimal("1"),
        stop_loss_pct=Decimal("0.05"),
        trailing_stop_pct=Decimal("0.005"),
        trailing_arm_pct=Decimal("0.002"),
        override_rules={"stop_loss_pct": "0.01"},  # staff: stricter, wins
    )

    run = service.backtest_create(
        user=owner,
        data={
            "bot_id": bot.pk,
            "since": "2018-01-13T00:00:00Z",
            "until": "2018-01-13T01:10:00Z",
            "fee_pct": "0",
            "slippage_pct": "0",
        },
    )
    assert service.backtest_run(run.pk) == "finished"

    run = Backtest.objects.get(pk=run.pk)
    assert run.rules == {"stop_loss_pct": "0.01", "trailing_stop_pct": "0.005", "trailing_arm_pct": "0.002"}
    # The trailing stop sells where the hand computation above says (00:50, at 0.09065397).
    assert [(t["side"], t["reason"]) for t in run.trades] == [("buy", "dca_buy"), ("sell", "trailing_stop")]


def test_a_buy_onto_what_an_exit_left_protects_the_position_again():
    from bots.engine import core, strategies

    engine = {"exited": True, "trail_high": "100"}
    _, after = core.after_fill(
        module=strategies.get("dca"),
        params=DCA,
        strategy_state={},
        engine=engine,
        client_order_id="x",
        side="buy",
        order_reason="manual",
        quantity=Decimal(1),
        price=Decimal(100),
        realized=None,
        exit_candle=1,
        now=START,
        bodyguard=None,
    )

    assert "exited" not in after
