"""Signals' writes: providers, webhooks, and receiving a signal (API.md "signals").

Each service is one transaction and raises ``core.errors``. A received signal is always
recorded, accepted or refused with its reason; only an accepted one is handed on (after
the commit) to ``signals.tasks.signal_execute``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from accounts.usage import usage_add
from bots.models import Bot, FleetHalt, Order, Position
from bots.selectors import bot_get
from core.cache_outage import is_cache_outage
from core.errors import ApplicationError, Conflict, Invalid, NotFound, Unauthenticated
from realtime.services import event_build, events_insert
from signals import events, parser, tokens
from signals.models import Provider, Signal, Webhook

logger = logging.getLogger(__name__)

SIGNAL_STRATEGY = "signal"
DEFAULT_MAX_LAG_SECONDS = 60
RECEIPT_FIELDS = (
    *("id", "owner_id", "name", "symbol", "strategy"),
    *("status", "force_paused", "trading_mode", "in_training"),
)
SIGNATURE_MAX_AGE_SECONDS = 300

# Refusal codes (``Signal.reason``).
NOT_SIGNAL_BOT = "not_signal_bot"
BOT_NOT_RUNNING = "bot_not_running"
BOT_LOCKED = "bot_locked"
FLEET_HALTED = "fleet_halted"
STALE = "stale"
FROM_THE_FUTURE = "from_the_future"
DUPLICATE = "duplicate"
WRONG_SYMBOL = "wrong_symbol"
NO_POSITION = "no_position"
ORDER_REFUSED = "order_refused"  # the bot's rules (or the venue) placed no order; the message says which
ORDER_FAILED = "order_failed"  # placing the order raised (no market data, venue down)
BOT_BUSY = "bot_busy"  # a tick held the bot longer than the wait (retried, then refused)
EXECUTING = "executing"  # accepted and being acted on: a task that finds this was cut off
ORDER_REJECTED = "order_rejected"  # the venue refused the order (it is on the signal)
BUSY_WAIT = 2.0  # seconds the task waits for a ticking bot before handing the signal back for a retry
# bots.services.instructions' result codes -> a signal's reason.
RESULT_CODES = {
    "refused": ORDER_REFUSED,
    "bot_not_running": BOT_NOT_RUNNING,
    "bot_busy": BOT_BUSY,
    "tick_failed": ORDER_FAILED,
    "order_rejected": ORDER_REJECTED,
}
# A bot's accepted signals are acted on by one drain at a time (signal_execute): its lock is
# renewed before each signal and expires this long after, so a killed worker never strands it
# (the task's hard time limit: a live drain never outlives its lock).
DRAIN_LOCK_SECONDS = 60
DRAIN_SECONDS = 20  # a drain hands the rest over to a new task after this (bounded tasks)
EXIT_PLACES = Decimal("0.000001")  # the bot's exits keep six places
MAX_TP = Decimal(100)


# ---------------------------------------------------------------------------
# providers
# ---------------------------------------------------------------------------
def _provider(user, provider_id: int, *, lock: bool = False) -> Provider:
    queryset = Provider.objects.filter(owner=user, pk=provider_id)
    provider = (queryset.select_for_update() if lock else queryset).first()
    if provider is None:
        raise NotFound("Provider not found.")
    return provider


def _attach(user, provider: Provider, bot_ids: list[int]) -> None:
    """Make ``bot_ids`` exactly the provider's bots (each the user's signal bot)."""
    bots = list(Bot.objects.of(user).filter(pk__in=bot_ids))
    missing = sorted(set(bot_ids) - {bot.pk for bot in bots})
    if missing:
        raise NotFound(f"Bot {missing[0]} not found.")
    for bot in bots:
        if bot.strategy != SIGNAL_STRATEGY:
            raise Invalid(f"Bot {bot.pk} is not a signal bot.", code="NOT_A_SIGNAL_BOT")
    Webhook.objects.filter(provider=provider).exclude(bot_id__in=bot_ids).update(provider=None)
    for bot in bots:
        webhook = _webhook_for(bot)
        webhook.provider = provider
        webhook.save(update_fields=["provider"])


@transaction.atomic
def provider_create(*, user, name: str, description: str = "", bot_ids: list[int] | None = None) -> Provider:
    if Provider.objects.filter(owner=user, name=name).exists():
        raise Conflict(f"You already have a provider named {name!r}.", code="PROVIDER_EXISTS")
    provider = Provider.objects.create(owner=user, name=name, description=description)
    if bot_ids:
        _attach(user, provider, bot_ids)
    return provider


@transaction.atomic
def provider_update(*, user, provider_id: int, data: dict) -> Provider:
    provider = _provider(user, provider_id, lock=True)
    name = data.get("name", provider.name)
    if name != provider.name and Provider.objects.filter(owner=user, name=name).exists():
        raise Conflict(f"You already have a provider named {name!r}.", code="PROVIDER_EXISTS")
    provider.name = name
    provider.description = data.get("description", provider.description)
    provider.save()
    if "bot_ids" in data:
        _attach(user, provider, data["bot_ids"])
    return provider


@transaction.atomic
def provider_delete(*, user, provider_id: int) -> None:
    """The provider goes; its bots stay, unattached, and its history keeps the signals (provider unset)."""
    _provider(user, provider_id, lock=True).delete()


# ---------------------------------------------------------------------------
# webhooks
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WebhookInfo:
    bot_id: int
    token: str
    signing_secret: str
    provider_id: int | None
    created_at: datetime
    rotated_at: datetime | None


def _info(webhook: Webhook) -> WebhookInfo:
    return WebhookInfo(
        bot_id=webhook.bot_id,
        token=tokens.token_for(webhook.key_id, webhook.nonce),
        signing_secret=tokens.signing_secret_for(webhook.key_id, webhook.nonce),
        provider_id=webhook.provider_id,
        created_at=webhook.created_at,
        rotated_at=webhook.rotated_at,
    )


def _webhook_for(bot: Bot) -> Webhook:
    key_id, nonce = tokens.new_ingredients()
    webhook, _ = Webhook.objects.get_or_create(bot=bot, defaults={"key_id": key_id, "nonce": nonce})
    return webhook


def _signal_bot(user, bot_id: int) -> Bot:
    bot = bot_get(user=user, bot_id=bot_id)
    if bot.strategy != SIGNAL_STRATEGY:
        raise Conflict("This bot is not a signal bot: only a signal bot has a webhook.", code="NOT_A_SIGNAL_BOT")
    return bot


@transaction.atomic
def webhook_get(*, user, bot_id: int) -> WebhookInfo:
    """The bot's webhook, made on first asking."""
    return _info(_webhook_for(_signal_bot(user, bot_id)))


@transaction.atomic
def webhook_rotate(*, user, bot_id: int) -> WebhookInfo:
    """A new token (and signing secret); the old ones stop working at once."""
    webhook = _webhook_for(_signal_bot(user, bot_id))
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    webhook.key_id, webhook.nonce = tokens.new_ingredients()
    webhook.rotated_at = timezone.now()
    webhook.save(update_fields=["key_id", "nonce", "rotated_at"])
    return _info(webhook)


def webhook_resolve(token: str) -> Webhook:
    """The live webhook a token opens (with the bot fields a receipt reads), or a ``NotFound``
    that says nothing about why."""
    webhook = (
        Webhook.objects.filter(key_id=tokens.key_id_of(token), bot__deleted_at__isnull=True)
        .select_related("bot")  # what the receipt reads of the bot, in the same query
        .only("id", "bot_id", "key_id", "nonce", "provider_id", *(f"bot__{name}" for name in RECEIPT_FIELDS))
        .first()
    )
    # Compare even when nothing was found, so the answer takes as long either way.
    key_id, nonce = (webhook.key_id, webhook.nonce) if webhook else ("0" * tokens.KEY_ID_LENGTH, "")
    if not tokens.matches(token, key_id, nonce) or webhook is None:
        raise NotFound()
    return webhook


def signature_verify(*, webhook: Webhook, timestamp: str | None, signature: str | None, body: bytes) -> None:
    """An optional ``X-Botfleet-Signature`` (as ``internal/events``): when sent, it must be right, fresh and new."""
    if signature is None and timestamp is None:
        return
    if not timestamp or not signature:
        raise Unauthenticated("A signed request carries both X-Botfleet-Timestamp and X-Botfleet-Signature.")
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        raise Invalid("X-Botfleet-Timestamp must be unix seconds (up to 12 digits).", code="BAD_TIMESTAMP")
    if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
        raise Unauthenticated("The request is too old (or from the future).", code="SIGNATURE_EXPIRED")
    secret = tokens.signing_secret_for(webhook.key_id, webhook.nonce)
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(f"v1={digest}", signature.strip()):
        raise Unauthenticated("Bad signature.", code="BAD_SIGNATURE")
    if not cache.add(f"signals:signed:{digest}", 1, timeout=SIGNATURE_MAX_AGE_SECONDS * 2):
        raise Unauthenticated("This request was already received.", code="REPLAYED")


# ---------------------------------------------------------------------------
# receiving
# ---------------------------------------------------------------------------
def canonical_symbol(symbol: str) -> str:
    """``BTC/USDT``, ``BTCUSDT``, ``BINANCE:BTCUSDT``, ``BTC/USDT:USDT``, ``BTCUSDT.P`` -> ``BTCUSDT``."""
    symbol = symbol.strip().upper()
    if ":" in symbol:
        head, tail = symbol.split(":", 1)
        symbol = head if "/" in head else tail  # a ccxt settle suffix, or TradingView's exchange prefix
    symbol = re.sub(r"\.P$|PERP$", "", symbol)
    return re.sub(r"[^A-Z0-9]", "", symbol)


def refusal(bot: Bot, *, now: datetime) -> tuple[str, str] | None:
    """Why ``bot`` may not act on a signal now (a code and a sentence), or ``None``."""
    if bot.strategy != SIGNAL_STRATEGY:
        return NOT_SIGNAL_BOT, "The bot is not a signal bot."
    if bot.force_paused:
        return BOT_LOCKED, "The bot is paused by staff."
    if bot.status != Bot.Status.RUNNING:
        return BOT_NOT_RUNNING, f"The bot is {bot.status}, not running."
    if bot.trading_mode == Bot.Mode.LIVE and not bot.in_training and FleetHalt.is_halted():
        return FLEET_HALTED, "Live trading is halted fleet-wide."
    return None


def _lag_refusal(data: dict, now: datetime) -> tuple[str, str] | None:
    sent_at = data.get("timestamp")
    if sent_at is None:
        return None
    lag = timedelta(seconds=data.get("max_lag_seconds") or DEFAULT_MAX_LAG_SECONDS)
    if now - sent_at > lag:
        return STALE, f"The signal is older than its maximum lag ({int(lag.total_seconds())} s)."
    if sent_at - now > lag:
        return FROM_THE_FUTURE, "The signal's timestamp is in the future."
    return None


def _record(bot: Bot, *, source: str, data: dict, payload: dict, now: datetime, provider_id) -> Signal:
    """Record the signal with its verdict, its event and its task, in one transaction (its own
    when called outside one); a sender's ``id`` seen before makes it a duplicate.

    No lock on the bot: the verdict is only a receipt's (everything is checked again under the
    lock before any order, in ``signal_claim``), so a receipt never waits behind the bot's tick,
    and the unique constraint on ``(bot, client_id)`` catches a duplicate however close the two.
    """
    verdict = refusal(bot, now=now) or _lag_refusal(data, now)
    symbol = data.get("symbol") or ""
    if verdict is None and symbol and canonical_symbol(symbol) != canonical_symbol(bot.symbol):
        verdict = WRONG_SYMBOL, f"The signal is for {symbol}; the bot trades {bot.symbol}."
    fields = {
        "bot": bot,
        "provider_id": provider_id,
        "source": source,
        "action": data["action"],
        "symbol": symbol[:64],
        "payload": payload,
        "received_at": now,
        "status": Signal.Status.REJECTED if verdict else Signal.Status.ACCEPTED,
        "reason": verdict[0] if verdict else "",
        "message": verdict[1] if verdict else "",
    }
    client_id = data.get("id") or ""
    if client_id:
        inserted = False
        try:
            # Outside a caller's transaction this is the transaction itself, not a savepoint:
            # the duplicate's IntegrityError rolls it back and the refusal is recorded in a new one.
            with transaction.atomic():
                signal = Signal.objects.create(client_id=client_id, **fields)
                inserted = True
                return _hand_on(signal, bot)
        except IntegrityError:
            if inserted:
                raise  # not the duplicate id: a bug, not a verdict
        fields.update(
            status=Signal.Status.REJECTED, reason=DUPLICATE, message=f"A signal with id {client_id!r} was received."
        )
    with transaction.atomic():
        return _hand_on(Signal.objects.create(**fields), bot)


def _emit(signal: Signal, bot: Bot, *, type: str = "signal_received") -> None:
    """Record the signal's event, counted in its owner's usage.

    An accepted signal's receipt event is counted with its outcome's (``signal_executed``,
    ``signal_failed``, ``signal_rejected``: every accepted signal comes to one), not on receipt:
    the user's usage row is written by every tick and fill of their bots, and a receipt that
    updated it waited behind them (a flood of signals queued for seconds on that one row).
    """
    verdict = signal.status if signal.status in ("accepted", "executed") else f"{signal.status} ({signal.reason})"
    event = event_build(
        type=type,
        user_id=bot.owner_id,
        bot_id=bot.pk,
        payload={"signal": events.signal_summary(signal)},
        message=f"{bot.name}: {signal.action} signal {verdict}.",
    )
    if type != "signal_received":  # an outcome: only an accepted signal comes to one
        usage_add(user_id=bot.owner_id, events=2)  # this event and its receipt's
        events_insert([event], usage_counted=True)
    elif signal.status == Signal.Status.ACCEPTED:
        events_insert([event], usage_counted=True)  # counted with its outcome's
    else:
        events_insert([event])  # refused on receipt: counted now


def _hand_on(signal: Signal, bot: Bot) -> Signal:
    _emit(signal, bot)
    if signal.status == Signal.Status.ACCEPTED:
        _dispatch(signal.pk, bot.pk)
    return signal


def _dispatch(signal_id: int, bot_id: int) -> None:
    """After the commit, a task for the signal, unless its bot is being drained (``signals_drain``).

    A drain that holds the bot's lock looks again after releasing it, and the signal is committed
    before the lock is read here: it is acted on either way. Under a flood of one bot's signals that
    spares a publish per receipt and a task per signal that would find the lock taken.
    """
    from signals.tasks import signal_execute  # the task module imports this one

    def send() -> None:
        with _cache_may_fail(_drain_key(bot_id)):
            if cache.get(_drain_key(bot_id)) is not None:
                return
        signal_execute.delay(signal_id)

    transaction.on_commit(send)


def _plain(value):
    """``value`` as JSON keeps it exactly: Decimals as strings (never floats), datetimes as ISO 8601."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 25.500000000000 -> "25.5", 1E+2 -> "100"
    return value


def signal_receive(*, webhook: Webhook, data: dict, now: datetime | None = None) -> Signal:
    """``POST signals/{token}``: ``data`` is the validated body (``action``, ``symbol``, amounts, ``timestamp``...).

    The hot path of a flood of alerts: the bot as ``webhook_resolve`` read it (only what the
    verdict and the event read), no lock, one transaction (``_record``).
    """
    now = now or timezone.now()
    return _record(
        webhook.bot,
        source=Signal.Source.WEBHOOK,
        data=data,
        payload=_plain(data),
        now=now,
        provider_id=webhook.provider_id,
    )


@transaction.atomic
def signal_import(*, user, bot_id: int, text: str, now: datetime | None = None) -> tuple[Signal, parser.ParsedSignal]:
    """``POST signals/import``: a text signal for one of the user's bots, parsed then recorded."""
    parsed = parser.parse(text)
    bot = bot_get(user=user, bot_id=bot_id)
    provider_id = Webhook.objects.filter(bot=bot).values_list("provider_id", flat=True).first()
    payload = {"text": text, "parsed": _plain(parsed.as_dict())}
    data = {"action": parsed.action, "symbol": parsed.symbol}
    signal = _record(
        bot, source=Signal.Source.IMPORT, data=data, payload=payload, now=now or timezone.now(), provider_id=provider_id
    )
    return signal, parsed


# ---------------------------------------------------------------------------
# acting
# ---------------------------------------------------------------------------
def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def order_request(signal: Signal, *, bot: Bot, position: Decimal) -> tuple[dict | None, str, str]:
    """The instruction ``signal`` gives its bot (``bots.services.instructions``), or why there is none.

    An amount is ``quantity`` (base), ``quote_amount`` (quote) or ``percent`` (of the bot's
    capital for a buy, of the position for a sell); with none, a buy spends what the bot's own
    entries spend (its position size share of capital) and a sell sells everything. ``price``
    (an imported signal's limit entry) makes it a limit order. A close sells the whole
    position at market.
    """
    imported = signal.source == Signal.Source.IMPORT
    data = (signal.payload.get("parsed") if imported else signal.payload) or {}
    fields: dict = {"action": signal.action, "reason": "signal", "source_id": str(signal.pk)}
    if signal.action in ("sell", "close") and position <= 0:
        return None, NO_POSITION, "The bot holds nothing to sell."
    if signal.action == "close":
        return fields, "", ""
    if imported:
        price = _decimal(data.get("entry_price")) if data.get("order_type") == "limit" else None
    else:
        price = _decimal(data.get("price"))
    if price is not None:
        fields.update(type="limit", price=price)
    amounts = {name: _decimal(data.get(name)) for name in ("quantity", "quote_amount", "percent")}
    amounts = {name: value for name, value in amounts.items() if value is not None}
    if not amounts:
        share = bot.position_size_pct * 100 if signal.action == "buy" else Decimal(100)
        amounts = {"percent": min(share, Decimal(100))}
    return {**fields, **amounts}, "", ""


def _reject(signal: Signal, bot: Bot, status: str, verdict: tuple[str, str], *, type: str) -> Signal:
    signal.status, (signal.reason, signal.message) = status, verdict
    signal.save(update_fields=["status", "reason", "message", "updated_at"])
    _emit(signal, bot, type=type)
    return signal


class BotBusy(Exception):
    """Another tick held the bot for longer than the wait: the task tries again shortly."""


def _placed(signal: Signal) -> Order | None:
    """The order acting on ``signal`` placed, if it did (its client id is the signal's)."""
    from bots.engine.instruction import Instruction, client_order_id

    instruction = Instruction(action="buy", reason="signal", source_id=str(signal.pk))
    return Order.objects.filter(client_order_id=client_order_id(signal.bot_id, instruction)).first()


@transaction.atomic
def signal_claim(*, signal_id: int) -> tuple[Signal, dict] | None:
    """Check an accepted signal again under the bot's lock (it may have stopped since), size its
    order and mark it ``executing``.

    ``None`` when there is nothing (more) to do: gone, decided already, or refused now
    (recorded). A signal found ``executing`` was being acted on by a task that was cut off:
    its order, when it was placed, settles it; otherwise it is acted on again (the order's
    client id is the signal's, so a second order can never be placed).
    """
    signal = Signal.objects.select_for_update().filter(pk=signal_id, status=Signal.Status.ACCEPTED).first()
    if signal is None:
        return None  # gone, or already decided: a retried task does nothing twice
    bot = Bot.objects.select_for_update(no_key=True).get(pk=signal.bot_id)
    if signal.reason == EXECUTING and (order := _placed(signal)) is not None:
        _executed(signal, bot, order)
        return None
    now = timezone.now()
    verdict = refusal(bot, now=now) if bot.deleted_at is None else (BOT_NOT_RUNNING, "The bot is deleted.")
    if verdict:
        _reject(signal, bot, Signal.Status.REJECTED, verdict, type="signal_rejected")
        return None
    held = Position.objects.filter(bot=bot, symbol=bot.symbol).values_list("quantity", flat=True).first()
    request, code, message = order_request(signal, bot=bot, position=held or Decimal(0))
    if request is None:
        _reject(signal, bot, Signal.Status.FAILED, (code, message), type="signal_failed")
        return None
    signal.reason, signal.message = EXECUTING, "Acting on the signal."
    signal.save(update_fields=["reason", "message", "updated_at"])
    return signal, request


def _executed(signal: Signal, bot: Bot, order: Order) -> Signal:
    signal.status, signal.order, signal.reason = Signal.Status.EXECUTED, order, ""
    signal.message = f"Order {order.client_order_id}: {order.side} {order.type}, {order.status}."
    if signal.source == Signal.Source.IMPORT and order.side == "buy":
        signal.message += " " + _levels_to_exits(signal, bot, order)
    signal.message = signal.message[:300]
    signal.save(update_fields=["status", "order", "reason", "message", "payload", "updated_at"])
    _emit(signal, bot, type="signal_executed")
    return signal


def _levels_to_exits(signal: Signal, bot: Bot, order: Order) -> str:
    """An imported buy's take-profit and stop-loss prices become the bot's exits (fractions of the
    position's average cost, as the owner's own exits are), so the engine sells there; returns a
    sentence for the signal's message. The first (nearest) take-profit is the one used."""
    from bots.services.bots import bot_update

    parsed = signal.payload.get("parsed") or {}
    stop_loss = _decimal(parsed.get("stop_loss"))
    take_profit = _decimal((parsed.get("take_profit") or [None])[0])
    if stop_loss is None and take_profit is None:
        return ""
    cost = Position.objects.filter(bot=bot, symbol=bot.symbol).values_list("average_cost", flat=True).first()
    entry = cost or order.average_price or order.price
    if not entry:
        return "Its levels were not applied: the entry price is not known yet."
    exits, said = {}, []
    if stop_loss is not None and Decimal(0) < stop_loss < entry:
        exits["stop_loss_pct"] = ((entry - stop_loss) / entry).quantize(EXIT_PLACES, ROUND_HALF_UP)
        said.append(f"stop-loss {stop_loss} ({exits['stop_loss_pct']:%} below the average cost)")
    if take_profit is not None and take_profit > entry:
        exits["take_profit_pct"] = min(((take_profit - entry) / entry).quantize(EXIT_PLACES, ROUND_HALF_UP), MAX_TP)
        said.append(f"take-profit {take_profit} ({exits['take_profit_pct']:%} above)")
    exits = {key: value for key, value in exits.items() if value > 0}
    if not exits:
        return f"Its levels were not applied: they are on the wrong side of the average cost {entry}."
    try:
        bot_update(user=bot.owner, bot_id=bot.pk, data=exits)
    except ApplicationError as exc:  # e.g. deleted meanwhile: the order stands, its levels are not applied
        return f"Its levels were not applied: {exc}"
    signal.payload = {**signal.payload, "exits": _plain(exits)}
    return "The bot's exits are now its " + " and ".join(said) + "."


@transaction.atomic
def signal_settle(*, signal_id: int, order: Order | None, code: str = "", reason: str = "") -> Signal | None:
    """Record what acting on the signal came to: ``executed`` with its order, or ``failed`` with the reason.

    ``code`` ``bot_busy`` hands the signal back (``accepted``, not executing) for the task's retry.
    """
    signal = Signal.objects.select_for_update().filter(pk=signal_id, status=Signal.Status.ACCEPTED).first()
    if signal is None:
        return None
    bot = Bot.objects.only("id", "owner_id", "name", "symbol").get(pk=signal.bot_id)  # what the outcome names
    if code == BOT_BUSY:
        signal.reason, signal.message = "", ""
        signal.save(update_fields=["reason", "message", "updated_at"])
        return signal
    if order is None or code:
        verdict = (code or ORDER_REFUSED, (reason or "No order was placed.")[:300])
        # Only the signal's own order (a venue's rejection); not the stop-loss that fired instead.
        signal.order = order if order is not None and order.reason == "signal" else None
        signal.save(update_fields=["order"])
        return _reject(signal, bot, Signal.Status.FAILED, verdict, type="signal_failed")
    return _executed(signal, bot, order)


def signal_execute(*, signal_id: int, last_attempt: bool = True) -> None:
    """The task of an accepted signal: act on its bot's accepted signals (:func:`signals_drain`).

    A signal decided already (a drain started by another signal's task took it) costs one query.
    """
    bot_id = Signal.objects.filter(pk=signal_id, status=Signal.Status.ACCEPTED).values_list("bot_id", flat=True).first()
    if bot_id is not None:
        signals_drain(bot_id=bot_id, last_attempt=last_attempt)


def signals_drain(*, bot_id: int, last_attempt: bool = True) -> None:
    """Act on the bot's accepted signals one by one, in the order received, until none is left.

    One drain per bot at a time, under a lock in the cache (renewed before each signal,
    expiring ``DRAIN_LOCK_SECONDS`` after, so a killed worker's never outlives it, and
    :func:`signals_sweep` then sends a task for what it left). A task that finds the lock
    taken just returns, and a receipt that finds it sends none: the holder acts on that
    signal too, because after releasing the lock it looks again, and a signal committed
    meanwhile makes it drain again. So a flood of signals costs one drain per bot, not a task
    per signal polling for its turn; and a close right behind a buy sees the buy's position,
    whichever worker ran which task.

    A drain running longer than ``DRAIN_SECONDS`` hands the rest over to a new task. A bot
    busy with its own tick beyond ``BUSY_WAIT`` raises ``BotBusy`` (lock released; the task
    retries) unless ``last_attempt``, which refuses the signal at the head as busy.

    A cache that is down takes no lock: drains may then overlap, which costs work, not
    safety (the order's client id is the signal's, and the bot's tick lease orders its ticks).
    """
    started = time.monotonic()
    key = _drain_key(bot_id)
    while True:
        token = _lock_take(key)
        if token is None:
            return
        try:
            while (signal_id := _next_accepted(bot_id)) is not None:
                _lock_renew(key, token)
                signal_act(signal_id=signal_id, last_attempt=last_attempt)
                if time.monotonic() - started > DRAIN_SECONDS:
                    break
        finally:
            _lock_release(key, token)
        next_id = _next_accepted(bot_id)
        if next_id is None:
            return
        if time.monotonic() - started > DRAIN_SECONDS:
            _dispatch(next_id, bot_id)  # the rest in a new task (outside any transaction: sent at once)
            return


def signals_sweep(*, now: datetime | None = None) -> int:
    """A task for each bot whose accepted signals waited longer than a drain's lock lives (beat).

    Normally none: a signal is acted on within seconds of its receipt. One left is a killed
    worker's (its drain's lock expired, and its task may never be redelivered) or a lost
    publish; a bot being drained is left to its drain (``_dispatch``). Returns the bots sent.
    """
    stale = (now or timezone.now()) - timedelta(seconds=DRAIN_LOCK_SECONDS)
    waiting = (
        Signal.objects.filter(status=Signal.Status.ACCEPTED, received_at__lt=stale)
        .values("bot_id")
        .annotate(first=Min("pk"))
        .order_by()
    )
    for row in waiting:
        _dispatch(row["first"], row["bot_id"])
    return len(waiting)


def _drain_key(bot_id: int) -> str:
    return f"signals:drain:{bot_id}"


def _next_accepted(bot_id: int) -> int | None:
    return (
        Signal.objects.filter(bot_id=bot_id, status=Signal.Status.ACCEPTED)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


NO_LOCK = object()  # a drain's token when the cache is down


@contextlib.contextmanager
def _cache_may_fail(key: str):
    """The drain lock is an optimisation (see ``signals_drain``): a cache outage is logged, not raised."""
    try:
        yield
    except Exception as exc:
        if not is_cache_outage(exc):
            raise
        logger.warning("Signal drain %s: the cache failed (%s); going on without it", key, exc.__class__.__name__)


def _lock_take(key: str):
    """A token if this drain holds ``key`` now (``NO_LOCK`` when the cache is down), else ``None``."""
    token = uuid.uuid4().hex
    with _cache_may_fail(key):
        return token if cache.add(key, token, timeout=DRAIN_LOCK_SECONDS) else None
    return NO_LOCK


def _lock_renew(key: str, token) -> None:
    if token is not NO_LOCK:
        with _cache_may_fail(key):
            cache.touch(key, DRAIN_LOCK_SECONDS)


def _lock_release(key: str, token) -> None:
    if token is not NO_LOCK:
        with _cache_may_fail(key):
            if cache.get(key) == token:  # not another drain's, taken after ours expired
                cache.delete(key)


def signal_act(*, signal_id: int, last_attempt: bool = True) -> Signal | None:
    """Act on one accepted signal: check the bot again, place its order, record the outcome.

    Three steps, not one transaction: the order goes through the bot's own tick
    (``bots.services.instructions.instruction_submit``, called outside any transaction:
    the lease, the limiter, training bay, halt, flags, overrides, exits first, bodyguard; a
    real order's request leaves outside any lock). A bot busy with a tick raises
    ``BotBusy`` (the signal is handed back, still accepted) unless this is the ``last_attempt``.
    Only a drain calls this (its lock keeps a bot's signals in order).
    """
    claimed = signal_claim(signal_id=signal_id)
    if claimed is None:
        return None  # decided (refused, or settled by the order a cut-off task placed)
    signal, request = claimed
    try:
        order, code, reason = order_place(signal, request)
    except Exception as exc:  # recorded on the signal (it must not stay executing for ever), then logged
        logger.exception("Signal %s: placing its order failed", signal_id)
        order, code, reason = None, ORDER_FAILED, f"Placing the order failed: {exc.__class__.__name__}: {exc}"
    if code == BOT_BUSY and last_attempt:
        code = ORDER_REFUSED
    settled = signal_settle(signal_id=signal_id, order=order, code=code, reason=reason)
    if code == BOT_BUSY:
        raise BotBusy(reason)
    return settled


def order_place(signal: Signal, request: dict) -> tuple[Order | None, str, str]:
    """Submit the signal's instruction to its bot: the order, or a refusal code and sentence."""
    from bots.services import instructions

    instruction = instructions.instruction_build(**request)
    result = instructions.instruction_submit(bot_id=signal.bot_id, instruction=instruction, wait_seconds=BUSY_WAIT)
    if result.accepted:
        return result.order, "", ""
    return result.order, RESULT_CODES.get(result.code, ORDER_REFUSED), result.reason
