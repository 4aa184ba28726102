"""Reads, always scoped to the acting user: another user's bot is unreachable by construction."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, DecimalField, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce
from django.utils import timezone

from bots import venues
from bots.analytics import conversion_rates
from bots.models import Bot, BotDailyPnl, Order, Position, Trade, WorkerHeartbeat
from bots.serializers import money
from core.errors import NotFound
from credentials.exceptions import CredentialDecryptError
from credentials.providers import UnknownProvider
from credentials.selectors import CredentialUnavailable, credential_for_order
from realtime.models import Event

_MONEY = DecimalField(max_digits=28, decimal_places=12)


def _with_profit_today(queryset: QuerySet[Bot], today: date | None = None) -> QuerySet[Bot]:
    today = today or timezone.now().date()
    rollup = BotDailyPnl.objects.filter(bot=OuterRef("pk"), day=today).values("realized_pnl")[:1]
    return queryset.annotate(
        profit_today=Coalesce(Subquery(rollup, output_field=_MONEY), Value(Decimal(0)), output_field=_MONEY)
    )


def bot_list(
    *,
    user,
    status: str | None = None,
    exchange: str | None = None,
    mode: str | None = None,
    today: date | None = None,
) -> QuerySet[Bot]:
    queryset = Bot.objects.of(user)
    if status:
        queryset = queryset.filter(status=status)
    if exchange:
        queryset = queryset.filter(exchange=exchange)
    if mode:
        queryset = queryset.filter(trading_mode=mode)
    return _with_profit_today(queryset, today).order_by("-created_at", "-id")


def bot_page(
    *, user, limit: int, offset: int, status: str | None = None, exchange: str | None = None, mode: str | None = None
) -> tuple[list[Bot], int | None]:
    """One page of ``bot_list`` and the number of rows of all pages, in one query.

    The total is ``None`` when the page is empty (past the end, or no bots at all).
    """
    queryset = bot_list(user=user, status=status, exchange=exchange, mode=mode)
    rows = list(queryset.annotate(total_rows=Window(Count("id")))[offset : offset + limit])
    return rows, (rows[0].total_rows if rows else None)


def bot_rows(*, user, exchange: str | None = None, mode: str | None = None) -> list[Bot]:
    """Every bot of ``bot_list`` (no paging: a platform's drilldown)."""
    return list(bot_list(user=user, exchange=exchange, mode=mode))


def bot_get(*, user, bot_id: int, profit_today: bool = False) -> Bot:
    queryset = Bot.objects.of(user).filter(pk=bot_id)
    bot = (_with_profit_today(queryset) if profit_today else queryset).first()
    if bot is None:
        raise NotFound("Bot not found.")
    return bot


def order_list(*, bot: Bot, status: str | None = None, side: str | None = None) -> QuerySet[Order]:
    queryset = Order.objects.filter(bot=bot)
    if status:
        queryset = queryset.filter(status=status)
    if side:
        queryset = queryset.filter(side=side)
    return queryset.order_by("-created_at", "-id")


def position_list(*, bot: Bot, include_flat: bool = False) -> QuerySet[Position]:
    queryset = Position.objects.filter(bot=bot)
    if not include_flat:
        queryset = queryset.filter(quantity__gt=0)
    return queryset.order_by("symbol")


def trade_list(*, user, bot: Bot | None = None, filters: dict | None = None) -> QuerySet[Trade]:
    """The user's trades (deleted bots' history included unless a bot is named), newest first."""
    queryset = Trade.objects.filter(bot=bot) if bot is not None else Trade.objects.filter(owner=user)
    filters = filters or {}
    if filters.get("bot_id"):
        queryset = queryset.filter(bot_id=filters["bot_id"])
    if filters.get("symbol"):
        queryset = queryset.filter(symbol=filters["symbol"].strip().upper())
    if filters.get("side"):
        queryset = queryset.filter(side=filters["side"])
    if filters.get("since"):
        queryset = queryset.filter(executed_at__gte=filters["since"])
    if filters.get("until"):
        queryset = queryset.filter(executed_at__lt=filters["until"])
    return queryset.order_by("-executed_at", "-id")


def bot_events(*, user, bot: Bot) -> QuerySet[Event]:
    return Event.objects.filter(user=user, bot_id=bot.pk).order_by("-id")


def platforms_summary(*, user) -> list[dict]:
    """Per venue: bot counts by status and mode, profit per quote currency and in the
    reporting currency. Two queries (the grouping, the conversion rates)."""
    rows = list(
        Bot.objects.of(user)
        .values("exchange", "quote_currency")
        .annotate(
            bots=Count("id"),
            profit=Sum("realized_pnl"),
            trades=Sum("total_trades"),
            **{f"status_{s}": Count("id", filter=Q(status=s)) for s in Bot.Status.values},
            **{f"mode_{m}": Count("id", filter=Q(trading_mode=m)) for m in Bot.Mode.values},
        )
        .order_by("exchange", "quote_currency")
    )
    rates = conversion_rates({r["quote_currency"] for r in rows})
    venues: dict[str, dict] = {}
    for row in rows:
        venue = venues.setdefault(
            row["exchange"],
            {
                "platform": row["exchange"],
                "total_bots": 0,
                "total_trades": 0,
                "by_status": dict.fromkeys(Bot.Status.values, 0),
                "by_mode": dict.fromkeys(Bot.Mode.values, 0),
                "total_profit": Decimal(0),
                "profit_by_currency": {},
                "unconverted": {},
            },
        )
        venue["total_bots"] += row["bots"]
        venue["total_trades"] += row["trades"]
        for s in Bot.Status.values:
            venue["by_status"][s] += row[f"status_{s}"]
        for m in Bot.Mode.values:
            venue["by_mode"][m] += row[f"mode_{m}"]
        venue["profit_by_currency"][row["quote_currency"]] = row["profit"]
        rate = rates.get(row["quote_currency"])
        if rate is None:
            venue["unconverted"][row["quote_currency"]] = row["profit"]
        else:
            venue["total_profit"] += row["profit"] * rate
    for venue in venues.values():
        venue["active_bots"] = venue["by_status"]["running"]
        venue["total_profit"] = money(venue["total_profit"])
        venue["profit_by_currency"] = {c: money(v) for c, v in venue["profit_by_currency"].items()}
    return list(venues.values())


def overdue_grace() -> timedelta:
    """How late a due bot may be before it counts as not being ticked: a killed worker's
    lease must expire, then beat dispatches it again (a few dispatch periods)."""
    lease = settings.ENGINE_LEASE_SECONDS
    dispatch = settings.ENGINE_DISPATCH_SECONDS
    return timedelta(seconds=lease + 3 * dispatch)


def overdue_bots_count(*, now) -> int:
    """Running bots whose tick is overdue by more than ``overdue_grace()``."""
    return Bot.objects.alive().filter(status=Bot.Status.RUNNING, next_tick_at__lt=now - overdue_grace()).count()


def engine_status() -> dict:
    """``GET status``: is the engine ticking bots? Never raises.

    ``online``: a worker heartbeat is fresher than 30 s and no running bot is overdue;
    ``stalled``: workers beat but due bots are not being ticked (a wedged worker, a
    broken broker, dispatch off); ``offline``: no fresh heartbeat.
    """
    now = timezone.now()
    fresh = now - timedelta(seconds=WorkerHeartbeat.ONLINE_SECONDS)
    try:
        beats = WorkerHeartbeat.objects.aggregate(
            workers=Count("id", filter=Q(last_seen__gte=fresh)), last=Max("last_seen")
        )
        running = Bot.objects.alive().filter(status=Bot.Status.RUNNING).count()
        overdue = overdue_bots_count(now=now) if running else 0
    except DatabaseError:
        return {
            "status": "offline",
            "workers": 0,
            "last_heartbeat": None,
            "running_bots": None,
            "overdue_bots": None,
            "database": "unavailable",
        }
    state = "offline" if not beats["workers"] else "stalled" if overdue else "online"
    return {
        "status": state,
        "workers": beats["workers"],
        "last_heartbeat": beats["last"].isoformat() if beats["last"] else None,
        "running_bots": running,
        "overdue_bots": overdue,
    }


def bot_live_key_problem(bot: Bot) -> str | None:
    """Why the bot could not place a real order on its venue now, or None.

    Local venues (``simulated``, ``replay``) need no keys. Otherwise the same lookup the
    engine makes for a live order must succeed (right venue, a *live* set, decryptable).
    """
    if not venues.is_real(bot.exchange):
        return None
    try:
        credential_for_order(user=bot.owner, provider=bot.exchange, purpose="live", credential_id=bot.credential_id)
    except (CredentialUnavailable, CredentialDecryptError, NotFound, UnknownProvider) as exc:
        return f"no usable live key set for {bot.exchange} ({exc})"
    return None
