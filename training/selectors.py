"""Reads of the training bay, scoped to the acting user where a user acts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import BigIntegerField, Exists, Func, QuerySet
from django.utils import timezone

from bots import equity
from bots.engine import market
from bots.models import ZERO, Bot, FleetHalt, Position, Trade
from bots.serializers import money, training_countdown, training_countdown_us, training_remaining_us


@dataclass(frozen=True)
class Countdown:
    hours_elapsed: float
    hours_remaining: float
    eligible: bool


def min_training_hours() -> float:
    """The current ``LIVE_MIN_TRAINING_HOURS``, read on every use (never cached on a bot)."""
    return float(settings.LIVE_MIN_TRAINING_HOURS)


def countdown(bot: Bot, *, now: datetime | None = None) -> Countdown:
    """The bot's quarantine countdown now; a bot outside the bay counts as complete."""
    if not bot.in_training:
        return Countdown(0.0, 0.0, True)
    now = now or timezone.now()
    return Countdown(*training_countdown(bot.training_started_at or now, now, min_training_hours()))


def bay_queryset() -> QuerySet[Bot]:
    """Every user's bots in the bay: live mode, not promoted, not deleted."""
    return Bot.objects.alive().filter(in_training=True, trading_mode=Bot.Mode.LIVE)


class EpochMicroseconds(Func):
    """A timestamp as whole microseconds since 1970 (PostgreSQL): exact, and an integer
    is several times cheaper to load than a ``timestamptz`` (1,000 rows: ~5 ms less)."""

    template = "(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint"
    output_field = BigIntegerField()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def live_bay(*, user, now: datetime | None = None) -> dict:
    """``GET training/live-bay`` (API.md "training"), without the ``success`` flag.

    One query: the user's bay rows (the partial index on in-training bots), carrying the
    fleet-halt switch as an uncorrelated ``EXISTS`` when real-money trading is on (the
    database evaluates it once). An empty bay costs a second, tiny query for the switch.
    """
    now = now or timezone.now()
    hours = min_training_hours()
    queryset = bay_queryset().filter(owner=user).order_by("training_started_at", "id")
    if connection.vendor == "postgresql":
        queryset = queryset.annotate(started_us=EpochMicroseconds("training_started_at"))
        started = "started_us"
    else:
        started = "training_started_at"
    fields = ["id", "name", "exchange", started]
    if settings.ENABLE_TRADING:
        queryset = queryset.annotate(
            fleet_halted=Exists(FleetHalt.objects.filter(pk=FleetHalt.SINGLETON_ID, halted=True))
        )
        fields.append("fleet_halted")
    rows = list(queryset.values_list(*fields))
    halted = False
    if settings.ENABLE_TRADING:
        halted = rows[0][4] if rows else FleetHalt.is_halted()
    now_us = (now - _EPOCH) // _MICROSECOND
    bots = []
    for row in rows:
        start = row[3]
        if start is None:  # not expected in the bay; counts as just started
            start_us = now_us
        elif isinstance(start, int):
            start_us = start
        else:
            start_us = (start - _EPOCH) // _MICROSECOND
        elapsed, remaining, eligible = training_countdown_us(now_us - start_us, hours)
        # Exact, for a countdown that ticks: ``hours_remaining`` is rounded up to 0.1 h.
        seconds_left = training_remaining_us(now_us - start_us, hours) / 1_000_000
        bots.append(
            {
                "id": row[0],
                "name": row[1],
                "exchange": row[2],
                "hours_elapsed": elapsed,
                "hours_remaining": remaining,
                "seconds_remaining": seconds_left,
                "eligible_for_promotion": eligible,
            }
        )
    return {
        "live_mode_active": bool(settings.ENABLE_TRADING and not halted),
        "quarantine_bots": bots,
        "total": len(bots),
        "ready_for_promotion": sum(1 for b in bots if b["eligible_for_promotion"]),
        "min_training_hours": hours,
    }


def training_metrics(bot: Bot, *, now: datetime | None = None) -> dict:
    """How the bot did during its current quarantine period (what autopilot judges).

    Only fills since ``training_started_at`` count for trades and PnL (an open position
    is marked to the market: it is closed at that price on promotion, so its loss is
    real). ``max_drawdown`` is :func:`bots.equity.max_drawdown` — the fall from the peak
    as a percentage of the peak, as everywhere — of the equity marked to market at the
    quarantine's start, after each of its fills and now. Two queries, plus the venue's
    price when a position is open.
    """
    since = bot.training_started_at or now or timezone.now()
    fills = [
        equity.Fill(*row)
        for row in Trade.objects.filter(bot=bot)
        .order_by("executed_at", "id")
        .values_list("executed_at", "symbol", "side", "quantity", "price", "fee_quote", "realized_pnl")
    ]
    training = [f for f in fills if f.at >= since]
    realized = sum((f.realized_pnl or ZERO for f in training), ZERO)
    unrealized = ZERO
    prices: dict[str, Decimal] = {}
    for position in Position.objects.filter(bot=bot, quantity__gt=0):
        price = market.last_price(bot.exchange, position.symbol)
        if price is not None:
            prices[position.symbol] = price
            unrealized += (price - position.average_cost) * position.quantity
    # The drawdown every part of the product measures (bots.equity), on the equity marked
    # to market at the quarantine's start, after each of its fills, and now.
    marks = equity.marks_since(capital=bot.capital, fills=fills, since=since, price_now=prices.get)
    total = realized + unrealized
    return {
        "trades": len(training),
        "pnl": money(total),
        "realized_pnl": money(realized),
        "unrealized_pnl": money(unrealized),
        "max_drawdown": round(equity.max_drawdown([float(m) for m in marks]) * 100, 6),
        "currency": bot.quote_currency,
    }
