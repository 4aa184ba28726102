"""Bot use cases: the only code that writes bots, orders, trades, positions and rollups.

Each service is one transaction that locks the bot row (``select_for_update``), checks
the state table (:mod:`bots.lifecycle`), writes with ``save(update_fields=...)`` or
``F()`` expressions, appends an audit entry and records its event
(``realtime.services.event_record``) in that same transaction, so a rolled-back change
takes its event with it and the relay publishes only what was committed. A service that
changes what ``analytics/summary`` reads (status, capital, currency, fills, deletion)
calls ``analytics.summary_invalidate`` in that transaction too.

Concurrency: two requests on one bot serialise on the row lock; the second sees the
first's result and answers 409 if its transition no longer applies. On SQLite the
whole database is the lock (``transaction_mode: IMMEDIATE``), with the same outcome.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, When
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.exceptions import NotFound

from accounts.api.errors import ApiError, Conflict, Locked
from accounts.services import audit_record
from accounts.usage import usage_add
from bots import analytics, fills, lifecycle, market_data, venues
from bots.lifecycle import Action
from bots.models import ZERO, Bot, BotDailyPnl, Order, Position, Trade, WorkerHeartbeat
from bots.serializers import bot_to_dict, order_to_dict, position_to_dict, trade_to_dict
from bots.strategies import ParamsError, validate_params
from credentials.models import Credential
from realtime.services import event_record

logger = logging.getLogger("botfleet.bots")

# Fields PATCH may change while a bot is not stopped (API.md "bots").
RUNTIME_EDITABLE = frozenset({"name", "params", "interval_seconds"})


class InvalidBot(ApiError):
    """400 naming the field: ``details`` maps it to its messages."""

    default_code = "VALIDATION_ERROR"

    def __init__(self, field: str, message: str, *, details: dict | None = None):
        super().__init__(f"{field}: {message}", details=details or {field: [message]})


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def bot_locked(*, bot_id: int, user=None) -> Bot:
    """The live (not deleted) bot, row-locked; scoped to ``user`` unless the caller is the system."""
    queryset = Bot.objects.alive().select_for_update()
    if user is not None:
        queryset = queryset.filter(owner=user)
    bot = queryset.filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("Bot not found.")
    return bot


def _record(
    bot: Bot, *, event: str, message: str, actor=None, action: str, data: dict | None = None, request=None, **payload
):
    audit_record(actor=actor, action=action, target=bot, data=data or {}, request=request)
    event_record(
        type=event, user_id=bot.owner_id, bot_id=bot.pk, payload={"bot": bot_to_dict(bot), **payload}, message=message
    )


def _validated_params(strategy: str, params: dict | None) -> dict:
    try:
        return validate_params(strategy, params)
    except ParamsError as exc:
        field = next(iter(exc.errors))
        if field == "strategy":
            raise InvalidBot("strategy", exc.errors["strategy"]) from None
        raise InvalidBot(
            "params", f"{field}: {exc.errors[field]}", details={"params": {k: [v] for k, v in exc.errors.items()}}
        ) from None


def _venue_and_symbol(exchange: str, symbol: str) -> tuple[str, bool]:
    if not venues.is_known(exchange):
        raise InvalidBot(
            "exchange", f"unknown exchange {exchange!r}; use simulated, replay, angelone or a ccxt exchange id"
        )
    try:
        return venues.normalize_symbol(exchange, symbol)
    except venues.VenueError as exc:
        raise InvalidBot(exc.field, str(exc)) from None


def _check_timeframe(exchange: str, symbol: str, timeframe: str) -> None:
    refusal = venues.timeframe_refusal(exchange, symbol, timeframe)
    if refusal:
        raise InvalidBot("timeframe", refusal)


def _live_venue_refusal(exchange: str) -> str:
    """Why real orders may not go to ``exchange`` (its declared capabilities), or ""."""
    from credentials import providers

    return providers.get(exchange).capabilities.live_refusal(exchange)


def _resolve_credential(*, user, exchange: str, mode: str, credential_id: int | None) -> Credential | None:
    """The key set a bot uses: the one named, else (live on a real venue) the user's live set.

    A live bot on a real venue without a live key set for that venue is refused,
    naming what is missing; paper bots and the local venues need no keys.
    """
    credential = None
    if credential_id is not None:
        credential = Credential.objects.filter(owner=user, pk=credential_id).first()
        if credential is None:
            raise InvalidBot("credential_id", f"no key set {credential_id} in your account")
        if credential.provider != exchange:
            raise InvalidBot("credential_id", f"key set {credential_id} is for {credential.provider}, not {exchange}")
    needs_live = mode == Bot.Mode.LIVE and venues.is_real(exchange)
    if not needs_live:
        return credential
    unsupported = _live_venue_refusal(exchange)
    if unsupported:
        raise InvalidBot("exchange", unsupported)
    if credential is None:
        credential = (
            Credential.objects.filter(owner=user, provider=exchange, purpose=Credential.Purpose.LIVE)
            .order_by(Case(When(label="default", then=0), default=1), "pk")
            .first()
        )
        if credential is None:
            raise InvalidBot(
                "trading_mode",
                f"live trading on {exchange} needs a live key set for {exchange}; save one with POST keys/save",
            )
    elif credential.purpose != Credential.Purpose.LIVE:
        raise InvalidBot(
            "credential_id", f"key set {credential.pk} is a {credential.purpose} set; live trading needs a live set"
        )
    return credential


def _enter_live_mode(bot: Bot, now: datetime) -> None:
    """Entering live mode (created live, or switched from paper) (re)starts the quarantine."""
    bot.in_training = True
    bot.training_started_at = now
    bot.promoted_at = None


def _training_event(bot: Bot, *, reason: str = "") -> None:
    payload: dict = {"bot": bot_to_dict(bot), "min_training_hours": float(settings.LIVE_MIN_TRAINING_HOURS)}
    hours = f"{settings.LIVE_MIN_TRAINING_HOURS:g} hours"
    message = f"Bot '{bot.name}' entered the training bay for {hours}"
    if reason:
        payload["reason"] = reason
        message = f"Bot '{bot.name}' went back to the training bay for {hours}: {reason}"
    event_record(type="training_started", user_id=bot.owner_id, bot_id=bot.pk, payload=payload, message=message)


# ---------------------------------------------------------------------------
# CRUD
# ---------------------------------------------------------------------------
def bot_create(*, user, data: dict, request: HttpRequest | None = None) -> Bot:
    """Create a stopped bot. A live bot enters the training bay (``training_started``)."""
    exchange = data["exchange"]
    symbol, verified = _venue_and_symbol(exchange, data["symbol"])
    _check_timeframe(exchange, symbol, data["timeframe"])
    params = _validated_params(data["strategy"], data.get("params"))
    now = timezone.now()
    with transaction.atomic():
        credential = _resolve_credential(
            user=user, exchange=exchange, mode=data["trading_mode"], credential_id=data.get("credential_id")
        )
        bot = Bot(
            owner=user,
            name=data["name"],
            exchange=exchange,
            symbol=symbol,
            symbol_verified=verified,
            strategy=data["strategy"],
            params=params,
            timeframe=data["timeframe"],
            interval_seconds=data["interval_seconds"],
            trading_mode=data["trading_mode"],
            capital=data["capital"],
            cash_balance=data["capital"],
            quote_currency=venues.quote_currency(exchange, symbol),
            position_size_pct=data.get("position_size_pct") or Decimal("1"),
            credential=credential,
        )
        if bot.trading_mode == Bot.Mode.LIVE:
            _enter_live_mode(bot, now)
        bot.save()
        usage_add(user_id=user.pk, bots=1)
        analytics.summary_invalidate(user.pk)
        _record(
            bot,
            event="bot_created",
            message=f"Bot '{bot.name}' created",
            actor=user,
            action="bot.create",
            data={"name": bot.name, "exchange": exchange, "symbol": symbol, "mode": bot.trading_mode},
            request=request,
        )
        if bot.in_training:
            _training_event(bot)
    return bot


def bot_update(*, user, bot_id: int, data: dict, request: HttpRequest | None = None) -> tuple[Bot, str]:
    """PATCH rules: while not stopped only ``name``, ``params``, ``interval_seconds`` change.

    Returns the bot and the message of the answer. A live bot's training covers one venue,
    one symbol and one strategy: changing any of them puts it back in the training bay with
    a fresh countdown, promoted or not (``training_started`` with the ``reason``), so a bot
    promoted on ``simulated`` cannot move to a real venue without training there.
    """
    with transaction.atomic():
        bot = bot_locked(bot_id=bot_id, user=user)
        before = {f: getattr(bot, f) for f in ("name", "exchange", "symbol", "strategy", "params", "timeframe")}
        changes: dict = {}
        for field in (
            "name",
            "exchange",
            "strategy",
            "timeframe",
            "interval_seconds",
            "trading_mode",
            "capital",
            "position_size_pct",
        ):
            if field in data and data[field] != getattr(bot, field):
                changes[field] = data[field]
        if "symbol" in data and data["symbol"].strip().upper() != bot.symbol:
            changes["symbol"] = data["symbol"]
        if "credential_id" in data and data["credential_id"] != bot.credential_id:
            changes["credential_id"] = data["credential_id"]
        if "params" in data:
            strategy = changes.get("strategy", bot.strategy)
            base = bot.params if strategy == bot.strategy else {}
            params = _validated_params(strategy, {**base, **data["params"]})
            if params != bot.params:
                changes["params"] = params
        elif "strategy" in changes:
            changes["params"] = _validated_params(changes["strategy"], {})

        frozen = sorted(set(changes) - RUNTIME_EDITABLE)
        if frozen and bot.status != Bot.Status.STOPPED:
            raise Conflict(
                f"{', '.join(frozen)} can only change while the bot is stopped (it is {bot.status})",
                code="BOT_NOT_STOPPED",
                details={"fields": frozen, "status": bot.status},
            )
        if not changes:
            return bot, f"Bot '{bot.name}' updated"
        # An order in flight is reconciled through the bot's venue, key set and mode: changed
        # first, its lookup would go where the order was never sent, declare it never sent
        # after the grace period and lose its fill (real coins the books would not know of).
        venue_bound = sorted({"exchange", "credential_id", "trading_mode"} & set(changes))
        in_flight = (
            Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES)
            .order_by("pk")
            .values_list("client_order_id", flat=True)
            .first()
            if venue_bound
            else None
        )
        if in_flight:
            raise Conflict(
                f"{', '.join(venue_bound)} cannot change while order {in_flight} is still in flight on "
                f"{bot.exchange}; it is being reconciled, try again in a minute",
                code="ORDER_IN_FLIGHT",
                details={"fields": venue_bound, "order": in_flight},
            )

        now = timezone.now()
        exchange = changes.get("exchange", bot.exchange)
        if {"exchange", "symbol"} & set(changes):
            symbol, verified = _venue_and_symbol(exchange, changes.get("symbol", bot.symbol))
            bot.exchange, bot.symbol, bot.symbol_verified = exchange, symbol, verified
            bot.quote_currency = venues.quote_currency(exchange, symbol)
        if {"exchange", "symbol", "timeframe"} & set(changes):
            _check_timeframe(exchange, bot.symbol, changes.get("timeframe", bot.timeframe))
        mode = changes.get("trading_mode", bot.trading_mode)
        if {"exchange", "trading_mode", "credential_id"} & set(changes):
            bot.credential = _resolve_credential(
                user=user, exchange=exchange, mode=mode, credential_id=changes.get("credential_id", bot.credential_id)
            )
        entered_live = mode == Bot.Mode.LIVE and bot.trading_mode != Bot.Mode.LIVE
        retrained = sorted({"exchange", "symbol", "strategy"} & set(changes)) if mode == Bot.Mode.LIVE else []
        if "trading_mode" in changes:
            bot.trading_mode = mode
            if not entered_live:
                bot.in_training, bot.training_started_at, bot.promoted_at = False, None, None
        if entered_live or retrained:
            _enter_live_mode(bot, now)
        if "capital" in changes:
            bot.cash_balance += changes["capital"] - bot.capital
            bot.capital = changes["capital"]
        for field in ("name", "strategy", "params", "timeframe", "interval_seconds", "position_size_pct"):
            if field in changes:
                setattr(bot, field, changes[field])
        bot.save()
        analytics.summary_invalidate(bot.owner_id)
        changed = sorted(changes)
        _record(
            bot,
            event="bot_updated",
            message=f"Bot '{bot.name}' updated",
            actor=user,
            action="bot.update",
            data={"changed": changed, "before": {k: v for k, v in before.items() if k in changes}},
            request=request,
            changed=changed,
        )
        message = f"Bot '{bot.name}' updated"
        if entered_live:
            _training_event(bot)
            message += f" and entered the training bay for {settings.LIVE_MIN_TRAINING_HOURS:g} hours"
        elif retrained:
            reason = f"its {' and '.join(retrained)} changed; a live bot trains again on what it will trade"
            _training_event(bot, reason=reason)
            message += (
                f"; it went back to the training bay ({reason}) and trades on paper for "
                f"{settings.LIVE_MIN_TRAINING_HOURS:g} hours before it can be promoted again"
            )
    return bot, message


def bot_delete(*, user, bot_id: int, request: HttpRequest | None = None) -> None:
    """Soft delete a stopped bot: it vanishes from lists and 404s; its trades stay."""
    with transaction.atomic():
        bot = bot_locked(bot_id=bot_id, user=user)
        if bot.status != Bot.Status.STOPPED:
            raise Conflict(
                f"stop the bot before deleting it (it is {bot.status})",
                code="BOT_NOT_STOPPED",
                details={"status": bot.status},
            )
        bot.deleted_at = timezone.now()
        bot.credential = None  # the key set may be deleted now; the history does not need it
        bot.next_tick_at = None
        bot.save(update_fields=["deleted_at", "credential", "next_tick_at", "updated_at"])
        analytics.summary_invalidate(bot.owner_id)
        audit_record(actor=user, action="bot.delete", target=bot, data={"name": bot.name}, request=request)
        event_record(
            type="bot_deleted",
            user_id=bot.owner_id,
            bot_id=bot.pk,
            payload={"bot": {"id": bot.pk, "name": bot.name}},
            message=f"Bot '{bot.name}' deleted",
        )


# ---------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------
def _apply_transition(
    bot: Bot,
    action: Action,
    *,
    actor,
    reason: str = "",
    close_positions: bool = False,
    request: HttpRequest | None = None,
) -> str:
    """Move a locked bot along the state table; returns the message. Raises 409/423."""
    try:
        to = lifecycle.target(bot.status, action, force_paused=bot.force_paused)
    except lifecycle.TransitionRefused as exc:
        error = Locked if exc.locked else Conflict
        raise error(
            f"Cannot {action} bot '{bot.name}': {exc.reason}",
            code="BOT_FORCE_PAUSED" if exc.locked else "INVALID_TRANSITION",
            details={"status": bot.status, "action": str(action), "force_paused": bot.force_paused},
        ) from None
    now = timezone.now()
    previous = bot.status
    fields = ["status", "updated_at"]
    if action in (Action.START, Action.RESUME):
        live_real = bot.trading_mode == Bot.Mode.LIVE and venues.is_real(bot.exchange)
        unsupported = _live_venue_refusal(bot.exchange) if live_real else ""
        if unsupported:
            raise Conflict(f"Cannot {action} bot '{bot.name}': {unsupported}", code="LIVE_VENUE_UNSUPPORTED")
        live_without_keys = live_real and not bot.credential_id
        if action == Action.START and live_without_keys:
            raise Conflict(
                f"Cannot start bot '{bot.name}': live trading on {bot.exchange} needs a live key set",
                code="LIVE_KEYS_MISSING",
            )
        bot.next_tick_at, bot.paused_reason = now, ""
        fields += ["next_tick_at", "paused_reason"]
        if action == Action.START:
            bot.last_error, bot.consecutive_errors = "", 0
            fields += ["last_error", "consecutive_errors"]
    elif action == Action.PAUSE:
        bot.paused_reason = (reason or "paused by its owner")[:300]
        bot.next_tick_at = None
        fields += ["paused_reason", "next_tick_at"]
    elif action == Action.STOP:
        bot.paused_reason, bot.next_tick_at = "", None
        fields += ["paused_reason", "next_tick_at"]
    bot.status = to
    bot.save(update_fields=fields)
    analytics.summary_invalidate(bot.owner_id)

    past = lifecycle.PAST[action]
    message = f"Bot '{bot.name}' {past}"
    if action in (Action.START, Action.RESUME) and bot.in_training:
        message += " in the training bay (paper fills until promotion)"
    extra: dict = {"previous_status": previous}
    if reason:
        extra["reason"] = reason[:300]
    if actor is not None and actor.pk:
        extra["actor_id"] = actor.pk
    if action == Action.STOP:
        closed = positions_close_in_books(bot=bot, reason="close_on_stop") if close_positions else []
        if close_positions:
            extra["closed_positions"] = closed
            if closed:
                message += f" and closed {len(closed)} position{'s' if len(closed) > 1 else ''}"
        bot.refresh_from_db()
    _record(
        bot,
        event=f"bot_{past}",
        message=message,
        actor=actor,
        action=f"bot.{action}",
        data={"from": previous, "to": to, **({"reason": reason} if reason else {})},
        request=request,
        **extra,
    )
    return message


def bot_transition(
    *,
    bot_id: int,
    action: Action | str,
    user=None,
    actor=None,
    reason: str = "",
    close_positions: bool = False,
    request: HttpRequest | None = None,
) -> tuple[Bot, str]:
    """start / pause / resume / stop one bot. ``user`` scopes the lookup (owner actions);
    ``None`` is a system caller (engine, bodyguard, staff tools) who acts as ``actor``."""
    with transaction.atomic():
        bot = bot_locked(bot_id=bot_id, user=user)
        message = _apply_transition(
            bot,
            Action(action),
            actor=actor if actor is not None else user,
            reason=reason,
            close_positions=close_positions,
            request=request,
        )
    return bot, message


def bot_start(*, user, bot_id: int, request=None) -> tuple[Bot, str]:
    return bot_transition(bot_id=bot_id, action=Action.START, user=user, request=request)


def bot_stop(*, user, bot_id: int, close_positions: bool = False, request=None) -> tuple[Bot, str]:
    return bot_transition(
        bot_id=bot_id, action=Action.STOP, user=user, close_positions=close_positions, request=request
    )


def bot_pause(*, user, bot_id: int, reason: str = "", request=None) -> tuple[Bot, str]:
    return bot_transition(bot_id=bot_id, action=Action.PAUSE, user=user, reason=reason, request=request)


def bot_resume(*, user, bot_id: int, request=None) -> tuple[Bot, str]:
    return bot_transition(bot_id=bot_id, action=Action.RESUME, user=user, request=request)


def bots_transition_all(*, user, action: Action, request: HttpRequest | None = None) -> dict:
    """Older clients' ``POST start`` / ``POST stop``: every bot of the user the action applies to.

    Bots the table refuses (already running, force-paused, live without keys) are
    skipped and counted, not errors.
    """
    done, skipped = [], []
    with transaction.atomic():
        for bot in Bot.objects.of(user).select_for_update().order_by("pk"):
            if not lifecycle.allowed(bot.status, action, force_paused=bot.force_paused):
                skipped.append(bot.pk)
                continue
            try:
                with transaction.atomic():
                    _apply_transition(bot, action, actor=user, request=request)
                done.append(bot.pk)
            except ApiError:
                skipped.append(bot.pk)
    return {"done": done, "skipped": skipped}


# ---------------------------------------------------------------------------
# Fills
# ---------------------------------------------------------------------------
def _fee_in_quote(*, fee: Decimal, fee_currency: str, bot: Bot, price: Decimal, value: Decimal | None = None):
    """The fee split by where it is paid from (``bots.fills.fee_parts``) for this bot's market."""
    return fills.fee_parts(
        fee=fee, fee_currency=fee_currency, base=bot.base_currency, quote=bot.quote_currency, price=price, value=value
    )


def trade_record_fill(
    *,
    bot: Bot | int,
    side: str,
    quantity: Decimal,
    price: Decimal,
    fill_id: str,
    order: Order | None = None,
    fee: Decimal = ZERO,
    fee_currency: str = "",
    fee_quote: Decimal | None = None,
    executed_at: datetime | None = None,
    is_paper: bool = True,
    symbol: str | None = None,
) -> Trade:
    """Record one fill: trade, position (average cost), daily rollup, bot totals, order and
    ``trade_executed``, in one transaction under the bot's row lock.

    Idempotent by ``(bot, fill_id)``: recording the same fill twice returns the first
    trade and changes nothing (a retried tick, a reconciled unknown order).

    ``quantity`` is what the venue executed; ``fee`` is in ``fee_currency`` (empty: the
    quote currency). ``fee_quote`` is the quote value of a fee in a third currency (BNB),
    which must be given. Accounting (long-only, average cost): :mod:`bots.fills` — a fee in
    the base asset is deducted from the position, a quote fee from cash, and every fee's
    value reaches PnL once (buys through the cost basis, sells directly). A sell larger than
    the position is refused (``ValueError``): the engine never shorts.
    """
    quantity, price = Decimal(quantity), Decimal(price)
    if quantity <= 0 or price <= 0:
        raise ValueError("a fill needs a positive quantity and price")
    if side not in (Order.Side.BUY, Order.Side.SELL):
        raise ValueError(f"unknown side {side!r}")
    executed_at = executed_at or timezone.now()
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot if isinstance(bot, int) else bot.pk)
        existing = Trade.objects.filter(bot=bot, fill_id=fill_id).first()
        if existing is not None:
            return existing
        symbol = symbol or (order.symbol if order is not None else bot.symbol)
        fee = Decimal(fee)
        parts = _fee_in_quote(
            fee=fee,
            fee_currency=fee_currency,
            bot=bot,
            price=price,
            value=None if fee_quote is None else Decimal(fee_quote),
        )
        fee_q = parts.value
        position, _ = Position.objects.select_for_update().get_or_create(bot=bot, symbol=symbol)
        notional = quantity * price
        try:
            applied = fills.apply_fill(
                side=side,
                quantity=quantity,
                price=price,
                fee=parts,
                held=position.quantity,
                average_cost=position.average_cost,
            )
        except fills.FillRefused as exc:
            raise ValueError(f"{symbol}: {exc}") from None
        realized = applied.realized
        if side == Order.Side.BUY and position.quantity == 0:
            position.opened_at = executed_at
        position.quantity, position.average_cost = applied.quantity, applied.average_cost
        if realized is not None:
            position.realized_pnl += realized
        cash_delta = applied.cash_delta
        position.fees += fee_q
        position.save()
        trade = Trade.objects.create(
            bot=bot,
            owner_id=bot.owner_id,
            order=order,
            fill_id=fill_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            fee=fee,
            fee_currency=fee_currency or bot.quote_currency,
            fee_quote=fee_q,
            realized_pnl=realized,
            is_paper=is_paper,
            executed_at=executed_at,
        )
        trade.cash_delta = cash_delta  # not stored: what this fill did to the bot's cash (the engine's picture)
        usage_add(user_id=bot.owner_id, trades=1)
        win = realized is not None and realized > 0
        loss = realized is not None and realized < 0
        pnl = realized or ZERO
        day = executed_at.astimezone(UTC).date()  # rollups are per UTC day
        BotDailyPnl.objects.get_or_create(bot=bot, day=day)
        BotDailyPnl.objects.filter(bot=bot, day=day).update(
            realized_pnl=F("realized_pnl") + pnl,
            gross_profit=F("gross_profit") + (pnl if win else ZERO),
            gross_loss=F("gross_loss") + (-pnl if loss else ZERO),
            fees=F("fees") + fee_q,
            volume=F("volume") + notional,
            trades=F("trades") + 1,
            wins=F("wins") + int(win),
            losses=F("losses") + int(loss),
        )
        Bot.objects.filter(pk=bot.pk).update(
            realized_pnl=F("realized_pnl") + pnl,
            total_fees=F("total_fees") + fee_q,
            total_trades=F("total_trades") + 1,
            winning_trades=F("winning_trades") + int(win),
            losing_trades=F("losing_trades") + int(loss),
            cash_balance=F("cash_balance") + cash_delta,
            last_price=price,
            updated_at=timezone.now(),
        )
        analytics.summary_invalidate(bot.owner_id)
        if order is not None:
            filled = min(order.quantity, order.filled_quantity + quantity)
            prior = order.filled_quantity * (order.average_price or ZERO)
            order.average_price = (prior + notional) / filled
            order.filled_quantity = filled
            order.fee += fee
            order.fee_currency = order.fee_currency or trade.fee_currency
            order.status = Order.Status.FILLED if filled >= order.quantity else Order.Status.PARTIALLY_FILLED
            if order.status == Order.Status.FILLED:
                order.closed_at = executed_at
            order.save(
                update_fields=[
                    "average_price",
                    "filled_quantity",
                    "fee",
                    "fee_currency",
                    "status",
                    "closed_at",
                    "updated_at",
                ]
            )
        verb = "bought" if side == Order.Side.BUY else "sold"
        event_record(
            type="trade_executed",
            user_id=bot.owner_id,
            bot_id=bot.pk,
            payload={"trade": trade_to_dict(trade), "bot_id": bot.pk, "position": position_to_dict(position)},
            message=f"Bot '{bot.name}' {verb} {quantity.normalize():f} {symbol} at {price.normalize():f}",
        )
    return trade


def positions_close_in_books(*, bot: Bot, reason: str = "close", price: Decimal | None = None) -> list[dict]:
    """Close a bot's open positions in the books at the market price (nothing is sent to a venue).

    Used by ``stop`` with ``close_positions`` and by promotion out of the training bay
    (the paper position of a quarantined bot is closed before it trades real money).
    A bot trading real money is left alone here: its position lives on the venue.
    """
    if bot.trading_mode == Bot.Mode.LIVE and not bot.in_training:
        return []
    closed = []
    now = timezone.now()
    for position in Position.objects.filter(bot=bot, quantity__gt=0).order_by("pk"):
        mark = price or market_data.last_price(bot.exchange, position.symbol) or position.average_cost
        client_id = f"bf-{bot.pk}-close-{position.pk}-{int(now.timestamp() * 1000)}"
        order = Order.objects.create(
            bot=bot,
            client_order_id=client_id,
            symbol=position.symbol,
            side=Order.Side.SELL,
            quantity=position.quantity,
            status=Order.Status.SUBMITTED,
            is_paper=True,
            reason=reason,
            submitted_at=now,
        )
        usage_add(user_id=bot.owner_id, orders=1)
        trade = trade_record_fill(
            bot=bot,
            order=order,
            side=Order.Side.SELL,
            quantity=position.quantity,
            price=mark,
            fill_id=client_id,
            executed_at=now,
            is_paper=True,
        )
        closed.append(
            {"symbol": position.symbol, "quantity": trade.quantity, "price": mark, "realized_pnl": trade.realized_pnl}
        )
    return closed


# ---------------------------------------------------------------------------
# Engine bookkeeping
# ---------------------------------------------------------------------------
def worker_heartbeat(*, name: str, hostname: str = "", pid: int | None = None, info: dict | None = None) -> None:
    """An engine worker says it is alive (``GET status`` is online while one beat in 30 s)."""
    WorkerHeartbeat.objects.update_or_create(
        name=name,
        defaults={"hostname": hostname, "pid": pid, "last_seen": timezone.now(), "info": info or {}},
        create_defaults={"hostname": hostname, "pid": pid, "info": info or {}},
    )


def order_reconcile_failed(*, order_id: int, error: str) -> bool:
    """Reconciling an order failed in a way a retry does not fix by itself (the books refuse its fill).

    The error goes on the order (``error``) and its bot (``last_error``, what its owner sees),
    and staff get an ``order_reconcile_failed`` event: someone has to look at the books. Only
    when the error is new for that order, so a sweep every few seconds does not repeat the
    alert. Returns whether it was recorded. Bot row first, then the order: the lock order of
    ``trade_record_fill``.
    """
    error = error[:500]
    with transaction.atomic():
        bot_id = Order.objects.filter(pk=order_id).values_list("bot_id", flat=True).first()
        if bot_id is None:
            return False
        bot = Bot.objects.select_for_update().get(pk=bot_id)
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.error == error:
            return False
        order.error = error
        order.save(update_fields=["error", "updated_at"])
        bot.last_error = f"order {order.client_order_id} cannot be reconciled: {error}"
        bot.save(update_fields=["last_error", "updated_at"])
        event_record(
            type="order_reconcile_failed",
            user_id=None,  # staff only
            bot_id=bot.pk,
            payload={"bot_id": bot.pk, "owner_id": bot.owner_id, "order": order_to_dict(order), "error": error},
            message=f"Order {order.client_order_id} of bot '{bot.name}' (#{bot.pk}) cannot be reconciled: {error}",
        )
    return True
