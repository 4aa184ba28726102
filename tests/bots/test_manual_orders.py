"""The owner's exits and manual actions over the API (issue 20, items 1 and 2)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.models import Bot, Order
from realtime.models import Event
from tests.bots.factories import BotFactory
from tests.engine.conftest import frozen  # noqa: F401 - the engine's clock
from tests.engine.factories import running_bot
from tests.envelope import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

VALID = {"name": "Bot-1", "exchange": "simulated", "symbol": "BTC/USDT", "strategy": "sma_cross", "capital": 1000}


def _holding(owner) -> Bot:
    return running_bot(
        owner=owner,
        strategy="rsi",
        params={"period": 14, "oversold": 1, "overbought": 99},
        capital=Decimal("1000"),
        cash_balance=Decimal("1000"),
    )


def test_exits_are_set_on_create_and_shown_with_the_effective_rules(owner_client):
    body = {**VALID, "stop_loss_pct": "0.05", "trailing_stop_pct": 0.02, "trailing_arm_pct": "0.01"}

    bot = owner_client.post("/api/bots", body, format="json").json()["bot"]

    assert (bot["stop_loss_pct"], bot["take_profit_pct"], bot["trailing_stop_pct"]) == (0.05, None, 0.02)
    rules = bot["effective_rules"]
    assert (rules["stop_loss_pct"], rules["trailing_stop_pct"], rules["trailing_arm_pct"]) == ("0.05", "0.02", "0.01")
    assert rules["overridden"] == []


def test_a_stricter_staff_override_wins_and_is_named(owner_client, owner):
    bot = BotFactory(owner=owner, stop_loss_pct=Decimal("0.05"), override_rules={"stop_loss_pct": "0.02"})

    rules = owner_client.get(f"/api/bots/{bot.pk}").json()["bot"]["effective_rules"]

    assert (rules["stop_loss_pct"], rules["overridden"]) == ("0.02", ["stop_loss_pct"])


def test_exits_change_while_the_bot_runs_and_can_be_cleared(owner_client, owner):
    bot = running_bot(owner=owner, take_profit_pct=Decimal("0.1"))

    response = owner_client.patch(
        f"/api/bots/{bot.pk}", {"take_profit_pct": None, "stop_loss_pct": "0.03"}, format="json"
    )

    assert response.status_code == 200, response.json()
    bot.refresh_from_db()
    assert (bot.take_profit_pct, bot.stop_loss_pct) == (None, Decimal("0.03"))


@pytest.mark.parametrize(
    ("field", "value"),
    [("stop_loss_pct", "1"), ("stop_loss_pct", "0"), ("take_profit_pct", "-0.1"), ("trailing_stop_pct", "x")],
)
def test_an_impossible_exit_is_a_400_naming_it(owner_client, field, value):
    response = owner_client.post("/api/bots", {**VALID, field: value}, format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in error["details"]


def test_post_orders_places_a_manual_order_through_the_bots_rules(owner_client, owner):
    bot = _holding(owner)

    response = owner_client.post(f"/api/bots/{bot.pk}/orders", {"side": "buy", "quote_amount": "100"}, format="json")

    assert response.status_code == 201, response.json()
    order = response.json()["order"]
    assert (order["side"], order["type"], order["status"], order["reason"]) == ("buy", "market", "filled", "manual")
    assert Event.objects.filter(type="order_placed", bot_id=bot.pk).exists()


def test_close_sells_the_position_and_a_second_close_is_a_409_saying_why(owner_client, owner):
    bot = _holding(owner)
    owner_client.post(f"/api/bots/{bot.pk}/orders", {"side": "buy", "percent": "10"}, format="json")

    closed = owner_client.post(f"/api/bots/{bot.pk}/close")
    again = owner_client.post(f"/api/bots/{bot.pk}/close")

    assert closed.status_code == 201, closed.json()
    assert closed.json()["order"]["side"] == "sell"
    error = assert_error(again, 409, "ORDER_REFUSED")
    assert error["details"]["reason"] == "nothing to sell"
    rejected = Event.objects.get(type="order_rejected", bot_id=bot.pk)
    assert rejected.payload["reason"] == "nothing to sell"


def test_a_manual_order_on_a_stopped_bot_is_a_409(owner_client, owner):
    bot = BotFactory(owner=owner)

    response = owner_client.post(f"/api/bots/{bot.pk}/orders", {"side": "buy", "quantity": "1"}, format="json")

    error = assert_error(response, 409, "BOT_NOT_RUNNING")
    assert error["details"]["reason"] == "the bot is stopped, not running"
    assert not Order.objects.filter(bot=bot).exists()


def test_the_training_bay_fills_a_live_bots_manual_order_on_paper(owner_client, owner):
    bot = _holding(owner)
    Bot.objects.filter(pk=bot.pk).update(trading_mode="live", in_training=True)

    response = owner_client.post(f"/api/bots/{bot.pk}/orders", {"side": "buy", "quantity": "0.001"}, format="json")

    assert response.status_code == 201, response.json()
    assert Order.objects.get(bot=bot).is_paper


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": "1"}, "side"),
        ({"side": "short", "quantity": "1"}, "side"),
        ({"side": "buy"}, "quantity"),
        ({"side": "buy", "quantity": "1", "quote_amount": "5"}, "quantity"),
        ({"side": "buy", "type": "limit", "quantity": "1"}, "price"),
        ({"side": "sell", "type": "market", "quantity": "1", "price": "3"}, "price"),
        ({"side": "buy", "quantity": "0"}, "quantity"),
        ({"side": "buy", "percent": "101"}, "percent"),
        ({"side": "buy", "quantity": "1e40"}, "quantity"),
    ],
)
def test_a_malformed_order_is_a_400_naming_the_field(owner_client, owner, body, field):
    bot = running_bot(owner=owner)

    response = owner_client.post(f"/api/bots/{bot.pk}/orders", body, format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in error["details"]
    assert not Order.objects.filter(bot=bot).exists()


def test_cancel_of_an_unknown_order_is_a_404(owner_client, owner):
    bot = running_bot(owner=owner)

    assert_error(owner_client.delete(f"/api/bots/{bot.pk}/orders/999999"), 404, "NOT_FOUND")


def test_another_users_order_under_my_bot_is_a_404_and_stays(owner_client, owner, other_user):
    mine = running_bot(owner=owner)
    theirs = BotFactory(owner=other_user)
    order = Order.objects.create(
        bot=theirs,
        client_order_id="theirs-1",
        symbol=theirs.symbol,
        side="buy",
        type="limit",
        quantity=1,
        price=1,
        status="open",
    )

    assert_error(owner_client.delete(f"/api/bots/{mine.pk}/orders/{order.pk}"), 404, "NOT_FOUND")
    assert Order.objects.get(pk=order.pk).status == "open"


def test_a_force_paused_bot_takes_no_manual_order(owner_client, owner):
    bot = _holding(owner)
    Bot.objects.filter(pk=bot.pk).update(status=Bot.Status.PAUSED, force_paused=True)

    response = owner_client.post(f"/api/bots/{bot.pk}/orders", {"side": "buy", "quantity": "0.001"}, format="json")

    error = assert_error(response, 409, "BOT_NOT_RUNNING")
    assert error["details"]["reason"] == "the bot is paused by staff"
