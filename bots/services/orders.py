"""The engine's writes of orders and bot memory (the tick decides; these keep the books).

Each is called by :mod:`bots.engine.tick` where its transaction boundaries require: the order
intent and the engine memory that names it inside the tick's locked transaction (a nested
atomic block), the progress of an order that left for a venue outside any lock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.usage import usage_add
from bots.models import Bot, Order, Position, Trade
from bots.services.books import fill_book


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
) -> Order:
    """Persist a decided market order (``new``) with the bot memory naming it, before any venue call.

    Called in the tick's transaction (which holds the bot's row lock): it joins it, no savepoint.
    """
    with transaction.atomic(savepoint=False):
        order = _intent(
            bot,
            client_order_id=client_order_id,
            side=side,
            quantity=quantity,
            is_paper=is_paper,
            reason=reason,
            reference_price=reference_price,
            created_at=created_at,
        )
        order.save(force_insert=True)
        usage_add(user_id=bot.owner_id, orders=1)
        Bot.objects.filter(pk=bot.pk).update(state=state)
    return order


def order_paper_fill(
    *,
    bot: Bot,
    position: Position | None,
    client_order_id: str,
    side: str,
    quantity: Decimal,
    reason: str,
    reference_price: Decimal,
    created_at: datetime,
    fill: dict,
    engine_state: Callable[[Trade], dict],
    rollup_exists: bool | None = None,
) -> Trade:
    """A paper market order decided and filled at once, in the tick's transaction holding the
    bot's row lock (``position`` read under it): no venue is called, so the intent needs no
    commit of its own. The order is inserted already filled, then the books (``fill_book``);
    a crash before the commit leaves neither, and the tick slot is decided again.

    ``fill``: the paper fill's ``fill_id``, ``quantity``, ``price``, ``fee``, ``fee_currency``,
    ``fee_quote`` and ``executed_at``; ``engine_state``: the bot's memory after the trade;
    ``rollup_exists``: as read under the lock, whether the bot's rollup of the fill's day exists.
    """
    with transaction.atomic(savepoint=False):
        order = _intent(
            bot,
            client_order_id=client_order_id,
            side=side,
            quantity=quantity,
            is_paper=True,
            reason=reason,
            reference_price=reference_price,
            created_at=created_at,
        )
        return fill_book(
            bot=bot,
            position=position,
            order=order,
            side=side,
            symbol=bot.symbol,
            is_paper=True,
            engine_state=engine_state,
            rollup_exists=rollup_exists,
            **fill,
        )


def _intent(
    bot: Bot,
    *,
    client_order_id: str,
    side: str,
    quantity: Decimal,
    is_paper: bool,
    reason: str,
    reference_price: Decimal,
    created_at: datetime,
) -> Order:
    """The decided market order, not yet saved."""
    return Order(
        bot=bot,
        client_order_id=client_order_id,
        symbol=bot.symbol,
        side=side,
        type=Order.Type.MARKET,
        quantity=quantity,
        status=Order.Status.NEW,
        is_paper=is_paper,
        reason=reason[:64],
        reference_price=reference_price,
        created_at=created_at,
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
