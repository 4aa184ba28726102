"""Performance analytics of bots and of a user's fleet.

Conventions (one definition each, shared with the bodyguard and the autopilot through
:mod:`bots.equity`; verified against ``empyrical`` in tests/bots/test_analytics*.py):

* **Equity** is marked to market: cash + open positions × the market price. It is
  sampled at the end of every UTC day of the bot's **running life** — from its creation
  to now (running or paused bots) or to its last tick or fill (stopped, failed or
  deleted bots) — idle days included, and starts at the capital the day before.
  Simulated and replay venues are marked at their price then; real venues keep no price
  history here, so past days mark an open position at its last fill price and the last
  point at the last price the engine saw.
* **Daily returns** are the simple returns of that curve. **Annualisation** uses 365
  periods a year (crypto trades every day); the risk-free rate is 0; standard
  deviations are sample ones (ddof = 1) — empyrical's conventions, to 1e-9.
* ``sharpe_ratio`` = mean / std · √365. ``sortino_ratio`` = mean · 365 / (√mean(min(r, 0)²) · √365).
  ``calmar_ratio`` = annual return (compound, over len/365 years) / max drawdown.
  Each is ``null`` when undefined (fewer than two returns, no dispersion, no downside,
  no drawdown).
* ``max_drawdown`` is the largest fall of equity from its highest point so far, as a
  **percentage** of that peak (12.5 = 12.5 %); the bodyguard and the autopilot's gate
  measure the same (:func:`bots.equity.drawdown`).
* ``total_return`` = last equity / capital − 1, a percentage (unrealized PnL included);
  ``total_pnl`` is realized PnL (net of fees), ``unrealized_pnl`` what the open
  positions would add at the last mark; ``total_pnl_percentage`` = total PnL / capital.
* ``winning_trades`` / ``losing_trades`` count **round trips** (a position opened from
  flat and closed back to flat, however many partial fills it took) by the sign of
  their realized PnL; ``win_rate`` = winning / (winning + losing), a percentage.
  ``total_trades`` counts fills. ``profit_factor`` = gross profit / gross loss of
  closing fills, ``null`` without losses.
* The summary covers the user's bots that exist now and every deleted bot that traded
  (its PnL is part of the past): PnL over the sum of their capitals, and daily returns
  of the summed equity of the bots alive each day (a bot joining or leaving does not
  count as a gain or a loss). ``total_bots``/``active_bots`` count bots that exist now.
* Several quote currencies: everything is converted to ``REPORTING_CURRENCY`` at the
  latest known price (:func:`conversion_rates`); bots whose currency cannot be
  converted are left out of the totals and listed per currency in ``unconverted``.

``analytics/summary`` is cached per user (:func:`user_summary`, :func:`summary_invalidate`).
"""

from __future__ import annotations

import math
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from bots import equity
from bots.engine import market
from bots.engine.market import LOCAL_VENUES
from bots.models import ZERO, Bot, Trade
from bots.serializers import money
from core.cache_outage import CacheOutage

PERIODS_PER_YEAR = 365

# The endpoints' OpenAPI description (the module docstring has the details).
CONVENTIONS = (
    "Equity is marked to market (cash + open positions at the market price) and sampled at the "
    "end of every UTC day of the bot's running life: from its creation to now (running or paused) "
    "or to its last tick or fill (stopped, failed, deleted), idle days included, starting from "
    "the capital. Daily returns are that curve's simple returns; ratios use empyrical's "
    "conventions: 365 periods a year, risk-free rate 0, sample standard deviation (ddof 1); "
    "sortino's downside deviation is the root mean square of the negative returns. "
    "max_drawdown is the largest fall from the peak so far, as a percentage of that peak (the "
    "bodyguard and the autopilot's gate measure the same). total_return includes unrealized "
    "PnL; total_pnl is realized. Trades for win_rate are round trips: a position opened from "
    "flat and closed back to flat, however many partial fills it took; total_trades counts fills."
)
SUMMARY_CONVENTIONS = (
    CONVENTIONS + " The summary covers the user's existing bots and every deleted bot that traded, "
    "in REPORTING_CURRENCY at the latest known rates: PnL over the sum of their capitals; daily "
    "returns of the summed equity of the bots alive on both days of each step (a bot starting or "
    "ending is neither a gain nor a loss). total_bots and active_bots count existing bots."
)


# ---------------------------------------------------------------------------
# Pure functions over a return series
# ---------------------------------------------------------------------------
def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def sharpe_ratio(returns: Sequence[float]) -> float | None:
    n = len(returns)
    if n < 2:
        return None
    mean = sum(returns) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
    return _finite(mean / std * math.sqrt(PERIODS_PER_YEAR)) if std > 0 else None


def sortino_ratio(returns: Sequence[float]) -> float | None:
    n = len(returns)
    if n < 2:
        return None
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / n) * math.sqrt(PERIODS_PER_YEAR)
    if downside == 0:
        return None
    return _finite(sum(returns) / n * PERIODS_PER_YEAR / downside)


def max_drawdown(returns: Sequence[float]) -> float:
    """:func:`bots.equity.max_drawdown` of the curve these returns compound from 1."""
    curve = [1.0]
    for r in returns:
        curve.append(curve[-1] * (1 + r))
    return equity.max_drawdown(curve)


def annual_return(returns: Sequence[float]) -> float | None:
    if not returns:
        return None
    growth = math.prod(1 + r for r in returns)
    if growth <= 0:
        return -1.0
    try:
        return growth ** (PERIODS_PER_YEAR / len(returns)) - 1
    except OverflowError:  # a few days' growth, annualized, beyond a float
        return math.inf


def calmar_ratio(returns: Sequence[float]) -> float | None:
    drawdown = max_drawdown(returns)
    yearly = annual_return(returns)
    if drawdown <= 0 or yearly is None or len(returns) < 2:
        return None
    return _finite(yearly / drawdown)


def _percent(numerator: Decimal, denominator: Decimal) -> float:
    return round(float(numerator / denominator * 100), 4) if denominator else 0.0


@dataclass
class Book:
    """What the numbers of one bot (or of a fleet, summed) are computed from."""

    capital: Decimal
    curve: list[tuple[date, Decimal]]  # daily marked-to-market equity (bots.equity)
    returns: list[float]
    realized_pnl: Decimal
    round_trips: list[Decimal]
    fills: int
    gross_profit: Decimal
    gross_loss: Decimal
    fees: Decimal


def performance(book: Book) -> dict:
    wins = sum(1 for pnl in book.round_trips if pnl > 0)
    losses = sum(1 for pnl in book.round_trips if pnl < 0)
    last = book.curve[-1][1] if book.curve else book.capital
    unrealized = last - book.capital - book.realized_pnl
    return {
        "total_trades": book.fills,
        "winning_trades": wins,
        "losing_trades": losses,
        "win_rate": round(100.0 * wins / (wins + losses), 4) if wins + losses else 0.0,
        "total_pnl": money(book.realized_pnl),
        "total_pnl_percentage": _percent(book.realized_pnl, book.capital),
        "unrealized_pnl": money(unrealized),
        "total_return": _percent(last - book.capital, book.capital),
        "profit_factor": round(float(book.gross_profit / book.gross_loss), 6) if book.gross_loss > 0 else None,
        "max_drawdown": round(max_drawdown(book.returns) * 100, 6),
        "sharpe_ratio": sharpe_ratio(book.returns),
        "sortino_ratio": sortino_ratio(book.returns),
        "calmar_ratio": calmar_ratio(book.returns),
        "gross_profit": money(book.gross_profit),
        "gross_loss": money(book.gross_loss),
        "total_fees": money(book.fees),
        "capital": money(book.capital),
        "days": len(book.returns),
    }


# ---------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------
_FILL_FIELDS = ("bot_id", "executed_at", "symbol", "side", "quantity", "price", "fee_quote", "realized_pnl")


def _fills_by_bot(trades) -> dict[int, list[equity.Fill]]:
    out: dict[int, list[equity.Fill]] = defaultdict(list)
    for bot_id, *row in trades.order_by("executed_at", "id").values_list(*_FILL_FIELDS):
        out[bot_id].append(equity.Fill(*row))
    return out


def life(bot: Bot, fills: Sequence[equity.Fill], *, now: datetime) -> tuple[datetime, datetime]:
    """The bot's running life: creation (or its first fill, if earlier) to now or its last activity."""
    start = min(bot.created_at, fills[0].at) if fills else bot.created_at
    if bot.deleted_at is None and bot.status in (Bot.Status.RUNNING, Bot.Status.PAUSED):
        return start, max(now, start)
    ends = [start, bot.last_tick_at, fills[-1].at if fills else None]
    return start, max(t for t in ends if t is not None)


def _pricer(bot: Bot, end: datetime):
    """Market price of ``symbol`` at a moment, where this installation can know it."""
    if bot.exchange in LOCAL_VENUES:
        return lambda symbol, at: market.last_price(bot.exchange, symbol, at=at)
    # Real venues: only the last price the engine saw, for the last mark.
    return lambda symbol, at: bot.last_price if symbol == bot.symbol and at >= end else None


def bot_curve(bot: Bot, fills: Sequence[equity.Fill], *, now: datetime) -> list[tuple[date, Decimal]]:
    start, end = life(bot, fills, now=now)
    return equity.daily_equity(capital=bot.capital, fills=fills, start=start, end=end, price=_pricer(bot, end))


def _curve_returns(curve: Sequence[tuple[date, Decimal]]) -> list[float]:
    return equity.returns([float(e) for _day, e in curve])


def _book(bot: Bot, fills: list[equity.Fill], *, now: datetime) -> Book:
    curve = bot_curve(bot, fills, now=now)
    gains = [f.realized_pnl for f in fills if f.realized_pnl is not None]
    return Book(
        capital=bot.capital,
        curve=curve,
        returns=_curve_returns(curve),
        realized_pnl=sum(gains, ZERO),
        round_trips=equity.round_trips(fills),
        fills=len(fills),
        gross_profit=sum((g for g in gains if g > 0), ZERO),
        gross_loss=-sum((g for g in gains if g < 0), ZERO),
        fees=sum((f.fee_quote for f in fills), ZERO),
    )


def bot_performance(bot: Bot, *, now: datetime | None = None) -> dict:
    """One query (the bot's fills), plus the venue's prices for the days a position was open."""
    now = now or timezone.now()
    fills = _fills_by_bot(Trade.objects.filter(bot=bot)).get(bot.pk, [])
    result = performance(_book(bot, fills, now=now))
    result["currency"] = bot.quote_currency
    return result


def conversion_rates(currencies: Iterable[str], reporting: str | None = None) -> dict[str, Decimal]:
    """Price of one unit of each currency in ``reporting``, where known (at most one query).

    The latest known price is the last price any bot saw for ``CUR/REPORTING`` (engine
    ticks and fills write ``Bot.last_price``); failing that, the simulated market's
    price for the pairs it lists. Currencies without either are absent.
    """
    reporting = reporting or settings.REPORTING_CURRENCY
    rates = {c: Decimal(1) for c in currencies if c == reporting}
    wanted = {f"{c}/{reporting}": c for c in currencies if c != reporting}
    if not wanted:
        return rates
    seen = (
        Bot.objects.filter(symbol__in=list(wanted), last_price__isnull=False)
        .order_by("symbol", "-updated_at")
        .values_list("symbol", "last_price")
    )
    for symbol, price in seen:
        rates.setdefault(wanted[symbol], price)
    for symbol, currency in wanted.items():
        if currency not in rates and symbol in market.SIMULATED_SYMBOLS:
            rates[currency] = market.last_price("simulated", symbol)
    return rates


def fleet_returns(curves: Iterable[Sequence[tuple[date, Decimal]]]) -> list[float]:
    """Daily returns of the summed equity of the bots alive on both days of each step.

    A bot contributes to a step only while its own curve covers both days, so a bot
    starting (its capital appearing) or ending is not a gain or a loss of the fleet.
    Days on which no bot was alive have no return.
    """
    change: dict[date, Decimal] = defaultdict(Decimal)
    base: dict[date, Decimal] = defaultdict(Decimal)
    for curve in curves:
        for (_before, previous), (day, value) in zip(curve, curve[1:], strict=False):
            change[day] += value - previous
            base[day] += previous
    return [float(change[day] / base[day]) if base[day] > 0 else 0.0 for day in sorted(base)]


def _summary_compute(user, *, now: datetime | None = None) -> dict:
    """``analytics/summary`` from the database: all the user's bots in ``REPORTING_CURRENCY``.

    The bots that exist and the deleted ones that traded count. Three queries (bots, their
    fills, conversion rates), plus the venues' prices for the days positions were open.
    """
    now = now or timezone.now()
    reporting = settings.REPORTING_CURRENCY
    bots = list(Bot.objects.filter(owner=user))
    fills = _fills_by_bot(Trade.objects.filter(bot__owner=user))
    rates = conversion_rates({b.quote_currency for b in bots}, reporting)
    capital = pnl = fees = gross_profit = gross_loss = ZERO
    curves, round_trips, fill_count = [], [], 0
    unconverted: dict[str, dict] = {}
    for bot in bots:
        own = fills.get(bot.pk, [])
        alive = bot.deleted_at is None
        rate = rates.get(bot.quote_currency)
        if rate is None:
            if alive or own:  # the bots the totals count, in their own currency
                entry = unconverted.setdefault(bot.quote_currency, {"bots": 0, "capital": ZERO, "total_pnl": ZERO})
                entry["bots"] += 1
                entry["capital"] += bot.capital
                entry["total_pnl"] += sum((f.realized_pnl or ZERO for f in own), ZERO)
            continue
        if not own and not alive:
            continue
        book = _book(bot, own, now=now)
        capital += bot.capital * rate
        pnl += book.realized_pnl * rate
        fees += book.fees * rate
        gross_profit += book.gross_profit * rate
        gross_loss += book.gross_loss * rate
        curves.append([(day, value * rate) for day, value in book.curve])
        round_trips += book.round_trips
        fill_count += book.fills
    last = sum((curve[-1][1] for curve in curves), ZERO) if curves else capital
    fleet = Book(
        capital=capital,
        curve=[(now.date(), last)],
        returns=fleet_returns(curves),
        realized_pnl=pnl,
        round_trips=round_trips,
        fills=fill_count,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        fees=fees,
    )
    result = performance(fleet)
    result.update(
        currency=reporting,
        total_bots=sum(1 for b in bots if b.deleted_at is None),
        active_bots=sum(1 for b in bots if b.deleted_at is None and b.status == Bot.Status.RUNNING),
        conversion_rates={c: money(r) for c, r in rates.items() if c != reporting},
        unconverted={
            c: {**v, "capital": money(v["capital"]), "total_pnl": money(v["total_pnl"])} for c, v in unconverted.items()
        },
    )
    return result


# ---------------------------------------------------------------------------
# The summary cache
# ---------------------------------------------------------------------------
# An entry is (version, summary). It is served only while the user's version key still
# holds that version: summary_invalidate replaces the version after a write commits, so
# a summary computed from a snapshot older than the write can be stored, but never
# served (with a plain delete, a reader that computed before the commit and stored after
# the delete would serve its stale summary for the whole TTL).
SUMMARY_KEY = "analytics:summary:{user_id}"
SUMMARY_VERSION_KEY = "analytics:summary:{user_id}:version"
# Long, so entries keep hitting; when a version expires or is evicted, its entries miss.
SUMMARY_VERSION_SECONDS = 24 * 3600

# After a cache error this process leaves the summary cache alone for a few seconds:
# a hung Redis would cost a socket timeout per request and per fill.
_outage = CacheOutage("summary cache")


def _cache_usable() -> bool:
    return settings.ANALYTICS_SUMMARY_CACHE_SECONDS > 0 and not _outage.active()


def user_summary(user) -> dict:
    """``analytics/summary``, from the cache when the user's entry is current.

    A hit is one cache round trip (both keys in one ``get_many``). A miss computes
    (:func:`_summary_compute`) and stores the result for ``ANALYTICS_SUMMARY_CACHE_SECONDS``
    under the version it read first. Staleness: the user's own changes retire the entry
    when they commit; other bots' last prices (the conversion rates) may be up to the TTL
    old. A cache outage only costs the computation.
    """
    if not _cache_usable():
        return _summary_compute(user)
    key = SUMMARY_KEY.format(user_id=user.pk)
    version_key = SUMMARY_VERSION_KEY.format(user_id=user.pk)
    try:
        found = cache.get_many([key, version_key])
        version, entry = found.get(version_key), found.get(key)
        if version is not None and entry is not None and entry[0] == version:
            return entry[1]
        # Versions are claimed before computing, so every entry is tagged with a real one.
        if version is None:
            version = secrets.token_hex(8)
            if not cache.add(version_key, version, SUMMARY_VERSION_SECONDS):
                return _summary_compute(user)  # a write retired it meanwhile: not worth a retry
    except Exception as exc:
        if not _outage.tripped_by(exc, "read"):
            raise
        return _summary_compute(user)
    summary = _summary_compute(user)
    try:
        cache.set(key, (version, summary), settings.ANALYTICS_SUMMARY_CACHE_SECONDS)
    except Exception as exc:
        if not _outage.tripped_by(exc, "store"):
            raise
    return summary


def summary_invalidate(user_id: int) -> None:
    """Retire ``user_id``'s cached summary once the current transaction commits.

    Services that change what the summary reads call it inside their transaction: a
    rolled-back change retires nothing, and once the version is replaced no summary
    computed before the commit is served. The write is already committed when this runs,
    so a cache error is logged, never raised (``robust``: not even an unexpected one
    fails the caller).
    """
    if settings.ANALYTICS_SUMMARY_CACHE_SECONDS > 0:
        transaction.on_commit(lambda: _summary_retire(user_id), robust=True)


def _summary_retire(user_id: int) -> None:
    if not _cache_usable():
        return  # during a cache outage: the TTL bounds what this process could not retire
    try:
        cache.set(SUMMARY_VERSION_KEY.format(user_id=user_id), secrets.token_hex(8), SUMMARY_VERSION_SECONDS)
    except Exception as exc:
        if not _outage.tripped_by(exc, "invalidation"):
            raise


def overview(user_id: int) -> dict:
    """The realtime ``overview_update`` provider: ``{active_bots, total_bots, total_profit}``."""
    rows = list(
        Bot.objects.alive()
        .filter(owner_id=user_id)
        .values("quote_currency")
        .annotate(pnl=Sum("realized_pnl"), bots=Count("id"), running=Count("id", filter=Q(status=Bot.Status.RUNNING)))
    )
    rates = conversion_rates([r["quote_currency"] for r in rows])
    return {
        "active_bots": sum(r["running"] for r in rows),
        "total_bots": sum(r["bots"] for r in rows),
        "total_profit": money(
            sum((r["pnl"] * rates[r["quote_currency"]] for r in rows if r["quote_currency"] in rates), ZERO)
        ),
    }


def equity_curve(bot: Bot, *, now: datetime | None = None) -> list[dict]:
    """The marked-to-market daily equity curve (:func:`bot_curve`): capital, then each day's end."""
    fills = _fills_by_bot(Trade.objects.filter(bot=bot)).get(bot.pk, [])
    curve = bot_curve(bot, fills, now=now or timezone.now())
    start, end = life(bot, fills, now=now or timezone.now())
    points = [{"timestamp": start.isoformat(), "equity": money(bot.capital), "pnl": 0}]
    for day, value in curve[1:]:
        at = min(equity.day_end(day), end)
        points.append(
            {"timestamp": at.isoformat(), "day": day.isoformat(), "equity": value, "pnl": value - bot.capital}
        )
    return points
