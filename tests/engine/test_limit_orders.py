"""Paper limit orders on recorded candles (issue 20, item 2): they rest, and fill exactly when a
candle opening after them crosses their price.

ETH/BTC 5m (shipped recording), 2018-01-13 UTC, as the ticks see it:

    00:00 o=0.09124999 l=0.09083587      00:40 o=0.09149882 h=0.09149988 l=0.09149875
    00:05 o=0.09095831 l=0.09083501      00:45 o=0.09149881 h=0.09149988 l=0.0905
    ...   (every low up to 00:40's > 0.0906)   00:50 o=0.09065397 h=0.09089993
    00:55 h=0.09083986  01:00 h=0.09073278  01:05 h=0.09059997  01:10 o=0.090589 h=0.09128544
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots.engine import tick
from bots.models import Bot, Order, Trade
from bots.services.instructions import REFUSED, instruction_build, instruction_submit
from realtime.models import Event
from tests.engine.factories import running_bot

pytestmark = pytest.mark.django_db

START = datetime(2018, 1, 13, 0, 0, tzinfo=UTC)


def _at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return START + timedelta(hours=int(hours), minutes=int(minutes))


@pytest.fixture
def clock(monkeypatch, settings):
    from django.utils import timezone

    settings.PAPER_FEE_PCT = "0"
    settings.PAPER_SLIPPAGE_PCT = "0"
    now = {"t": START}
    monkeypatch.setattr(timezone, "now", lambda: now["t"])
    return now


@pytest.fixture
def bot(owner) -> Bot:
    # An RSI that never reaches its levels: every order here is the owner's.
    return running_bot(
        owner=owner,
        exchange="replay",
        symbol="ETH/BTC",
        timeframe="5m",
        interval_seconds=300,
        strategy="rsi",
        params={"period": 14, "oversold": 1, "overbought": 99},
        capital=Decimal("1"),
        cash_balance=Decimal("1"),
    )


def _submit(bot, clock, hhmm, **fields):
    clock["t"] = _at(hhmm)
    return instruction_submit(bot_id=bot.pk, instruction=instruction_build(**fields), wait_seconds=0)


def _tick_until(bot, clock, last: str) -> None:
    at = clock["t"] + timedelta(minutes=5)
    while at <= _at(last):
        clock["t"] = at
        assert tick.tick_bot(bot.pk, now=at).errors == 0, Bot.objects.get(pk=bot.pk).last_error
        at += timedelta(minutes=5)


def test_a_limit_buy_rests_until_a_candle_low_reaches_it_then_fills_at_the_limit(bot, clock):
    placed = _submit(bot, clock, "00:00", action="buy", type="limit", price="0.0906", quantity="2")

    assert placed.accepted, placed.reason
    assert (placed.order.status, placed.order.type, placed.order.price) == ("open", "limit", Decimal("0.0906"))
    # 00:40's candle (low 0.09149875) closes at the 00:45 tick: still resting.
    _tick_until(bot, clock, "00:45")
    assert Order.objects.get(pk=placed.order.pk).status == "open"
    assert not Trade.objects.filter(bot=bot).exists()
    # 00:45's candle (low 0.0905) closes at the 00:50 tick: filled, at 0.0906, in that candle.
    _tick_until(bot, clock, "00:50")
    trade = Trade.objects.get(bot=bot)
    assert (trade.side, trade.quantity, trade.price, trade.executed_at) == ("buy", 2, Decimal("0.0906"), _at("00:45"))
    assert trade.reason == "manual"
    assert Order.objects.get(pk=placed.order.pk).status == "filled"


def test_a_limit_sell_fills_when_a_candle_high_reaches_it(bot, clock):
    _submit(bot, clock, "00:50", action="buy", quantity="2")
    placed = _submit(bot, clock, "00:50", action="sell", price="0.0912", quantity="2")
    assert placed.order.status == "open"

    _tick_until(bot, clock, "01:10")  # highs 0.09089993 … 0.09059997: under 0.0912
    assert Order.objects.get(pk=placed.order.pk).status == "open"
    _tick_until(bot, clock, "01:15")  # 01:10's high 0.09128544 reaches it

    sell = Trade.objects.get(bot=bot, side="sell")
    assert (sell.price, sell.quantity, sell.executed_at) == (Decimal("0.0912"), 2, _at("01:10"))


def test_a_marketable_limit_fills_at_once_at_the_better_price(bot, clock):
    placed = _submit(bot, clock, "00:00", action="buy", price="0.0913", quantity="1")

    assert placed.order.status == "filled"
    assert Trade.objects.get(bot=bot).price == Decimal("0.09124999")


def test_cancel_takes_a_resting_order_off_the_book(bot, clock, owner_client):
    placed = _submit(bot, clock, "00:00", action="buy", price="0.08", quantity="1")
    clock["t"] = _at("00:05")

    response = owner_client.delete(f"/api/bots/{bot.pk}/orders/{placed.order.pk}")

    assert response.status_code == 200, response.json()
    assert response.json()["order"]["status"] == "canceled"
    assert Event.objects.filter(type="order_canceled", bot_id=bot.pk).count() == 1
    again = owner_client.delete(f"/api/bots/{bot.pk}/orders/{placed.order.pk}")
    assert again.status_code == 409
    assert "only a resting order can be canceled" in again.json()["error"]["message"]


def test_a_resting_order_holds_other_orders_but_a_close_cancels_it_and_sells(bot, clock):
    _submit(bot, clock, "00:00", action="buy", quantity="2")
    resting = _submit(bot, clock, "00:05", action="sell", price="0.5", quantity="1")

    held = _submit(bot, clock, "00:10", action="buy", quantity="1")
    closed = _submit(bot, clock, "00:15", action="close")

    assert (held.code, held.reason) == (REFUSED, f"order {resting.order.pk} rests (limit sell at 0.5)")
    assert closed.accepted, closed.reason
    assert Order.objects.get(pk=resting.order.pk).status == "canceled"
    sell = Trade.objects.get(bot=bot, side="sell")
    assert (sell.quantity, sell.price) == (2, Decimal("0.09125"))  # 00:15's open, to 12 places
