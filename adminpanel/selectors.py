"""Staff reads: the fleet dashboard, bot lists, resource usage and the audit trail.

Every list here costs a constant number of queries whatever its length: foreign keys
are joined, per-bot figures come from the daily rollups as subqueries, and per-user
usage comes from the ``UserUsage`` counters, never from counting the big tables.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import BigIntegerField, Count, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import AuditEntry, User, UserUsage
from accounts.usage import COUNTERS, KINDS
from bots.models import Backtest, Bot, BotDailyPnl, FleetHalt, Order, Trade, WorkerHeartbeat
from bots.selectors import overdue_bots_count
from bots.serializers import training_hours
from core.errors import Invalid
from core.flags import feature_flags
from credentials.models import Credential
from realtime.models import Event

logger = logging.getLogger("botfleet.adminpanel")

MB = 1024 * 1024

# ---------------------------------------------------------------------------
# Storage: counts × average row size per kind
# ---------------------------------------------------------------------------
# Where the rows of each kind live (for measuring their size on PostgreSQL).
KIND_MODELS = {
    "bots": Bot,
    "orders": Order,
    "trades": Trade,
    "events": Event,
    "credentials": Credential,
    "audit_entries": AuditEntry,
    "backtests": Backtest,
}

# Estimated bytes per row where they cannot be measured (SQLite, empty tables): the
# PostgreSQL heap tuple of a typical row (23-byte header + columns as ``pg_column_size``
# reports them) measured on seeded data, rounded up. Indexes and TOAST are not
# included: the figures compare users, they are not a disk bill.
ESTIMATED_ROW_BYTES = {
    "bots": 720,
    "orders": 260,
    "trades": 230,
    "events": 640,
    "credentials": 900,
    "audit_entries": 280,
    # A finished run keeps its orders, trades and an equity point per candle as JSON: a
    # 5,760-candle run is about 300 kB (PostgreSQL measures its rows, TOAST included).
    "backtests": 300_000,
}
ROW_SIZES_CACHE_KEY = "adminpanel:row-sizes:v2"  # v2: with backtests
ROW_SIZES_TTL = 3600
ROW_SIZE_SAMPLE = 1000


def _measure_row_bytes(table: str, sample: int = ROW_SIZE_SAMPLE) -> int | None:
    """Average ``pg_column_size`` of the newest rows of ``table`` (a primary-key index scan)."""
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT avg(pg_column_size(t.*)) FROM (SELECT * FROM {quoted} ORDER BY id DESC LIMIT %s) t",  # noqa: S608 - a model's table name
            [sample],
        )
        value = cursor.fetchone()[0]
    return int(round(value)) if value else None


def row_sizes() -> dict[str, int]:
    """Bytes per row for each kind: measured on PostgreSQL (cached an hour), else estimated."""
    if connection.vendor != "postgresql":
        return dict(ESTIMATED_ROW_BYTES)
    sizes = cache.get(ROW_SIZES_CACHE_KEY)
    if sizes is None:
        sizes = {}
        for kind, model in KIND_MODELS.items():
            try:
                # A backtest row is large (its results): a few of them tell its size.
                sample = 20 if kind == "backtests" else ROW_SIZE_SAMPLE
                measured = _measure_row_bytes(model._meta.db_table, sample)
            except DatabaseError:  # pragma: no cover - a table being rewritten, say
                logger.warning("could not measure the row size of %s", kind)
                measured = None
            sizes[kind] = measured or ESTIMATED_ROW_BYTES[kind]
        cache.set(ROW_SIZES_CACHE_KEY, sizes, ROW_SIZES_TTL)
    return sizes


def _mb(count: int, size: int) -> float:
    return round(count * size / MB, 6)


# Sortable columns of the resource list: API name -> annotation.
USAGE_SORT_FIELDS = {
    "user_id": "pk",
    "email": "email",
    "first_name": "first_name",
    "date_joined": "date_joined",
    "total_storage_mb": "total_bytes",
    **{kind: f"n_{kind}" for kind in COUNTERS},
    **{f"{kind}_mb": f"n_{kind}" for kind in KINDS},  # same order: one size per kind
}
DEFAULT_USAGE_SORT = "-total_storage_mb"


class UnknownSort(Invalid):
    """A sort on a column the usage list does not have; names the ones it has."""

    default_code = "VALIDATION_ERROR"

    def __init__(self, sort: str):
        problem = f"unknown column {sort!r}; sort by one of {', '.join(USAGE_SORT_FIELDS)}"
        super().__init__(f"sort: {problem}", details={"sort": [problem]})
        self.sort = sort


def usage_sort_key(sort: str | None) -> str:
    """The ORM ordering for an API sort (``-total_storage_mb``, ``trades``, ``email``, ...)."""
    sort = (sort or DEFAULT_USAGE_SORT).strip()
    descending = sort.startswith("-")
    field = USAGE_SORT_FIELDS.get(sort.lstrip("-"))
    if field is None:
        raise UnknownSort(sort)
    return f"-{field}" if descending else field


def user_usage_list(*, sort: str | None = None, search: str = "") -> QuerySet[User]:
    """Users with ``n_<kind>`` counts and ``total_bytes``, sorted; one query per page.

    Storage is computed in SQL from the counters and the row sizes, so sorting by it is
    a scan of the user and usage tables (two small rows per user), not of the trades.
    """
    sizes = row_sizes()
    order = usage_sort_key(sort)
    counts = {f"n_{kind}": Coalesce(F(f"usage__{kind}"), Value(0), output_field=BigIntegerField()) for kind in COUNTERS}
    total = sum((F(f"n_{kind}") * Value(sizes[kind]) for kind in KINDS), start=Value(0))
    queryset = User.objects.annotate(**counts).annotate(total_bytes=total)
    if search:
        queryset = queryset.filter(Q(email__icontains=search) | Q(first_name__icontains=search))
    return queryset.order_by(order, "pk").only("pk", "email", "first_name", "date_joined", "is_active", "is_staff")


def user_usage_row(user: User, sizes: dict[str, int]) -> dict:
    """A user of :func:`user_usage_list` in the API's shape."""
    breakdown = {
        kind: {"count": getattr(user, f"n_{kind}"), "size_mb": _mb(getattr(user, f"n_{kind}"), sizes[kind])}
        for kind in KINDS
    }
    return {
        "user_id": user.pk,
        "email": user.email,
        "first_name": user.first_name,
        "is_active": user.is_active,
        "storage_breakdown": breakdown,
        "total_records": sum(item["count"] for item in breakdown.values()),
        "backtest_candles": getattr(user, "n_backtest_candles", 0),
        "total_storage_mb": round(user.total_bytes / MB, 6),
    }


def system_totals() -> dict:
    """Totals over every user's counters (two queries: the user count and one aggregate)."""
    sizes = row_sizes()
    sums = UserUsage.objects.aggregate(**{kind: Coalesce(Sum(kind), 0) for kind in COUNTERS})
    totals: dict = {"total_users": User.objects.count()}
    for kind in KINDS:
        totals[f"total_{kind}"] = sums[kind]
        totals[f"total_{kind}_mb"] = _mb(sums[kind], sizes[kind])
    totals["total_backtest_candles"] = sums["backtest_candles"]
    totals["total_storage_mb"] = round(sum(sums[kind] * sizes[kind] for kind in KINDS) / MB, 6)
    totals["row_bytes"] = sizes
    return totals


# ---------------------------------------------------------------------------
# Bots
# ---------------------------------------------------------------------------
def with_today(queryset: QuerySet[Bot]) -> QuerySet[Bot]:
    """Annotate ``trades_today`` and ``profit_today`` from today's rollup (UTC day)."""
    today = timezone.now().date()
    rollup = BotDailyPnl.objects.filter(bot=OuterRef("pk"), day=today)
    return queryset.annotate(
        trades_today=Coalesce(Subquery(rollup.values("trades")[:1]), Value(0)),
        profit_today=Subquery(rollup.values("realized_pnl")[:1]),
    )


def admin_bot_list(
    *,
    status: str = "",
    mode: str = "",
    exchange: str = "",
    user_id: int | None = None,
    force_paused: bool | None = None,
    in_training: bool | None = None,
    search: str = "",
) -> QuerySet[Bot]:
    """Every user's live bots, newest first, owner joined, today's figures annotated."""
    queryset = Bot.objects.alive().select_related("owner")
    if status:
        queryset = queryset.filter(status=status)
    if mode:
        queryset = queryset.filter(trading_mode=mode)
    if exchange:
        queryset = queryset.filter(exchange=exchange)
    if user_id is not None:
        queryset = queryset.filter(owner_id=user_id)
    if force_paused is not None:
        queryset = queryset.filter(force_paused=force_paused)
    if in_training is not None:
        queryset = queryset.filter(in_training=in_training)
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search) | Q(owner__email__icontains=search) | Q(symbol__icontains=search)
        )
    return with_today(queryset).order_by("-created_at", "-pk")


def admin_bot_dict(bot: Bot) -> dict:
    return {
        "id": bot.pk,
        "name": bot.name,
        "user_id": bot.owner_id,
        "owner_email": bot.owner.email,
        "exchange": bot.exchange,
        "symbol": bot.symbol,
        "status": bot.status,
        "trading_mode": bot.trading_mode,
        "in_training": bot.in_training,
        "force_paused": bot.force_paused,
        "paused_reason": bot.paused_reason,
        "total_profit": float(bot.realized_pnl),
        "profit_today": float(getattr(bot, "profit_today", None) or 0),
        "total_trades": bot.total_trades,
        "trades_today": getattr(bot, "trades_today", 0) or 0,
        "override_rules": bot.override_rules,
    }


# ---------------------------------------------------------------------------
# Audit
# ---------------------------------------------------------------------------
def audit_list(
    *,
    actor: str = "",
    action: str = "",
    target_type: str = "",
    target_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """The audit trail, newest first. ``actor`` is a user id or (part of) an email."""
    queryset = AuditEntry.objects.all()
    if actor:
        queryset = (
            queryset.filter(actor_id=int(actor)) if actor.isdigit() else queryset.filter(actor_email__icontains=actor)
        )
    if action:
        queryset = (
            queryset.filter(action__startswith=action) if action.endswith(".") else queryset.filter(action=action)
        )
    if target_type:
        queryset = queryset.filter(target_type=target_type)
    if target_id:
        queryset = queryset.filter(target_id=target_id)
    if since:
        queryset = queryset.filter(created_at__gte=since)
    if until:
        queryset = queryset.filter(created_at__lt=until)
    return queryset.order_by("-created_at", "-id")


def audit_dict(entry: AuditEntry) -> dict:
    return {
        "id": entry.pk,
        "actor_id": entry.actor_id,
        "actor_email": entry.actor_email,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "data": entry.data,
        "ip_address": entry.ip_address,
        "request_id": entry.request_id,
        "created_at": entry.created_at.isoformat(),
    }


# ---------------------------------------------------------------------------
# Fleet halt and the dashboard
# ---------------------------------------------------------------------------
def fleet_halt_dict(halt: FleetHalt | None = None) -> dict:
    halt = halt or FleetHalt.current()
    return {
        "halted": halt.halted,
        "reason": halt.reason,
        "since": halt.since.isoformat() if halt.since else None,
        "by": halt.by_id,
    }


def _engine_state(beats: dict, *, now: datetime) -> dict:
    """The dashboard's engine line: as ``GET status`` (a beating worker whose bots are
    overdue is stalled, not online)."""
    overdue = overdue_bots_count(now=now) if beats["workers"] else 0
    state = "offline" if not beats["workers"] else "stalled" if overdue else "online"
    return {
        "online": state == "online",
        "status": state,
        "overdue_bots": overdue,
        "workers": beats["workers"],
        "last_heartbeat": beats["last"],
    }


def training_bay(now: datetime | None = None) -> list[dict]:
    """Quarantined bots with their countdowns (from the bot's quarantine fields)."""
    now = now or timezone.now()
    rows = []
    bots = Bot.objects.alive().filter(in_training=True).select_related("owner").order_by("training_started_at", "pk")
    for bot in bots[:50]:
        elapsed, remaining = training_hours(bot, now)
        rows.append(
            {
                "bot": bot,
                "hours_elapsed": elapsed,
                "hours_remaining": remaining,
                "eligible": remaining <= 0,
                "ends_at": (
                    bot.training_started_at + timedelta(hours=float(settings.LIVE_MIN_TRAINING_HOURS))
                    if bot.training_started_at
                    else None
                ),
            }
        )
    return rows


def fleet_dashboard() -> dict:
    """Everything the admin index shows, in a fixed number of queries."""
    now = timezone.now()
    by_status_mode = {
        (row["status"], row["trading_mode"]): row["n"]
        for row in Bot.objects.alive().values("status", "trading_mode").annotate(n=Count("id")).order_by()
    }
    statuses = [choice for choice, _ in Bot.Status.choices]
    modes = [choice for choice, _ in Bot.Mode.choices]
    matrix = [
        {"status": status, "counts": [by_status_mode.get((status, mode), 0) for mode in modes]} for status in statuses
    ]
    today = BotDailyPnl.objects.filter(day=now.date()).aggregate(
        trades=Coalesce(Sum("trades"), 0), pnl=Coalesce(Sum("realized_pnl"), Value(Decimal(0)))
    )
    fresh = now - timedelta(seconds=WorkerHeartbeat.ONLINE_SECONDS)
    beats = WorkerHeartbeat.objects.aggregate(
        workers=Count("id", filter=Q(last_seen__gte=fresh)), last=Max("last_seen")
    )
    return {
        "now": now,
        "modes": modes,
        "status_matrix": matrix,
        "total_bots": sum(by_status_mode.values()),
        "force_paused": Bot.objects.alive().filter(force_paused=True).count(),
        "trades_today": today["trades"],
        "profit_today": today["pnl"],
        "engine": _engine_state(beats, now=now),
        "flags": feature_flags(),
        "halt": FleetHalt.current(),
        "training_bay": training_bay(now),
        "min_training_hours": settings.LIVE_MIN_TRAINING_HOURS,
        "recent_audit": list(AuditEntry.objects.order_by("-created_at", "-id")[:15]),
    }
