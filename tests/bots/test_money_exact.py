"""Money is exact on every backend: stored, compared, added up and summed (bots.moneyfield)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db.models import F, Sum

from bots.models import Bot, Order, Position
from tests.bots.factories import BotFactory, fill

pytestmark = pytest.mark.django_db

AMOUNT = "12345678.123456789012"


def _exact(response) -> dict:
    assert response.status_code in (200, 201), response.content
    return json.loads(response.content, parse_float=Decimal)


def test_an_amount_round_trips_exactly_through_the_api(owner_client):
    params = '{"order_pct": 0.1, "every_ticks": 1, "max_orders": 10, "take_profit_pct": 0.05}'
    body = (
        '{"name": "Exact", "exchange": "simulated", "symbol": "BTC/USDT", "strategy": "dca", '
        f'"params": {params}, "capital": {AMOUNT}}}'
    )
    created = _exact(owner_client.post("/api/bots", body, content_type="application/json"))
    bot_id = created["bot"]["id"]

    read = _exact(owner_client.get(f"/api/bots/{bot_id}"))

    assert read["bot"]["capital"] == Decimal(AMOUNT)
    assert Bot.objects.get(pk=bot_id).capital == Decimal(AMOUNT)


def test_sums_and_updates_of_many_amounts_are_exact(owner, owner_client):
    # Given 40 bots of 12345678.123456789012 each, each with a fill that realizes 0.000000000001 more
    bots = [BotFactory(owner=owner, capital=Decimal(AMOUNT)) for _ in range(40)]
    for bot in bots:
        fill(bot, "buy", AMOUNT, "1")
        fill(bot, "sell", AMOUNT, "1.000000000001")  # +12345678.123456789012e-12 each, after F() updates
    per_bot = Decimal("0.000012345678")  # 12345678.123456789012e-12 at the columns' 12 decimals

    # Then the database's own SUM and the F() updates kept every digit
    totals = Bot.objects.filter(owner=owner).aggregate(capital=Sum("capital"), pnl=Sum("realized_pnl"))
    assert totals == {"capital": 40 * Decimal(AMOUNT), "pnl": 40 * per_bot}
    assert {b.cash_balance for b in Bot.objects.filter(owner=owner)} == {Decimal(AMOUNT) + per_bot}
    # and so do the answers built on them
    summary = _exact(owner_client.get("/api/platforms/summary"))
    assert summary["platforms"][0]["profit_by_currency"] == {"USDT": 40 * per_bot}
    assert _exact(owner_client.get("/api/analytics/summary"))["capital"] == 40 * Decimal(AMOUNT)


def test_comparisons_and_ordering_are_numeric(owner):
    bot = BotFactory(owner=owner)
    for i, quantity in enumerate(["9", "10", "0.000000000001", "0.5", "100.5"]):
        Order.objects.create(bot=bot, client_order_id=f"o{i}", symbol="BTC/USDT", side="buy", quantity=quantity)
    Position.objects.create(bot=bot, symbol="A/B", quantity=Decimal("0"), average_cost=Decimal(0))
    Position.objects.create(bot=bot, symbol="C/D", quantity=Decimal("10"), average_cost=Decimal(0))

    ordered = list(Order.objects.filter(bot=bot).order_by("quantity").values_list("quantity", flat=True))
    assert ordered == [Decimal("1e-12"), Decimal("0.5"), Decimal(9), Decimal(10), Decimal("100.5")]
    assert set(Order.objects.filter(quantity__gt=Decimal("9.5")).values_list("client_order_id", flat=True)) == {
        "o1",
        "o4",
    }
    assert list(Position.objects.filter(bot=bot, quantity__gt=0).values_list("symbol", flat=True)) == ["C/D"]
    assert Order.objects.filter(quantity=Decimal("10.000")).get().client_order_id == "o1"
    assert Order.objects.filter(quantity__lte=F("quantity") * 2).count() == 5


def test_many_rows_written_in_one_statement_keep_every_digit(owner):
    # core.bulk.update_rows: what the engine writes for a group of fills (totals, positions, rollups).
    from core.bulk import update_rows

    bots = [BotFactory(owner=owner) for _ in range(3)]
    rows = [
        {"id": bot.pk, "cash_balance": Decimal(AMOUNT) + i, "realized_pnl": Decimal("-0.000000000001") * i}
        for i, bot in enumerate(bots)
    ]
    update_rows(Bot, rows, ["cash_balance", "realized_pnl"])
    assert [(b.cash_balance, b.realized_pnl) for b in Bot.objects.filter(owner=owner).order_by("pk")] == [
        (row["cash_balance"], row["realized_pnl"]) for row in rows
    ]
    # Rounded to the columns' 12 decimals, as numeric(28, 12) does.
    update_rows(Bot, [{"id": bots[0].pk, "cash_balance": Decimal("1.0000000000005")}], ["cash_balance"])
    assert Bot.objects.get(pk=bots[0].pk).cash_balance == Decimal("1.000000000001")
