"""Performance analytics, computed from the daily rollups (never by scanning trades).

Conventions (API.md "bots"; verified against ``empyrical`` in tests/bots/test_analytics.py):

* **Equity** is capital + cumulative realized PnL (quote currency). Unrealized PnL is
  not part of it: the rollups hold realized figures only.
* **Daily returns** are equity returns over consecutive UTC days from the first day
  with a fill to the last one; days without fills are 0 returns. The first return is
  measured against the capital.
* **Annualisation** uses 365 periods a year (crypto trades every day); the risk-free
  rate is 0; standard deviations are sample ones (ddof = 1).
* ``sharpe_ratio`` = mean / std · √365. ``sortino_ratio`` = mean · 365 / (√mean(min(r, 0)²) · √365).
  ``calmar_ratio`` = annual return (compound, over len/365 years) / |max drawdown|.
  Each is ``null`` when undefined (fewer than two returns, no dispersion, no downside,
  no drawdown).
* ``max_drawdown`` is the largest peak-to-trough fall of equity, as a positive
  **percentage** (12.5 = 12.5 %), the capital counting as the first peak.
* ``win_rate`` = winning / (winning + losing) closing fills, a percentage.
  ``total_pnl_percentage`` = total PnL / capital, a percentage.
  ``profit_factor`` = gross profit / gross loss, ``null`` without losses.
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
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum

from accounts.api.cache_outage import CacheOutage
from bots import market_data
from bots.models import ZERO, Bot, BotDailyPnl
from bots.serializers import money

PERIODS_PER_YEAR = 365


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
    """The largest fall from a peak as a fraction (0.125), the start counting as a peak."""
    equity = peak = 1.0
    worst = 0.0
    for r in returns:
        equity *= 1 + r
        peak = max(peak, equity)
        worst = max(worst, (peak - equity) / peak)
    return worst


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


def daily_returns(capital: Decimal, daily_pnl: Iterable[tuple[date, Decimal]]) -> list[float]:
    """Returns of equity (capital + cumulative PnL) per UTC day, gaps filled with zeros."""
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    for day, pnl in daily_pnl:
        by_day[day] += pnl
    if not by_day or capital <= 0:
        return []
    day, last = min(by_day), max(by_day)
    equity = capital
    out = []
    while day <= last:
        new_equity = equity + by_day.get(day, ZERO)
        out.append(float(new_equity / equity - 1) if equity > 0 else 0.0)
        equity = new_equity
        day += timedelta(days=1)
    return out


def _percent(numerator: Decimal, denominator: Decimal) -> float:
    return round(float(numerator / denominator * 100), 4) if denominator else 0.0


def performance(
    *,
    capital: Decimal,
    daily_pnl: Sequence[tuple[date, Decimal]],
    total_pnl: Decimal,
    wins: int,
    losses: int,
    trades: int,
    gross_profit: Decimal,
    gross_loss: Decimal,
    fees: Decimal,
) -> dict:
    returns = daily_returns(capital, daily_pnl)
    return {
        "total_trades": trades,
        "winning_trades": wins,
        "losing_trades": losses,
        "win_rate": round(100.0 * wins / (wins + losses), 4) if wins + losses else 0.0,
        "total_pnl": money(total_pnl),
        "total_pnl_percentage": _percent(total_pnl, capital),
        "profit_factor": round(float(gross_profit / gross_loss), 6) if gross_loss > 0 else None,
        "max_drawdown": round(max_drawdown(returns) * 100, 6),
        "sharpe_ratio": sharpe_ratio(returns),
        "sortino_ratio": sortino_ratio(returns),
        "calmar_ratio": calmar_ratio(returns),
        "gross_profit": money(gross_profit),
        "gross_loss": money(gross_loss),
        "total_fees": money(fees),
        "capital": money(capital),
        "days": len(returns),
    }


# ---------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------
def bot_performance(bot: Bot) -> dict:
    """Two queries: the bot's rollups (aggregated) and their daily series."""
    rows = list(
        BotDailyPnl.objects.filter(bot=bot)
        .order_by("day")
        .values_list("day", "realized_pnl", "gross_profit", "gross_loss")
    )
    result = performance(
        capital=bot.capital,
        daily_pnl=[(day, pnl) for day, pnl, _gp, _gl in rows],
        total_pnl=bot.realized_pnl,
        wins=bot.winning_trades,
        losses=bot.losing_trades,
        trades=bot.total_trades,
        gross_profit=sum((gp for _d, _p, gp, _gl in rows), ZERO),
        gross_loss=sum((gl for _d, _p, _gp, gl in rows), ZERO),
        fees=bot.total_fees,
    )
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
        if currency not in rates and symbol in market_data.SIMULATED_SYMBOLS:
            rates[currency] = market_data.last_price("simulated", symbol)
    return rates


def _summary_compute(user) -> dict:
    """``analytics/summary`` from the database: all the user's bots in ``REPORTING_CURRENCY``.

    Two queries, three when a conversion rate has to be looked up.
    """
    reporting = settings.REPORTING_CURRENCY
    totals = list(
        Bot.objects.of(user)
        .values("quote_currency")
        .annotate(
            capital=Sum("capital"),
            pnl=Sum("realized_pnl"),
            fees=Sum("total_fees"),
            trades=Sum("total_trades"),
            wins=Sum("winning_trades"),
            losses=Sum("losing_trades"),
            bots=Count("id"),
            running=Count("id", filter=Q(status=Bot.Status.RUNNING)),
        )
    )
    rates = conversion_rates([row["quote_currency"] for row in totals], reporting)
    daily = (
        BotDailyPnl.objects.filter(bot__owner=user, bot__deleted_at__isnull=True)
        .values("bot__quote_currency", "day")
        .annotate(pnl=Sum("realized_pnl"), gp=Sum("gross_profit"), gl=Sum("gross_loss"))
        .order_by("day")
    )
    capital = pnl = fees = gross_profit = gross_loss = ZERO
    trades = wins = losses = bots = running = 0
    unconverted: dict[str, dict] = {}
    for row in totals:
        currency = row["quote_currency"]
        bots += row["bots"]
        running += row["running"]
        rate = rates.get(currency)
        if rate is None:
            unconverted[currency] = {"bots": row["bots"], "capital": row["capital"], "total_pnl": row["pnl"]}
            continue
        capital += row["capital"] * rate
        pnl += row["pnl"] * rate
        fees += row["fees"] * rate
        trades += row["trades"]
        wins += row["wins"]
        losses += row["losses"]
    series: list[tuple[date, Decimal]] = []
    for row in daily:
        rate = rates.get(row["bot__quote_currency"])
        if rate is None:
            continue
        series.append((row["day"], row["pnl"] * rate))
        gross_profit += row["gp"] * rate
        gross_loss += row["gl"] * rate
    result = performance(
        capital=capital,
        daily_pnl=series,
        total_pnl=pnl,
        wins=wins,
        losses=losses,
        trades=trades,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        fees=fees,
    )
    result.update(
        currency=reporting,
        total_bots=bots,
        active_bots=running,
        conversion_rates={c: money(r) for c, r in rates.items() if c != reporting},
        unconverted=unconverted,
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


def equity_curve(bot: Bot) -> list[dict]:
    """Capital at creation, then end-of-day equity for each UTC day with fills."""
    points = [{"timestamp": bot.created_at.isoformat(), "equity": money(bot.capital), "pnl": 0}]
    equity = bot.capital
    cumulative = ZERO
    for day, pnl in BotDailyPnl.objects.filter(bot=bot).order_by("day").values_list("day", "realized_pnl"):
        equity += pnl
        cumulative += pnl
        points.append(
            {
                "timestamp": f"{(day + timedelta(days=1)).isoformat()}T00:00:00+00:00",
                "day": day.isoformat(),
                "equity": equity,
                "pnl": cumulative,
            }
        )
    return points
