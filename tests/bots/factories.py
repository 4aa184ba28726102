"""Bots, orders and fills for tests. Fills go through the real service, so positions,
rollups and totals stay consistent with what the engine would produce."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import factory
from django.db import transaction
from django.utils import timezone

from bots import services
from bots.models import Backtest, Bot, Order
from tests.factories import UserFactory


class BotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bot

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Bot-{n}")
    exchange = "simulated"
    symbol = "BTC/USDT"
    symbol_verified = True
    strategy = "sma_cross"
    params = factory.LazyFunction(lambda: {"fast": 10, "slow": 30})
    timeframe = "1m"
    interval_seconds = 60
    trading_mode = Bot.Mode.PAPER
    capital = Decimal("1000")
    cash_balance = factory.SelfAttribute("capital")
    quote_currency = factory.LazyAttribute(lambda o: o.symbol.split("/")[1].split(":")[0])
    status = Bot.Status.STOPPED


class BacktestFactory(factory.django.DjangoModelFactory):
    """A stored backtest row (no run): for isolation, export and admin tests."""

    class Meta:
        model = Backtest

    owner = factory.SubFactory(UserFactory)
    strategy = "rsi"
    exchange = "replay"
    symbol = "ETH/BTC"
    timeframe = "5m"
    since = factory.LazyFunction(timezone.now)
    until = factory.LazyFunction(timezone.now)
    capital = 1000
    fee_pct = 0
    slippage_pct = 0


_fills = iter(range(1, 10**9))


def fill(
    bot: Bot,
    side: str,
    quantity,
    price,
    *,
    fee="0",
    at: datetime | None = None,
    fill_id: str | None = None,
    with_order: bool = False,
):
    """Record one fill as the engine would (optionally with its order)."""
    with transaction.atomic():
        order = None
        if with_order:
            n = next(_fills)
            order = Order.objects.create(
                bot=bot,
                client_order_id=fill_id or f"test-{bot.pk}-{n}",
                symbol=bot.symbol,
                side=side,
                quantity=Decimal(str(quantity)),
                status=Order.Status.SUBMITTED,
            )
        return services.trade_record_fill(
            bot=bot,
            order=order,
            side=side,
            quantity=Decimal(str(quantity)),
            price=Decimal(str(price)),
            fee=Decimal(str(fee)),
            fill_id=fill_id or (order.client_order_id if order else f"fill-{next(_fills)}"),
            executed_at=at,
        )
