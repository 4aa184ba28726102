"""Signals' writes: providers, webhooks, and receiving a signal (API.md "signals").

Each service is one transaction and raises ``core.errors``. A received signal is always
recorded, accepted or refused with its reason; only an accepted one is handed on (after
the commit) to ``signals.tasks.signal_execute``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from bots.models import Bot, FleetHalt, Order, Position
from bots.selectors import bot_get
from core.errors import ApplicationError, Conflict, Invalid, NotFound, Unauthenticated
from realtime.services import event_record
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
ORDER_WAIT = 30  # seconds a signal waits for the bot's earlier signals to be acted on
BUSY_WAIT = 2.0  # seconds the task waits for a ticking bot before handing the signal back for a retry
# bots.services.instructions' result codes -> a signal's reason.
RESULT_CODES = {
    "refused": ORDER_REFUSED,
    "bot_not_running": BOT_NOT_RUNNING,
    "bot_busy": BOT_BUSY,
    "tick_failed": ORDER_FAILED,
    "order_rejected": ORDER_REJECTED,
}
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
    """The live webhook a token opens, or ``NotFound`` that says nothing about why."""
    webhook = (
        Webhook.objects.filter(key_id=tokens.key_id_of(token), bot__deleted_at__isnull=True)
        .only("id", "bot_id", "key_id", "nonce", "provider_id")
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
    """Record the signal with its verdict; a sender's ``id`` seen before makes it a duplicate."""
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
        try:
            with transaction.atomic():
                return Signal.objects.create(client_id=client_id, **fields)
        except IntegrityError:
            fields.update(
                status=Signal.Status.REJECTED, reason=DUPLICATE, message=f"A signal with id {client_id!r} was received."
            )
    return Signal.objects.create(**fields)


def _emit(signal: Signal, bot: Bot, *, type: str = "signal_received") -> None:
    verdict = signal.status if signal.status in ("accepted", "executed") else f"{signal.status} ({signal.reason})"
    event_record(
        type=type,
        user_id=bot.owner_id,
        bot_id=bot.pk,
        payload={"signal": events.signal_summary(signal)},
        message=f"{bot.name}: {signal.action} signal {verdict}.",
    )


def _hand_on(signal: Signal, bot: Bot) -> None:
    _emit(signal, bot)
    if signal.status == Signal.Status.ACCEPTED:
        from signals.tasks import signal_execute  # the task module imports this one

        transaction.on_commit(lambda: signal_execute.delay(signal.pk))


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


@transaction.atomic
def signal_receive(*, webhook: Webhook, data: dict, now: datetime | None = None) -> Signal:
    """``POST signals/{token}``: ``data`` is the validated body (``action``, ``symbol``, amounts, ``timestamp``...)."""
    now = now or timezone.now()
    # Only what the verdict and the event read: a receipt is the hot path of a flood of alerts.
    bot = Bot.objects.select_for_update().only(*RECEIPT_FIELDS).get(pk=webhook.bot_id)
    payload = _plain(data)
    signal = _record(
        bot, source=Signal.Source.WEBHOOK, data=data, payload=payload, now=now, provider_id=webhook.provider_id
    )
    _hand_on(signal, bot)
    return signal


@transaction.atomic
def signal_import(*, user, bot_id: int, text: str, now: datetime | None = None) -> tuple[Signal, parser.ParsedSignal]:
    """``POST signals/import``: a text signal for one of the user's bots, parsed then recorded."""
    parsed = parser.parse(text)
    bot = bot_get(user=user, bot_id=bot_id)
    bot = Bot.objects.select_for_update().get(pk=bot.pk)
    provider_id = Webhook.objects.filter(bot=bot).values_list("provider_id", flat=True).first()
    payload = {"text": text, "parsed": _plain(parsed.as_dict())}
    data = {"action": parsed.action, "symbol": parsed.symbol}
    signal = _record(
        bot, source=Signal.Source.IMPORT, data=data, payload=payload, now=now or timezone.now(), provider_id=provider_id
    )
    _hand_on(signal, bot)
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
def signal_claim(*, signal_id: int, in_order: bool = True) -> tuple[Signal, dict] | None:
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
    bot = Bot.objects.select_for_update().get(pk=signal.bot_id)
    if signal.reason == EXECUTING and (order := _placed(signal)) is not None:
        _executed(signal, bot, order)
        return None
    now = timezone.now()
    verdict = refusal(bot, now=now) if bot.deleted_at is None else (BOT_NOT_RUNNING, "The bot is deleted.")
    if verdict:
        _reject(signal, bot, Signal.Status.REJECTED, verdict, type="signal_rejected")
        return None
    # In the order received: a close right behind a buy must see the buy's position, even when
    # another worker runs the buy's task. A predecessor older than ORDER_WAIT is not waited for.
    if in_order and (
        Signal.objects.filter(bot=bot, status=Signal.Status.ACCEPTED, pk__lt=signal.pk)
        .filter(received_at__gte=now - timedelta(seconds=ORDER_WAIT))
        .exists()
    ):
        raise BotBusy("An earlier signal of this bot is still being acted on.")
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
    bot = Bot.objects.select_related("owner").get(pk=signal.bot_id)
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


def signal_execute(*, signal_id: int, last_attempt: bool = True) -> Signal | None:
    """Act on an accepted signal at once: check the bot again, place its order, record the outcome.

    Three steps, not one transaction: the order goes through the bot's own tick
    (``bots.services.instructions.instruction_submit``, called outside any transaction:
    the lease, the limiter, training bay, halt, flags, overrides, exits first, bodyguard; a
    real order's request leaves outside any lock). A bot busy with a tick raises
    ``BotBusy`` (the task retries) unless this is the ``last_attempt``.
    """
    try:
        claimed = signal_claim(signal_id=signal_id)
    except BotBusy:
        if not last_attempt:
            raise
        claimed = signal_claim(signal_id=signal_id, in_order=False)
    if claimed is None:
        return Signal.objects.filter(pk=signal_id).first()
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
