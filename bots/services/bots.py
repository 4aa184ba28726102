"""Creating, changing and deleting bots: validation of venue, symbol, strategy, keys and mode."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone

from accounts.services import audit_record
from accounts.usage import usage_add
from bots import analytics, venues
from bots.models import Bot, Order
from bots.serializers import EXIT_FIELDS, bot_to_dict
from bots.services.common import RUNTIME_EDITABLE, InvalidBot, bot_locked, record
from bots.strategies import ParamsError, validate_params
from core.errors import Conflict
from credentials.models import Credential
from realtime.services import event_record


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


def live_venue_refusal(exchange: str) -> str:
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
    unsupported = live_venue_refusal(exchange)
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


def bot_create(*, user, data: dict) -> Bot:
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
            **{key: data.get(key) for key in EXIT_FIELDS},
        )
        if bot.trading_mode == Bot.Mode.LIVE:
            _enter_live_mode(bot, now)
        bot.save()
        usage_add(user_id=user.pk, bots=1)
        analytics.summary_invalidate(user.pk)
        record(
            bot,
            event="bot_created",
            message=f"Bot '{bot.name}' created",
            actor=user,
            action="bot.create",
            data={"name": bot.name, "exchange": exchange, "symbol": symbol, "mode": bot.trading_mode},
        )
        if bot.in_training:
            _training_event(bot)
    return bot


def bot_update(*, user, bot_id: int, data: dict) -> tuple[Bot, str]:
    """PATCH rules: while not stopped only ``name``, ``params``, ``interval_seconds`` and the exits change.

    Returns the bot and the message of the answer. A live bot's training covers one venue,
    one symbol and one strategy: changing any of them puts it back in the training bay with
    a fresh countdown, promoted or not (``training_started`` with the ``reason``), so a bot
    promoted on ``simulated`` cannot move to a real venue without training there.
    """
    with transaction.atomic():
        bot = bot_locked(bot_id=bot_id, user=user)
        before = {f: getattr(bot, f) for f in ("name", "exchange", "symbol", "strategy", "params", "timeframe")}
        changes = _requested_changes(bot, data)
        _check_changes_allowed(bot, changes)
        if not changes:
            return bot, f"Bot '{bot.name}' updated"
        entered_live, retrained = _apply_changes(bot, changes, user=user)
        bot.save()
        analytics.summary_invalidate(bot.owner_id)
        changed = sorted(changes)
        record(
            bot,
            event="bot_updated",
            message=f"Bot '{bot.name}' updated",
            actor=user,
            action="bot.update",
            data={"changed": changed, "before": {k: v for k, v in before.items() if k in changes}},
            changed=changed,
        )
        message = f"Bot '{bot.name}' updated" + _training_restart(bot, entered_live=entered_live, retrained=retrained)
    return bot, message


def _requested_changes(bot: Bot, data: dict) -> dict:
    """What ``data`` would change on ``bot`` (params merged and validated), field by field."""
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
        *EXIT_FIELDS,
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
    return changes


def _check_changes_allowed(bot: Bot, changes: dict) -> None:
    """Refuse (``Conflict``) what the bot's state does not allow: a frozen field while it is not
    stopped, or its venue, key set or mode while one of its orders is still in flight."""
    frozen = sorted(set(changes) - RUNTIME_EDITABLE)
    if frozen and bot.status != Bot.Status.STOPPED:
        raise Conflict(
            f"{', '.join(frozen)} can only change while the bot is stopped (it is {bot.status})",
            code="BOT_NOT_STOPPED",
            details={"fields": frozen, "status": bot.status},
        )
    # An order in flight is reconciled through the bot's venue, key set and mode: changed
    # first, its lookup would go where the order was never sent, declare it never sent
    # after the grace period and lose its fill (real coins the books would not know of).
    venue_bound = sorted({"exchange", "credential_id", "trading_mode"} & set(changes))
    if not venue_bound:
        return
    in_flight = (
        Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES)
        .order_by("pk")
        .values_list("client_order_id", flat=True)
        .first()
    )
    if in_flight:
        raise Conflict(
            f"{', '.join(venue_bound)} cannot change while order {in_flight} is still in flight on "
            f"{bot.exchange}; it is being reconciled, try again in a minute",
            code="ORDER_IN_FLIGHT",
            details={"fields": venue_bound, "order": in_flight},
        )


def _apply_changes(bot: Bot, changes: dict, *, user) -> tuple[bool, list[str]]:
    """Set the changes on the (unsaved) bot, validating venue, symbol, timeframe and keys.

    Returns whether it entered live mode and which of its venue, symbol and strategy
    changed while live (either restarts its training).
    """
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
    for field in ("name", "strategy", "params", "timeframe", "interval_seconds", "position_size_pct", *EXIT_FIELDS):
        if field in changes:
            setattr(bot, field, changes[field])
    return entered_live, retrained


def _training_restart(bot: Bot, *, entered_live: bool, retrained: list[str]) -> str:
    """Record ``training_started`` when an update (re)starts a live bot's training; returns
    what the answer's message adds about it."""
    hours = f"{settings.LIVE_MIN_TRAINING_HOURS:g} hours"
    if entered_live:
        _training_event(bot)
        return f" and entered the training bay for {hours}"
    if retrained:
        reason = f"its {' and '.join(retrained)} changed; a live bot trains again on what it will trade"
        _training_event(bot, reason=reason)
        return (
            f"; it went back to the training bay ({reason}) and trades on paper for {hours} before it can be "
            "promoted again"
        )
    return ""


def bot_delete(*, user, bot_id: int) -> None:
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
        audit_record(actor=user, action="bot.delete", target=bot, data={"name": bot.name})
        event_record(
            type="bot_deleted",
            user_id=bot.owner_id,
            bot_id=bot.pk,
            payload={"bot": {"id": bot.pk, "name": bot.name}},
            message=f"Bot '{bot.name}' deleted",
        )
