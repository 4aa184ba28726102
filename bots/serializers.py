"""Input shapes (DRF serializers) and output shapes (plain functions, for speed).

Output goes through small dict builders rather than DRF ``Serializer``s: list
endpoints render hundreds of rows and DRF's field machinery is where their time went
(DESIGN.md "Measured"). The documentation serializers below describe the same shapes
for the OpenAPI schema; ``tests/bots`` checks that they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import orjson
from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from bots import lifecycle
from bots.models import Bot, Order, Position, Trade
from bots.strategies import DEFAULT_INTERVAL_SECONDS, DEFAULT_STRATEGY, DEFAULT_TIMEFRAME, STRATEGIES, TIMEFRAMES
from bots.venues import DEFAULT_VENUE, default_timeframe
from core.limits import MAX_ID
from core.query import QuerySerializer

MAX_MONEY = Decimal("1e15")


# ---------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------
class ParamsField(serializers.Field):
    """A JSON object, or (form-data, urlencoded) a string holding one."""

    default_error_messages = {"invalid": "must be a JSON object"}

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = orjson.loads(data) if data.strip() else {}
            except orjson.JSONDecodeError:
                self.fail("invalid")
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=28, decimal_places=12, coerce_to_string=False, **kwargs)


def _exit_pct(high: Decimal, help_text: str, *, low=Decimal("0.000001")) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=8,
        decimal_places=6,
        min_value=Decimal(low),
        max_value=high,
        required=False,
        allow_null=True,
        help_text=help_text,
    )


class BotWriteSerializer(serializers.Serializer):
    """Fields of POST bots and PATCH bots/{id}. ``platform`` and ``mode`` are aliases."""

    name = serializers.CharField(max_length=100, trim_whitespace=True)
    exchange = serializers.CharField(max_length=64, required=False)
    platform = serializers.CharField(max_length=64, required=False, write_only=True)
    symbol = serializers.CharField(max_length=64)
    strategy = serializers.ChoiceField(choices=sorted(STRATEGIES), required=False)
    params = ParamsField(required=False)
    timeframe = serializers.ChoiceField(
        choices=list(TIMEFRAMES),
        required=False,
        help_text=(
            "Candle timeframe of the strategy (default 1m). On the replay venue it must be the recording's "
            "own timeframe or a multiple of it (a finer candle would carry a future close: 400 naming "
            "timeframe); a replay bot created without one gets its recording's (5m for the shipped ones)."
        ),
    )
    interval_seconds = serializers.IntegerField(min_value=1, max_value=86400, required=False)
    trading_mode = serializers.ChoiceField(choices=Bot.Mode.values, required=False)
    mode = serializers.ChoiceField(choices=Bot.Mode.values, required=False, write_only=True)
    capital = _money(min_value=Decimal("0.000000000001"), max_value=MAX_MONEY)
    position_size_pct = serializers.DecimalField(
        max_digits=8, decimal_places=6, min_value=Decimal("0.000001"), max_value=Decimal("1"), required=False
    )
    credential_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    # The owner's exits, fractions (0.05 = 5 %); null clears one. Editable while the bot runs.
    stop_loss_pct = _exit_pct(Decimal("0.999999"), "sell when the price falls this far below the average cost")
    take_profit_pct = _exit_pct(Decimal("100"), "sell when the price rises this far above the average cost")
    trailing_stop_pct = _exit_pct(
        Decimal("0.999999"), "sell when the price falls this far below its highest since the position opened"
    )
    trailing_arm_pct = _exit_pct(
        Decimal("100"), "the trailing stop starts once the price rose this far above the average cost", low=0
    )

    def validate_capital(self, value: Decimal) -> Decimal:
        if value <= 0:
            raise serializers.ValidationError("must be greater than zero")
        return value

    def validate(self, attrs: dict) -> dict:
        if "platform" in attrs:
            attrs.setdefault("exchange", attrs.pop("platform"))
        if "mode" in attrs:
            attrs.setdefault("trading_mode", attrs.pop("mode"))
        if "exchange" in attrs:
            attrs["exchange"] = attrs["exchange"].strip().lower()
        return attrs

    def with_defaults(self) -> dict:
        data = dict(self.validated_data)
        data.setdefault("exchange", DEFAULT_VENUE)
        data.setdefault("strategy", DEFAULT_STRATEGY)
        data.setdefault("params", {})
        # On replay the default is the recording's own timeframe when 1m is finer than it.
        data.setdefault("timeframe", default_timeframe(data["exchange"], data.get("symbol", ""), DEFAULT_TIMEFRAME))
        data.setdefault("interval_seconds", DEFAULT_INTERVAL_SECONDS)
        data.setdefault("trading_mode", Bot.Mode.PAPER)
        return data


class ActionSerializer(serializers.Serializer):
    """The body of ``start`` and ``resume`` (no fields; unknown ones are ignored). Read even
    so: a malformed body is a 400 on every write endpoint, never a 200 (API.md)."""


class PauseSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=True)


class StopSerializer(serializers.Serializer):
    close_positions = serializers.BooleanField(required=False, default=False)


class OrderPlaceSerializer(serializers.Serializer):
    """The body of ``POST bots/{id}/orders``: exactly one of quantity (base), quote_amount (quote)
    and percent (0-100: of capital for a buy, of the position for a sell); price makes it a limit."""

    side = serializers.ChoiceField(choices=Order.Side.values)
    type = serializers.ChoiceField(choices=Order.Type.values, required=False)
    quantity = _money(required=False, allow_null=True)
    quote_amount = _money(required=False, allow_null=True)
    percent = _money(required=False, allow_null=True)
    price = _money(required=False, allow_null=True)


class OrderEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    order = serializers.DictField()


class TradeFilterSerializer(QuerySerializer):
    bot_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    symbol = serializers.CharField(required=False, max_length=64)
    side = serializers.ChoiceField(choices=Order.Side.values, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class CandleQuerySerializer(QuerySerializer):
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES), required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=200)


class PlatformQuerySerializer(QuerySerializer):
    mode = serializers.ChoiceField(choices=Bot.Mode.values, required=False)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------
def money(value: Decimal | None) -> Decimal | None:
    """Exact, without the column's trailing zeros: 1000.000000000000 → 1000, 0E-12 → 0."""
    if value is None:
        return None
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _win_rate(wins: int, losses: int) -> float:
    closed = wins + losses
    return round(100.0 * wins / closed, 2) if closed else 0.0


_TENTH_HOUR_US = 360_000_000  # 0.1 h in microseconds
_MICROSECOND = timedelta(microseconds=1)


@lru_cache(maxsize=8)
def _hours_us(hours: float) -> int:
    return timedelta(hours=float(hours)) // _MICROSECOND  # timedelta's own rounding; 1.4 µs, so cached


def training_remaining_us(elapsed_us: int, min_hours: float) -> int:
    """The quarantine's exact microseconds left (never negative)."""
    return max(_hours_us(min_hours) - max(elapsed_us, 0), 0)


def training_countdown_us(elapsed_us: int, min_hours: float) -> tuple[float, float, bool]:
    """``(hours_elapsed, hours_remaining, eligible)`` from the quarantine's elapsed microseconds.

    Exact integer arithmetic: elapsed rounds down and remaining up to 0.1 h, so "0.0
    remaining" shows exactly when the bot is eligible; neither is ever negative (a start
    in the future counts as no time elapsed).
    """
    elapsed_us = max(elapsed_us, 0)
    remaining_us = training_remaining_us(elapsed_us, min_hours)
    return (elapsed_us // _TENTH_HOUR_US) / 10, -(-remaining_us // _TENTH_HOUR_US) / 10, remaining_us == 0


def training_countdown(started_at: datetime, now: datetime, min_hours: float) -> tuple[float, float, bool]:
    """``(hours_elapsed, hours_remaining, eligible)`` of a quarantine that began at ``started_at``.

    Derived, never stored: ``min_hours`` is the current ``LIVE_MIN_TRAINING_HOURS``, so a
    changed setting applies to bots already in the bay. Aware datetimes in any zone;
    naive ones are refused. Both are converted to UTC first: Python subtracts two
    datetimes of the *same* zone by wall clock, which is an hour off across a DST change.
    """
    if started_at.tzinfo is not UTC or now.tzinfo is not UTC:  # the database's rows already are (fast path)
        if timezone.is_naive(started_at) or timezone.is_naive(now):
            raise ValueError("training countdowns need timezone-aware datetimes")
        started_at, now = started_at.astimezone(UTC), now.astimezone(UTC)
    return training_countdown_us((now - started_at) // _MICROSECOND, min_hours)


def training_hours(bot: Bot, now: datetime | None = None) -> tuple[float, float]:
    """``(hours_elapsed, hours_remaining)`` of the quarantine, derived (never stored), ≥ 0."""
    if not bot.in_training or bot.training_started_at is None:
        return 0.0, 0.0
    elapsed, remaining, _eligible = training_countdown(
        bot.training_started_at, now or timezone.now(), settings.LIVE_MIN_TRAINING_HOURS
    )
    return elapsed, remaining


EXIT_FIELDS = ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "trailing_arm_pct")


def effective_rules(bot: Bot) -> dict:
    """The rules the engine trades the bot by: its exits with staff overrides where stricter."""
    from bots.engine import risk  # the engine reads settings; imported when a bot is shown

    rules = risk.effective_rules(
        position_size_pct=bot.position_size_pct, override_rules=bot.override_rules, exits=bot.exits
    )
    return rules.as_dict()


def bot_to_dict(bot: Bot, *, now: datetime | None = None) -> dict:
    """The API representation of a bot. ``profit_today`` needs the list's annotation."""
    elapsed, remaining = training_hours(bot, now)
    return {
        "id": bot.pk,
        "name": bot.name,
        "user_id": bot.owner_id,
        "exchange": bot.exchange,
        "platform": bot.exchange,
        "symbol": bot.symbol,
        "symbol_verified": bot.symbol_verified,
        "strategy": bot.strategy,
        "params": bot.params,
        "timeframe": bot.timeframe,
        "interval_seconds": bot.interval_seconds,
        "trading_mode": bot.trading_mode,
        "capital": money(bot.capital),
        "quote_currency": bot.quote_currency,
        "position_size_pct": money(bot.position_size_pct),
        "credential_id": bot.credential_id,
        "status": bot.status,
        "force_paused": bot.force_paused,
        "paused_reason": bot.paused_reason,
        "in_training": bot.in_training,
        "training_started_at": _iso(bot.training_started_at),
        "training_hours_elapsed": elapsed,
        "training_hours_remaining": remaining,
        "promoted_at": _iso(bot.promoted_at),
        "override_rules": bot.override_rules,
        **{key: money(getattr(bot, key)) for key in EXIT_FIELDS},
        "effective_rules": effective_rules(bot),
        "total_profit": money(bot.realized_pnl),
        "profit_today": money(getattr(bot, "profit_today", None) or Decimal("0")),
        "total_trades": bot.total_trades,
        "winning_trades": bot.winning_trades,
        "losing_trades": bot.losing_trades,
        "win_rate": _win_rate(bot.winning_trades, bot.losing_trades),
        "total_fees": money(bot.total_fees),
        "cash_balance": money(bot.cash_balance),
        "last_price": money(bot.last_price),
        "last_tick_at": _iso(bot.last_tick_at),
        "next_tick_at": _iso(bot.next_tick_at),
        "last_error": bot.last_error,
        "consecutive_errors": bot.consecutive_errors,
        "created_at": _iso(bot.created_at),
        "updated_at": _iso(bot.updated_at),
        **lifecycle.can_flags(bot.status, bot.force_paused),
    }


def bot_brief(bot: Bot) -> dict:
    """The row of ``platforms/{platform}/bots`` (API.md)."""
    return {
        "id": bot.pk,
        "name": bot.name,
        "status": bot.status,
        "trading_mode": bot.trading_mode,
        "symbol": bot.symbol,
        "force_paused": bot.force_paused,
        "in_training": bot.in_training,
        "total_profit": money(bot.realized_pnl),
        "profit_today": money(getattr(bot, "profit_today", None) or Decimal("0")),
        "total_trades": bot.total_trades,
        "win_rate": _win_rate(bot.winning_trades, bot.losing_trades),
        **lifecycle.can_flags(bot.status, bot.force_paused),
    }


def order_to_dict(order: Order) -> dict:
    return {
        "id": order.pk,
        "bot_id": order.bot_id,
        "client_order_id": order.client_order_id,
        "venue_order_id": order.venue_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "quantity": money(order.quantity),
        "price": money(order.price),
        "status": order.status,
        "filled_quantity": money(order.filled_quantity),
        "average_price": money(order.average_price),
        "fee": money(order.fee),
        "fee_currency": order.fee_currency,
        "is_paper": order.is_paper,
        "reason": order.reason,
        "created_at": _iso(order.created_at),
        "submitted_at": _iso(order.submitted_at),
        "closed_at": _iso(order.closed_at),
    }


def trade_to_dict(trade: Trade) -> dict:
    return {
        "id": trade.pk,
        "bot_id": trade.bot_id,
        "order_id": trade.order_id,
        "symbol": trade.symbol,
        "side": trade.side,
        "quantity": money(trade.quantity),
        "price": money(trade.price),
        "notional": money(trade.quantity * trade.price),
        "fee": money(trade.fee),
        "fee_currency": trade.fee_currency,
        "fee_quote": money(trade.fee_quote),
        "realized_pnl": money(trade.realized_pnl),
        "is_paper": trade.is_paper,
        "reason": trade.reason,
        "executed_at": _iso(trade.executed_at),
    }


def position_to_dict(position: Position, *, price: Decimal | None = None) -> dict:
    unrealized = (price - position.average_cost) * position.quantity if price is not None else None
    return {
        "id": position.pk,
        "bot_id": position.bot_id,
        "symbol": position.symbol,
        "quantity": money(position.quantity),
        "average_cost": money(position.average_cost),
        "realized_pnl": money(position.realized_pnl),
        "fees": money(position.fees),
        "market_price": price,
        "unrealized_pnl": money(unrealized),
        "opened_at": _iso(position.opened_at),
        "updated_at": _iso(position.updated_at),
    }


# ---------------------------------------------------------------------------
# Documentation shapes (OpenAPI only)
# ---------------------------------------------------------------------------
class BotDocSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    user_id = serializers.IntegerField()
    exchange = serializers.CharField()
    platform = serializers.CharField()
    symbol = serializers.CharField()
    symbol_verified = serializers.BooleanField()
    strategy = serializers.CharField()
    params = serializers.DictField()
    timeframe = serializers.CharField()
    interval_seconds = serializers.IntegerField()
    trading_mode = serializers.ChoiceField(choices=Bot.Mode.values)
    capital = serializers.FloatField()
    quote_currency = serializers.CharField()
    position_size_pct = serializers.FloatField()
    credential_id = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=Bot.Status.values)
    force_paused = serializers.BooleanField()
    paused_reason = serializers.CharField()
    in_training = serializers.BooleanField()
    training_started_at = serializers.DateTimeField(allow_null=True)
    training_hours_elapsed = serializers.FloatField()
    training_hours_remaining = serializers.FloatField()
    promoted_at = serializers.DateTimeField(allow_null=True)
    override_rules = serializers.DictField()
    stop_loss_pct = serializers.FloatField(allow_null=True)
    take_profit_pct = serializers.FloatField(allow_null=True)
    trailing_stop_pct = serializers.FloatField(allow_null=True)
    trailing_arm_pct = serializers.FloatField(allow_null=True)
    effective_rules = serializers.DictField(
        help_text="The exits and limits the engine applies: the bot's own, staff overrides where stricter "
        "(``overridden`` names them), engine defaults"
    )
    total_profit = serializers.FloatField()
    profit_today = serializers.FloatField()
    total_trades = serializers.IntegerField()
    winning_trades = serializers.IntegerField()
    losing_trades = serializers.IntegerField()
    win_rate = serializers.FloatField()
    total_fees = serializers.FloatField()
    cash_balance = serializers.FloatField()
    last_price = serializers.FloatField(allow_null=True)
    last_tick_at = serializers.DateTimeField(allow_null=True)
    next_tick_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    consecutive_errors = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    can_start = serializers.BooleanField()
    can_pause = serializers.BooleanField()
    can_resume = serializers.BooleanField()
    can_stop = serializers.BooleanField()


class BotEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    bot = BotDocSerializer()
    message = serializers.CharField(required=False)


class PerformanceSerializer(serializers.Serializer):
    # Conventions: bots.analytics (the module docstring) and the endpoints' descriptions.
    total_trades = serializers.IntegerField(help_text="Fills.")
    winning_trades = serializers.IntegerField(help_text="Round trips (flat → flat) with positive realized PnL.")
    losing_trades = serializers.IntegerField(help_text="Round trips with negative realized PnL.")
    win_rate = serializers.FloatField(help_text="winning / (winning + losing) round trips, a percentage.")
    total_pnl = serializers.FloatField(help_text="Realized PnL, net of fees.")
    total_pnl_percentage = serializers.FloatField(help_text="total_pnl / capital, a percentage.")
    unrealized_pnl = serializers.FloatField(help_text="What open positions add at the last mark.")
    total_return = serializers.FloatField(help_text="Last marked-to-market equity / capital − 1, a percentage.")
    profit_factor = serializers.FloatField(allow_null=True)
    max_drawdown = serializers.FloatField(
        help_text="Largest fall of marked-to-market daily equity from its peak so far, a percentage of the peak."
    )
    sharpe_ratio = serializers.FloatField(allow_null=True, help_text="Daily returns, 365 periods, rf 0, sample std.")
    sortino_ratio = serializers.FloatField(allow_null=True)
    calmar_ratio = serializers.FloatField(allow_null=True)
    days = serializers.IntegerField(help_text="Daily returns: the days of the running life.")


def backtest_to_dict(backtest) -> dict:
    """A backtest's API shape (API.md "backtests and candles"); results have their own paths."""
    return {
        "id": backtest.pk,
        "status": backtest.status,
        "progress": backtest.progress,
        "candles": backtest.candles,
        "strategy": backtest.strategy,
        "params": backtest.params,
        "params_grid": backtest.params_grid,
        "sweep": backtest.params_grid is not None,
        "parent_id": backtest.parent_id,
        "bot_id": backtest.bot_id,
        "exchange": backtest.exchange,
        "symbol": backtest.symbol,
        "timeframe": backtest.timeframe,
        "since": _iso(backtest.since),
        "until": _iso(backtest.until),
        "capital": money(backtest.capital),
        "fee_pct": money(backtest.fee_pct),
        "slippage_pct": money(backtest.slippage_pct),
        "position_size_pct": money(backtest.position_size_pct),
        "rules": backtest.rules,
        "created_at": _iso(backtest.created_at),
        "started_at": _iso(backtest.started_at),
        "finished_at": _iso(backtest.finished_at),
        "performance": backtest.performance,
        "error": backtest.error or None,
    }
