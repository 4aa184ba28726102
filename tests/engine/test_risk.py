"""Risk rules: the trade limiter's days, staff overrides and every bodyguard trigger, through the tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from bots.engine import market, risk, tick
from bots.models import Bot, Order, Trade
from realtime.models import Event
from tests.bots.factories import fill
from tests.engine.factories import T0, counts, dca_bot, make_due, running_bot

PRICE = Decimal(str(market.price_at("simulated", "BTC/USDT", int(T0.timestamp()))))


def rules(**override) -> risk.Rules:
    return risk.effective_rules(position_size_pct=Decimal("1"), override_rules=override)


# ---------------------------------------------------------------------------
# Trade limiter (pure)
# ---------------------------------------------------------------------------
def test_the_day_is_the_utc_day_whatever_the_input_zone():
    new_york = timezone(timedelta(hours=-5))
    assert risk.utc_day(datetime(2024, 1, 1, 23, 30, tzinfo=new_york)).isoformat() == "2024-01-02"
    assert risk.utc_day(datetime(2024, 1, 2, 0, 30, tzinfo=timezone(timedelta(hours=2)))).isoformat() == "2024-01-01"
    with pytest.raises(ValueError, match="timezone-aware"):
        risk.utc_day(datetime(2024, 1, 1, 12, 0))  # noqa: DTZ001 - the point of the test


def test_the_limiter_counts_per_utc_day_and_resets_at_midnight(settings):
    limit = rules(max_daily_trades=2)
    engine: dict = {}
    before_midnight = datetime(2024, 1, 1, 23, 59, 59, tzinfo=UTC)
    for _ in range(2):
        assert risk.limiter_refusal(limit, engine, before_midnight) == ""
        engine = risk.note_order(engine, before_midnight)
    assert risk.limiter_refusal(limit, engine, before_midnight) == "2 trades today (staff override)"
    midnight = datetime(2024, 1, 2, 0, 0, tzinfo=UTC)
    assert risk.limiter_refusal(limit, engine, midnight) == ""
    # 01:00 in Paris on Jan 2 is still Jan 2 00:00 UTC: the same, new day.
    paris = datetime(2024, 1, 2, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert risk.note_order(engine, paris)["trades"] == 1


def test_the_cooldown_spaces_orders(settings):
    settings.ENGINE_TRADE_COOLDOWN_SECONDS = 300
    engine = risk.note_order({}, T0)
    assert risk.limiter_refusal(rules(), engine, T0 + timedelta(seconds=299)) == "cooldown of 300 s"
    assert risk.limiter_refusal(rules(), engine, T0 + timedelta(seconds=300)) == ""


def test_overrides_win_over_the_bots_own_rules():
    mine = risk.effective_rules(position_size_pct=Decimal("0.5"), override_rules={"position_size_pct": "0.1"})
    assert (mine.position_size_pct, mine.overridden) == (Decimal("0.1"), frozenset({"position_size_pct"}))
    assert risk.effective_rules(position_size_pct=Decimal("0.5"), override_rules={}).position_size_pct == Decimal("0.5")
    assert rules(max_daily_trades=0).max_daily_trades == 0


def test_routes():
    route = risk.order_route
    assert route(trading_mode="paper", in_training=False, venue_is_real=True, trading_enabled=True, halted=True).paper
    assert route(trading_mode="live", in_training=True, venue_is_real=True, trading_enabled=True, halted=False).paper
    assert route(trading_mode="live", in_training=False, venue_is_real=False, trading_enabled=False, halted=True).paper
    halted = route(trading_mode="live", in_training=False, venue_is_real=True, trading_enabled=True, halted=True)
    assert (halted.paper, halted.blocked) == (False, "the fleet is halted by staff")


# ---------------------------------------------------------------------------
# Overrides through the tick
# ---------------------------------------------------------------------------
pytestmark_db = pytest.mark.django_db


@pytestmark_db
def test_max_daily_trades_override_stops_trading_until_the_next_utc_day(owner):
    bot = dca_bot(owner=owner, override_rules={"max_daily_trades": 1})
    late = datetime(2024, 3, 4, 23, 58, tzinfo=UTC)
    make_due(bot, late)
    tick.tick_batch(now=late)
    make_due(bot, late + timedelta(seconds=60))
    report = tick.tick_batch(now=late + timedelta(seconds=60))
    assert report.refused[bot.pk] == "1 trades today (staff override)"
    assert counts(bot) == (1, 1)
    make_due(bot, late + timedelta(seconds=120))  # 00:00 UTC
    tick.tick_batch(now=late + timedelta(seconds=120))
    assert counts(bot) == (2, 2)


@pytestmark_db
def test_max_daily_trades_zero_means_no_new_trades(owner):
    bot = dca_bot(owner=owner, override_rules={"max_daily_trades": 0})
    assert tick.tick_batch(now=T0).refused[bot.pk] == "0 trades today (staff override)"
    assert counts(bot) == (0, 0)


@pytestmark_db
def test_position_size_override_caps_the_buy(owner):
    bot = dca_bot(owner=owner, override_rules={"position_size_pct": 0.05})  # DCA wants 100 of 1000
    tick.tick_batch(now=T0)
    trade = Trade.objects.get(bot=bot)
    assert trade.quantity == (Decimal("50") / PRICE).quantize(Decimal("1e-6"), "ROUND_DOWN")


@pytestmark_db
def test_max_open_positions_override_blocks_new_positions(owner):
    bot = dca_bot(owner=owner, override_rules={"max_open_positions": 0})
    assert tick.tick_batch(now=T0).refused[bot.pk] == "0 open position(s), the limit is 0"
    assert counts(bot) == (0, 0)


@pytestmark_db
@pytest.mark.parametrize(
    ("override", "cost", "reason"),
    [
        ({"stop_loss_pct": 0.05}, PRICE * Decimal("1.10"), "stop_loss"),
        ({"take_profit_pct": 0.05}, PRICE * Decimal("0.9"), "take_profit"),
    ],
)
def test_stop_loss_and_take_profit_overrides_exit_on_the_next_tick(owner, override, cost, reason):
    bot = running_bot(owner=owner, strategy="sma_cross")  # a strategy that would just hold
    fill(bot, "buy", "0.01", cost)
    Bot.objects.filter(pk=bot.pk).update(override_rules=override)
    tick.tick_batch(now=T0)
    order = Order.objects.get(bot=bot, side="sell")
    assert (order.reason, order.quantity, order.status) == (reason, Decimal("0.01"), "filled")


@pytestmark_db
def test_without_overrides_the_same_position_is_held(owner):
    bot = running_bot(owner=owner, strategy="sma_cross")
    fill(bot, "buy", "0.01", PRICE * Decimal("1.10"))
    tick.tick_batch(now=T0)
    assert not Order.objects.filter(bot=bot, side="sell").exists()


# ---------------------------------------------------------------------------
# Bodyguard
# ---------------------------------------------------------------------------
def _paused(bot) -> tuple[str, str]:
    bot.refresh_from_db()
    event = Event.objects.filter(type="bot_paused", bot_id=bot.pk).last()
    assert event is not None and event.payload["reason"] == bot.paused_reason
    return bot.status, bot.paused_reason


@pytestmark_db
def test_bodyguard_pauses_on_drawdown(owner):
    bot = running_bot(owner=owner, cash_balance=Decimal("700"))  # equity 700 of capital 1000
    assert tick.tick_batch(now=T0).paused == [bot.pk]
    assert _paused(bot) == ("paused", "bodyguard: drawdown 30.0% from peak equity exceeds 20%")


@pytestmark_db
def test_bodyguard_drawdown_limit_is_configurable(owner, settings):
    settings.BODYGUARD_MAX_DRAWDOWN_PCT = 0.5
    bot = running_bot(owner=owner, cash_balance=Decimal("700"))
    assert tick.tick_batch(now=T0).paused == []
    bot.refresh_from_db()
    assert bot.status == "running"


@pytestmark_db
def test_bodyguard_pauses_on_a_loss_streak(owner):
    bot = running_bot(owner=owner, strategy="sma_cross", override_rules={"stop_loss_pct": 0.01})
    bot.state = {"engine": {"loss_streak": 4}}
    bot.save()
    fill(bot, "buy", "0.001", PRICE * Decimal("1.02"))  # the stop-loss sale is the fifth loss
    tick.tick_batch(now=T0)
    assert _paused(bot) == ("paused", "bodyguard: 5 losing trades in a row")


@pytestmark_db
def test_bodyguard_pauses_on_three_stop_losses_within_an_hour(owner):
    bot = running_bot(owner=owner, strategy="sma_cross", override_rules={"stop_loss_pct": 0.01})
    t = T0.timestamp()
    bot.state = {"engine": {"stop_losses": [t - 7200, t - 1800, t - 600]}}  # the first is outside the hour
    bot.save()
    fill(bot, "buy", "0.001", PRICE * Decimal("1.02"))
    tick.tick_batch(now=T0)
    assert _paused(bot) == ("paused", "bodyguard: 3 stop-losses within 60 minutes")


def test_one_order_split_into_many_fills_is_one_loss_and_one_stop_loss():
    limits = risk.BodyguardLimits.current()
    engine: dict = {"loss_streak": 1}
    for _ in range(3):  # the venue matched three makers: three fills of one stop-loss order
        engine = risk.note_fill(
            engine, realized=Decimal("-2"), reason="stop_loss", now=T0, limits=limits, order="bf-1-7"
        )
    assert (engine["loss_streak"], engine["stop_losses"]) == (2, [T0.timestamp()])
    later = T0 + timedelta(minutes=5)
    engine = risk.note_fill(
        engine, realized=Decimal("-1"), reason="stop_loss", now=later, limits=limits, order="bf-1-9"
    )
    assert (engine["loss_streak"], engine["stop_losses"]) == (3, [T0.timestamp(), later.timestamp()])
    engine = risk.note_fill(
        engine, realized=Decimal("5"), reason="take_profit", now=later, limits=limits, order="bf-1-12"
    )
    assert engine["loss_streak"] == 0


@pytestmark_db
def test_bodyguard_pauses_after_five_failed_ticks(owner):
    bot = running_bot(owner=owner, exchange="replay", symbol="NOPE/USDT")
    for i in range(5):
        make_due(bot, T0 + timedelta(minutes=i))
        report = tick.tick_batch(now=T0 + timedelta(minutes=i))
    assert report.paused == [bot.pk]
    assert _paused(bot) == ("paused", "bodyguard: 5 failed ticks in a row")
    bot.refresh_from_db()
    assert bot.consecutive_errors == 0  # counting starts afresh after the pause


@pytestmark_db
def test_no_bodyguard_when_disabled(owner, settings):
    settings.DISABLE_AI_BODYGUARD = True
    bot = running_bot(owner=owner, cash_balance=Decimal("100"))
    assert tick.tick_batch(now=T0).paused == []
    bot.refresh_from_db()
    assert bot.status == "running"


@pytestmark_db
def test_a_stop_loss_is_judged_under_the_staff_rules_as_they_are_when_the_order_is_placed(owner, staff, monkeypatch):
    """Given a position 10 % under water and a staff stop-loss of 5 % when the batch is claimed; when
    staff loosen it to 50 % before the order is placed, then no stop-loss sale happens."""
    from adminpanel.services import bot_override

    bot = running_bot(owner=owner, strategy="sma_cross", override_rules={"stop_loss_pct": 0.05})
    fill(bot, "buy", "0.01", PRICE * Decimal("1.10"))
    real = tick._recheck

    def staff_first(bot_, batch):
        bot_override(actor=staff, bot_id=bot.pk, rules={"stop_loss_pct": 0.5})
        return real(bot_, batch)

    monkeypatch.setattr(tick, "_recheck", staff_first)
    report = tick.tick_batch(now=T0)

    assert report.refused[bot.pk] == "the stop-loss no longer applies under the staff rules"
    assert not Order.objects.filter(bot=bot, side="sell").exists()


@pytestmark_db
def test_a_stop_loss_staff_set_before_the_order_replaces_the_strategys_buy(owner, staff):
    """Given a position 10 % under water and no stop-loss when the batch is claimed, and a strategy
    that buys more; when staff set a 5 % stop-loss before the order, then the order is that exit."""
    from adminpanel.services import bot_override
    from bots.engine import strategies
    from tests.engine.test_tick import _stops_the_world

    bot = running_bot(owner=owner)
    fill(bot, "buy", "0.01", PRICE * Decimal("1.10"))
    undo = strategies.override(
        "sma_cross", _stops_the_world(lambda: bot_override(actor=staff, bot_id=bot.pk, rules={"stop_loss_pct": 0.05}))
    )
    try:
        tick.tick_batch(now=T0)
    finally:
        undo()

    order = Order.objects.get(bot=bot, reason__in=["stop_loss", "test"])
    assert (order.side, order.reason, order.quantity, order.status) == ("sell", "stop_loss", Decimal("0.01"), "filled")
