"""Acting on a bot at once (issue 20, item 2): instructions injected into the tick path."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.models import Bot, Order, Trade
from bots.services.instructions import BUSY, NOT_RUNNING, REFUSED, instruction_build, instruction_submit
from core.errors import Invalid
from realtime.models import Event
from tests.engine.factories import T0, running_bot

pytestmark = pytest.mark.django_db


def _hold_bot(owner, **kwargs) -> Bot:
    # A grid far below the price never trades by itself: whatever happens is the instruction's doing.
    kwargs.setdefault("strategy", "grid")
    kwargs.setdefault("params", {"lower": 1, "upper": 2, "levels": 2})
    return running_bot(owner=owner, capital=Decimal("1000"), cash_balance=Decimal("1000"), **kwargs)


def test_a_manual_market_buy_is_placed_filled_and_recorded_as_manual(owner, frozen):
    bot = _hold_bot(owner)

    result = instruction_submit(
        bot_id=bot.pk, instruction=instruction_build(action="buy", quote_amount="100"), wait_seconds=0
    )

    assert result.accepted, result.reason
    order = Order.objects.get(bot=bot)
    assert (order.status, order.reason, order.type) == ("filled", "manual", "market")
    trade = Trade.objects.get(bot=bot)
    assert trade.reason == "manual"
    assert trade.quantity * trade.price == pytest.approx(Decimal("100"), rel=Decimal("1e-3"))
    assert Event.objects.filter(type="order_placed", bot_id=bot.pk).count() == 1


def test_a_paper_market_order_is_placed_and_filled_in_one_transaction_its_event_first(owner, frozen):
    bot = _hold_bot(owner)

    instruction_submit(bot_id=bot.pk, instruction=instruction_build(action="buy", quote_amount="100"), wait_seconds=0)

    placed, traded = (Event.objects.get(type=kind, bot_id=bot.pk) for kind in ("order_placed", "trade_executed"))
    assert placed.pk < traded.pk  # published in that order
    assert placed.payload["order"]["status"] == "new"  # the order as placed; its trade says filled
    assert placed.payload["instruction"]["quote_amount"] == "100"


def test_a_paper_order_whose_books_fail_leaves_no_order_and_no_event(owner, frozen, monkeypatch):
    from bots.services import orders

    bot = _hold_bot(owner)

    def refuse(entries):
        raise RuntimeError("the books failed")

    monkeypatch.setattr(orders, "fills_book", refuse)
    result = instruction_submit(
        bot_id=bot.pk, instruction=instruction_build(action="buy", percent="10"), wait_seconds=0
    )

    assert not result.accepted
    assert not Order.objects.filter(bot=bot).exists()
    assert not Event.objects.filter(bot_id=bot.pk, type__in=("order_placed", "trade_executed")).exists()


def test_close_sells_the_whole_position_once(owner, frozen):
    bot = _hold_bot(owner)
    instruction_submit(bot_id=bot.pk, instruction=instruction_build(action="buy", quote_amount="250"), wait_seconds=0)
    bought = Trade.objects.get(bot=bot).quantity

    closed = instruction_submit(bot_id=bot.pk, instruction=instruction_build(action="close"), wait_seconds=0)
    again = instruction_submit(bot_id=bot.pk, instruction=instruction_build(action="close"), wait_seconds=0)

    assert closed.accepted, closed.reason
    sell = Trade.objects.get(bot=bot, side="sell")
    assert (sell.quantity, sell.reason) == (bought, "manual")
    assert (again.code, again.order) == (REFUSED, None)
    assert Trade.objects.filter(bot=bot, side="sell").count() == 1
    assert Event.objects.filter(type="order_rejected", bot_id=bot.pk).count() == 1


def test_a_stopped_bot_refuses_and_says_so(owner, frozen):
    bot = _hold_bot(owner, status=Bot.Status.STOPPED)

    result = instruction_submit(bot_id=bot.pk, instruction=instruction_build(action="buy", percent="10"))

    assert (result.code, result.reason) == (NOT_RUNNING, "the bot is stopped, not running")
    assert not Order.objects.filter(bot=bot).exists()
    event = Event.objects.get(type="order_rejected", bot_id=bot.pk)
    assert event.payload["code"] == NOT_RUNNING


def test_a_bot_another_worker_holds_is_busy_after_the_wait(owner, frozen):
    from datetime import timedelta

    bot = _hold_bot(owner, claimed_until=T0 + timedelta(seconds=60))

    result = instruction_submit(
        bot_id=bot.pk, instruction=instruction_build(action="buy", percent="10"), wait_seconds=0
    )

    assert result.code == BUSY
    assert not Order.objects.filter(bot=bot).exists()


def test_a_bot_stopped_while_another_worker_held_it_is_refused_as_not_running(owner, frozen, monkeypatch):
    from datetime import timedelta

    bot = _hold_bot(owner, claimed_until=T0 + timedelta(seconds=60))
    waits = []

    def stop_meanwhile(seconds):  # while this instruction waits for the other worker, the owner stops the bot
        waits.append(seconds)
        Bot.objects.filter(pk=bot.pk).update(status=Bot.Status.STOPPED)

    monkeypatch.setattr("bots.services.instructions.time.sleep", stop_meanwhile)

    result = instruction_submit(
        bot_id=bot.pk, instruction=instruction_build(action="buy", percent="10"), wait_seconds=30
    )

    assert len(waits) == 1
    assert (result.code, result.reason) == (NOT_RUNNING, "the bot is stopped, not running")
    assert not Order.objects.filter(bot=bot).exists()


def test_the_trade_limiter_holds_manual_orders_too(owner, frozen, settings):
    settings.ENGINE_MAX_DAILY_TRADES = 1
    bot = _hold_bot(owner)
    first = instruction_submit(bot_id=bot.pk, instruction=instruction_build(action="buy", quote_amount="10"))

    second = instruction_submit(bot_id=bot.pk, instruction=instruction_build(action="buy", quote_amount="10"))

    assert first.accepted
    assert (second.code, second.reason) == (REFUSED, "1 trades today (daily limit)")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"action": "hold"}, "action"),
        ({"action": "buy"}, "quantity"),
        ({"action": "buy", "quantity": "1", "percent": "5"}, "quantity"),
        ({"action": "buy", "percent": "150"}, "percent"),
        ({"action": "buy", "quantity": "-1"}, "quantity"),
        ({"action": "buy", "quantity": "1", "type": "limit"}, "price"),
        ({"action": "buy", "quantity": "1", "type": "market", "price": "5"}, "price"),
        ({"action": "close", "quantity": "1"}, "quantity"),
        ({"action": "cancel"}, "order_id"),
        ({"action": "buy", "quantity": "NaN"}, "quantity"),
        ({"action": "buy", "quantity": "1", "reason": "whim"}, "reason"),
    ],
)
def test_a_malformed_instruction_is_invalid_naming_the_field(fields, field):
    with pytest.raises(Invalid) as caught:
        instruction_build(**fields)
    assert field in caught.value.details


def test_the_same_source_id_places_one_order(owner, frozen):
    bot = _hold_bot(owner)
    instruction = instruction_build(action="buy", quote_amount="10", reason="signal", source_id="sig-42")

    first = instruction_submit(bot_id=bot.pk, instruction=instruction)
    again = instruction_submit(bot_id=bot.pk, instruction=instruction)

    assert first.accepted and again.accepted
    assert first.order.pk == again.order.pk
    assert first.order.client_order_id == f"bf-{bot.pk}-ssig-42"
    assert Order.objects.filter(bot=bot).count() == 1
