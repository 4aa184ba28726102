"""Live limit orders through the fake exchange (Binance's shape): placed with their price, polled
and reconciled like market orders, partially filled, canceled on the venue (issue 20, item 2)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from bots.engine import tick
from bots.models import Bot, Order, Position, Trade
from bots.services.instructions import REFUSED, instruction_build, instruction_submit
from realtime.models import Event

pytestmark = pytest.mark.django_db

NEVER = {"period": 14, "oversold": 1, "overbought": 99}  # an RSI that never trades: the orders are the owner's


@pytest.fixture
def bot(live_bot) -> Bot:
    Bot.objects.filter(pk=live_bot.pk).update(strategy="rsi", params=NEVER)
    live_bot.refresh_from_db()
    return live_bot


def _submit(bot, **fields):
    return instruction_submit(bot_id=bot.pk, instruction=instruction_build(**fields), wait_seconds=0)


def test_a_live_limit_buy_rests_on_the_venue_fills_in_parts_and_the_rest_is_canceled(bot, fake_exchange):
    fake_exchange.set_plan([("0.4", None), ("0.6", None)])  # two executions, at the limit

    placed = _submit(bot, action="buy", price="49000", quantity="0.01")

    assert placed.accepted, placed.reason
    cid = placed.order.client_order_id
    venue = fake_exchange.orders[cid]
    assert (venue.type, venue.limit, venue.status, venue.fills) == ("limit", Decimal("49000"), "open", [])
    assert (placed.order.type, placed.order.price, placed.order.status) == ("limit", Decimal("49000"), "submitted")

    # The market reaches 49,000 for 40 %: the next tick reads it by client id and books it.
    fake_exchange.fill_next(cid)
    assert tick.tick_bot(bot.pk).errors == 0
    order = Order.objects.get(pk=placed.order.pk)
    assert (order.status, order.filled_quantity) == ("partially_filled", Decimal("0.004"))
    # While it rests, the bot's other orders wait.
    held = _submit(bot, action="buy", quantity="0.001")
    assert (held.code, held.reason) == (REFUSED, f"order {order.pk} rests (limit buy at 49000)")

    canceled = _submit(bot, action="cancel", order_id=order.pk)

    assert canceled.accepted, canceled.reason
    assert fake_exchange.orders[cid].status == "canceled"
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("canceled", Decimal("0.004"))
    assert list(Trade.objects.filter(bot=bot).values_list("quantity", "price")) == [
        (Decimal("0.004"), Decimal("49000"))
    ]
    assert Position.objects.get(bot=bot).quantity == Decimal("0.004")
    assert Event.objects.filter(type="order_canceled", bot_id=bot.pk).count() == 1


def test_a_cancel_that_comes_after_the_fill_books_the_fill_and_says_so(bot, fake_exchange):
    placed = _submit(bot, action="buy", price="49000", quantity="0.01")
    fake_exchange.fill_next(placed.order.client_order_id)  # filled whole before the owner's cancel arrives

    late = _submit(bot, action="cancel", order_id=placed.order.pk)

    assert late.code == REFUSED
    assert Order.objects.get(pk=placed.order.pk).status == "filled"
    assert Trade.objects.get(bot=bot).quantity == Decimal("0.01")


def test_a_limit_order_whose_answer_was_lost_is_reconciled_by_client_id(bot, fake_exchange):
    from credentials.providers import client_for

    # The worker died after the venue took the order and before it recorded the answer.
    cid = f"bf-{bot.pk}-7"
    client_for(bot.credential).create_order(
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        amount=Decimal("0.002"),
        price=Decimal("48000"),
        client_order_id=cid,
    )
    now = timezone.now()
    order = Order.objects.create(
        bot=bot,
        client_order_id=cid,
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        price=Decimal("48000"),
        quantity=Decimal("0.002"),
        status="unknown",
        is_paper=False,
        created_at=now,
        submitted_at=now,
    )

    tick.tick_bot(bot.pk)
    order.refresh_from_db()
    assert (order.status, order.venue_order_id) == ("submitted", fake_exchange.orders[cid].id)

    fake_exchange.fill_next(cid)
    tick.tick_bot(bot.pk)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", Decimal("0.002"))
    assert Trade.objects.get(order=order).price == Decimal("48000")


def test_close_cancels_a_resting_live_sell_then_sells_the_position_at_market(bot, fake_exchange):
    assert _submit(bot, action="buy", quantity="0.01").accepted
    resting = _submit(bot, action="sell", price="60000", quantity="0.01")
    assert resting.order.status == "submitted"

    closed = _submit(bot, action="close")

    assert closed.accepted, closed.reason
    assert fake_exchange.orders[resting.order.client_order_id].status == "canceled"
    assert Order.objects.get(pk=resting.order.pk).status == "canceled"
    sell = Trade.objects.get(bot=bot, side="sell")
    assert (sell.quantity, sell.price) == (Decimal("0.01"), Decimal("50000"))
    assert Position.objects.get(bot=bot).quantity == 0


def test_the_fleet_halt_stops_a_real_money_manual_order_and_says_so(bot, fake_exchange):
    from bots.models import FleetHalt

    FleetHalt.objects.update_or_create(pk=1, defaults={"halted": True})

    refused = _submit(bot, action="buy", quantity="0.001")

    assert (refused.code, refused.reason) == (REFUSED, "the fleet is halted by staff")
    assert not Order.objects.filter(bot=bot).exists() and not fake_exchange.orders
