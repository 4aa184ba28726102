"""Engine test helpers: running bots, a controlled clock, order and trade counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bots.models import Bot, Order, Trade
from tests.bots.factories import BotFactory

# A fixed, round moment: every simulated price in these tests is a pure function of it.
T0 = datetime(2024, 3, 4, 12, 0, 0, tzinfo=UTC)


def running_bot(**kwargs) -> Bot:
    """A running bot due at ``T0`` (what ``bot_start`` leaves behind)."""
    kwargs.setdefault("status", Bot.Status.RUNNING)
    kwargs.setdefault("next_tick_at", T0 - timedelta(seconds=1))
    return BotFactory(**kwargs)


def dca_bot(**kwargs) -> Bot:
    """A bot that buys on its first tick (DCA: every tick, 10 % of capital)."""
    kwargs.setdefault("strategy", "dca")
    kwargs.setdefault("params", {"order_pct": 0.1, "every_ticks": 1, "max_orders": 100, "take_profit_pct": 5})
    return running_bot(**kwargs)


def make_due(bot: Bot, at: datetime) -> None:
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=at - timedelta(seconds=1), claimed_until=None)


def counts(bot: Bot) -> tuple[int, int]:
    return Order.objects.filter(bot=bot).count(), Trade.objects.filter(bot=bot).count()


def dec(value) -> Decimal:
    return Decimal(str(value))


def posted_orders(fake) -> int:
    """Orders the fake exchange received."""
    return sum(1 for method, path in fake.requests if method == "POST" and path == "/api/v3/order")
