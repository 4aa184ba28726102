"""The engine's writes of orders and bot memory (the tick decides; these keep the books).

Each is called by :mod:`bots.engine.tick` where its transaction boundaries require: the order
intent and the engine memory that names it inside the tick's locked transaction (a nested
atomic block), the progress of an order that left for a venue outside any lock.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.usage import usage_add
from bots.models import Bot, Order, Trade
from bots.serializers import order_to_dict
from bots.services.books import NewFill, fills_book
from realtime.services import event_build, event_record, events_insert

INSTRUCTED = ("manual", "signal")  # orders asked for from outside (bots.engine.instruction.REASONS)
EXITS = ("stop_loss", "take_profit", "trailing_stop")  # bots.engine.risk.EXIT_REASONS


def order_intent_record(
    *,
    bot: Bot,
    client_order_id: str,
    side: str,
    quantity: Decimal,
    is_paper: bool,
    reason: str,
    reference_price: Decimal,
    created_at: datetime,
    state: dict,
    order_type: str = Order.Type.MARKET,
    price: Decimal | None = None,
    instruction: dict | None = None,
) -> Order:
    """Persist a decided order (``new``) with the bot memory naming it, before any venue call.

    An order asked for from outside (``manual``, ``signal``) records ``order_placed``; a
    protective exit ``exit_triggered`` — in the same transaction. Called in the tick's transaction
    (which holds the bot's row lock): it joins it, no savepoint."""
    with transaction.atomic(savepoint=False):
        order = _intent(
            bot,
            client_order_id=client_order_id,
            side=side,
            order_type=order_type,
            price=price,
            quantity=quantity,
            is_paper=is_paper,
            reason=reason,
            reference_price=reference_price,
            created_at=created_at,
        )
        _placed(bot, order, instruction=instruction)
        Bot.objects.filter(pk=bot.pk).update(state=state)
    return order


def _placed(bot: Bot, order: Order, *, instruction: dict | None) -> None:
    """Insert a decided order, counted, with the event an instructed order (``order_placed``) or
    an exit (``exit_triggered``) records; a strategy's own order has none (its trade tells)."""
    order.save(force_insert=True)
    event = None
    if order.reason in INSTRUCTED:
        kind = f"{order.type} {order.side}" + (f" at {order.price.normalize():f}" if order.price is not None else "")
        event = event_build(
            type="order_placed",
            user_id=bot.owner_id,
            bot_id=bot.pk,
            payload={"order": order_to_dict(order), "bot_id": bot.pk, "reason": order.reason}
            | ({"instruction": instruction} if instruction else {}),
            message=f"{bot.name}: {order.reason} {kind} of {order.quantity.normalize():f} placed.",
        )
    elif order.reason in EXITS:
        at = format(order.reference_price.quantize(Decimal("1e-12")).normalize(), "f")  # as the order keeps it
        event = event_build(
            type="exit_triggered",
            user_id=bot.owner_id,
            bot_id=bot.pk,
            payload={"order": order_to_dict(order), "bot_id": bot.pk, "reason": order.reason, "price": at},
            message=f"{bot.name}: {order.reason.replace('_', '-')} at {at}, selling.",
        )
    usage_add(user_id=bot.owner_id, orders=1, events=int(event is not None))
    if event is not None:
        events_insert([event], usage_counted=True)


def order_paper_fills(fills: list[dict]) -> list[Trade]:
    """Paper market orders filled at once, in the tick's transaction holding each bot's row
    lock: no venue is called, so an intent needs no commit of its own. The orders are
    inserted already filled with the books of their fills (``fills_book``, one write per table
    for all of them); a crash before the commit leaves none, and each tick slot is decided again.
    An instructed order or an exit is inserted first with its event (``order_placed``,
    ``exit_triggered``, as ``order_intent_record`` records it), so its event comes before its trade's.

    Each item: ``bot``, ``totals`` and ``position`` (read under the lock), ``client_order_id``,
    ``side``, ``quantity``, ``reason``, ``reference_price``, ``created_at``, ``fill`` (the paper
    fill's ``fill_id``, ``quantity``, ``price``, ``fee``, ``fee_currency``, ``fee_quote`` and
    ``executed_at``), ``engine_state`` (the bot's memory after the trade) and, for an instructed
    order, ``instruction``. Limit orders go through ``order_intent_record``.
    """
    entries, announced = [], []
    for item in fills:
        bot = item["bot"]
        order = _intent(
            bot,
            client_order_id=item["client_order_id"],
            side=item["side"],
            order_type=Order.Type.MARKET,
            price=None,
            quantity=item["quantity"],
            is_paper=True,
            reason=item["reason"],
            reference_price=item["reference_price"],
            created_at=item["created_at"],
        )
        if order.reason in INSTRUCTED or order.reason in EXITS:
            announced.append((bot, order, item.get("instruction")))
        entries.append(
            NewFill(
                bot=bot,
                totals=item["totals"],
                position=item["position"],
                order=order,
                side=item["side"],
                symbol=bot.symbol,
                is_paper=True,
                engine_state=item["engine_state"],
                **item["fill"],
            )
        )
    with transaction.atomic(savepoint=False):
        for bot, order, instruction in announced:
            _placed(bot, order, instruction=instruction)
        return fills_book(entries)


def _intent(
    bot: Bot,
    *,
    client_order_id: str,
    side: str,
    order_type: str,
    price: Decimal | None,
    quantity: Decimal,
    is_paper: bool,
    reason: str,
    reference_price: Decimal,
    created_at: datetime,
) -> Order:
    """The decided order, not yet saved."""
    return Order(
        bot=bot,
        client_order_id=client_order_id,
        symbol=bot.symbol,
        side=side,
        type=order_type,
        price=price,
        quantity=quantity,
        status=Order.Status.NEW,
        is_paper=is_paper,
        reason=reason[:64],
        reference_price=reference_price,
        created_at=created_at,
    )


def order_rest(order: Order) -> None:
    """A limit order that did not fill at once rests (``open``) until the market reaches its price."""
    if order.status == Order.Status.NEW:
        order.status = Order.Status.OPEN
        order.submitted_at = order.submitted_at or timezone.now()
        order.save(update_fields=["status", "submitted_at", "updated_at"])


def order_cancel(order: Order, *, bot: Bot, why: str) -> None:
    """A resting order canceled (its owner, or an exit or close that sells the position): ``order_canceled``."""
    with transaction.atomic():
        if order.status in Order.OPEN_STATUSES:  # a live one is closed by what the venue said
            order_close(order, status=Order.Status.CANCELED, error=why)
        event_record(
            type="order_canceled",
            user_id=bot.owner_id,
            bot_id=bot.pk,
            payload={"order": order_to_dict(order), "bot_id": bot.pk, "reason": why},
            message=f"{bot.name}: order {order.client_order_id} canceled ({why}).",
        )


def bot_engine_state_save(*, bot_id: int, state: dict) -> None:
    """The strategy and engine memory after a fill (in the fill's transaction)."""
    Bot.objects.filter(pk=bot_id).update(state=state)


def order_mark_sent(order: Order) -> None:
    """Committed just before the request leaves: the unknown-outcome grace period runs from it."""
    order.submitted_at = timezone.now()
    order.save(update_fields=["submitted_at", "updated_at"])


def order_close(order: Order, *, status: str, error: str) -> None:
    """An order that ends without (more) fills: canceled, rejected, never received."""
    order.status, order.error, order.closed_at = status, error[:500], timezone.now()
    order.save(update_fields=["status", "error", "closed_at", "updated_at"])


def order_mark_unknown(order: Order, *, message: str) -> None:
    """The venue's answer was lost: the order is looked up by client id before the bot trades again."""
    message = message[:500]
    if order.status == Order.Status.UNKNOWN:
        if message and message != order.error:  # why it is still unknown, shown on the order
            order.error = message
            order.save(update_fields=["error", "updated_at"])
        return
    order.status, order.error = Order.Status.UNKNOWN, message
    order.submitted_at = order.submitted_at or timezone.now()
    order.save(update_fields=["status", "error", "submitted_at", "updated_at"])


def order_mark_submitted(order: Order, *, venue_order_id: str) -> None:
    """The venue knows the order (by its id)."""
    order.venue_order_id = venue_order_id
    order.status = Order.Status.SUBMITTED
    order.submitted_at = order.submitted_at or timezone.now()
    order.save(update_fields=["venue_order_id", "status", "submitted_at", "updated_at"])
