"""The books: fills booked into orders, trades, positions and daily rollups; reconciliation failures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.usage import usage_add
from bots import analytics, fills
from bots.engine import market
from bots.models import ZERO, Bot, BotDailyPnl, Order, Position, Trade
from bots.serializers import order_to_dict, position_to_dict, trade_to_dict
from realtime.services import event_build, event_record, events_insert


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
    engine_state: Callable[[Trade], dict] | None = None,
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

    ``engine_state``: the bot's memory after this trade (the engine's), written with its totals.
    The returned trade carries ``cash_delta`` (what it did to the bot's cash) and ``position``
    (the position after it), neither stored on the trade.
    """
    _check_fill(side, quantity, price)
    executed_at = executed_at or timezone.now()
    with transaction.atomic():
        # NO KEY UPDATE: rows inserted for the bot meanwhile (signals, events) need not wait (bots/engine/tick.py).
        bot = Bot.objects.select_for_update(no_key=True).get(pk=bot if isinstance(bot, int) else bot.pk)
        existing = Trade.objects.filter(bot=bot, fill_id=fill_id).first()
        if existing is not None:
            return existing
        symbol = symbol or (order.symbol if order is not None else bot.symbol)
        # Every writer of positions holds the bot's row lock first; the position's own lock keeps
        # that so should one ever not.
        position = Position.objects.select_for_update().filter(bot=bot, symbol=symbol).first()
        return fill_book(
            bot=bot,
            position=position,
            order=order,
            side=side,
            symbol=symbol,
            quantity=quantity,
            price=price,
            fill_id=fill_id,
            fee=fee,
            fee_currency=fee_currency,
            fee_quote=fee_quote,
            executed_at=executed_at,
            is_paper=is_paper,
            engine_state=engine_state,
        )


def fill_book(
    *,
    bot: Bot,
    position: Position | None,
    order: Order | None,
    side: str,
    symbol: str,
    quantity: Decimal,
    price: Decimal,
    fill_id: str,
    fee: Decimal,
    fee_currency: str,
    fee_quote: Decimal | None,
    executed_at: datetime,
    is_paper: bool,
    engine_state: Callable[[Trade], dict] | None = None,
    rollup_exists: bool | None = None,
) -> Trade:
    """The books of one new fill, for a caller that holds the bot's row lock, has read
    ``position`` (``None``: none yet in ``symbol``) under it and knows ``fill_id`` is not booked.

    The accounting is done first, in Python (a refused fill writes nothing); then one write
    per row: the order (inserted with its fill when it is new, ``order.pk`` unset), the trade,
    the position, the day's rollup, the bot's totals and memory, the usage counters and the
    ``trade_executed`` event. ``rollup_exists``: whether the bot's rollup row of the fill's UTC day
    exists, when the caller read it under the lock (unknown: an update is tried first).
    """
    _check_fill(side, quantity, price)
    quantity, price, fee = Decimal(quantity), Decimal(price), Decimal(fee)
    value = None if fee_quote is None else Decimal(fee_quote)
    parts = _fee_in_quote(fee=fee, fee_currency=fee_currency, bot=bot, price=price, value=value)
    held, cost = (position.quantity, position.average_cost) if position is not None else (ZERO, ZERO)
    try:
        applied = fills.apply_fill(side=side, quantity=quantity, price=price, fee=parts, held=held, average_cost=cost)
    except fills.FillRefused as exc:
        raise ValueError(f"{symbol}: {exc}") from None
    trade = Trade(
        bot=bot,
        owner_id=bot.owner_id,
        fill_id=fill_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        price=price,
        fee=fee,
        fee_currency=fee_currency or bot.quote_currency,
        fee_quote=parts.value,
        realized_pnl=applied.realized,
        is_paper=is_paper,
        reason=order.reason if order is not None else "",
        executed_at=executed_at,
    )
    trade.cash_delta = applied.cash_delta  # not stored: what this fill did to the bot's cash (the engine's picture)
    new_order = order is not None and order.pk is None
    if order is not None:
        _order_fill(order, trade)  # a new order is inserted with its fill: one write
        trade.order = order
    trade.save(force_insert=True)
    trade.position = _position_apply(bot, position, symbol=symbol, trade=trade, applied=applied, fee=parts)
    _totals_add(bot, trade, state=engine_state(trade) if engine_state is not None else None, rollup=rollup_exists)
    usage_add(user_id=bot.owner_id, orders=int(new_order), trades=1, events=1)
    analytics.summary_invalidate(bot.owner_id)
    _trade_event(bot, trade, trade.position)
    return trade


def _check_fill(side: str, quantity: Decimal, price: Decimal) -> None:
    if Decimal(quantity) <= 0 or Decimal(price) <= 0:
        raise ValueError("a fill needs a positive quantity and price")
    if side not in (Order.Side.BUY, Order.Side.SELL):
        raise ValueError(f"unknown side {side!r}")


def _position_apply(
    bot: Bot, position: Position | None, *, symbol: str, trade: Trade, applied: fills.Applied, fee: fills.FeeParts
) -> Position:
    """The fill applied to the bot's position in ``symbol`` (read under the lock) and saved."""
    if position is None:
        position = Position(bot=bot, symbol=symbol)
    if trade.side == Order.Side.BUY and position.quantity == 0:
        position.opened_at = trade.executed_at
    position.quantity, position.average_cost = applied.quantity, applied.average_cost
    if applied.realized is not None:
        position.realized_pnl += applied.realized
    position.fees += fee.value
    if position.pk is None:
        position.save(force_insert=True)
    else:
        position.save(update_fields=["quantity", "average_cost", "realized_pnl", "fees", "opened_at", "updated_at"])
    return position


def _totals_add(bot: Bot, trade: Trade, *, state: dict | None = None, rollup: bool | None = None) -> None:
    """The trade added to the bot's rollup of its UTC day and to its running totals, with
    ``F()`` expressions (the row is locked; concurrent readers see either both or neither),
    and the bot's memory when given."""
    realized = trade.realized_pnl
    win = realized is not None and realized > 0
    loss = realized is not None and realized < 0
    pnl = realized or ZERO
    day = trade.executed_at.astimezone(UTC).date()  # rollups are per UTC day
    figures = {
        "realized_pnl": pnl,
        "gross_profit": pnl if win else ZERO,
        "gross_loss": -pnl if loss else ZERO,
        "fees": trade.fee_quote,
        "volume": trade.quantity * trade.price,
        "trades": 1,
        "wins": int(win),
        "losses": int(loss),
    }
    # The day's row exists after its first trade; only fills (under the bot's lock) write it.
    # Adding zero changes nothing: only the figures this trade moves are written.
    added = rollup is not False and BotDailyPnl.objects.filter(bot=bot, day=day).update(
        **{k: F(k) + v for k, v in figures.items() if v}
    )
    if not added:
        BotDailyPnl.objects.create(bot=bot, day=day, **figures)
    totals = {
        "realized_pnl": pnl,
        "total_fees": trade.fee_quote,
        "total_trades": 1,
        "winning_trades": int(win),
        "losing_trades": int(loss),
        "cash_balance": trade.cash_delta,
    }
    extra = {} if state is None else {"state": state}
    Bot.objects.filter(pk=bot.pk).update(
        **{k: F(k) + v for k, v in totals.items() if v}, last_price=trade.price, updated_at=timezone.now(), **extra
    )


def _order_fill(order: Order, trade: Trade) -> None:
    """The trade added to its order: filled quantity (capped at the order's), average price,
    fee, and the status it leads to. A new order (no ``pk``) is inserted with it."""
    filled = min(order.quantity, order.filled_quantity + trade.quantity)
    prior = order.filled_quantity * (order.average_price or ZERO)
    order.average_price = (prior + trade.quantity * trade.price) / filled
    order.filled_quantity = filled
    order.fee += trade.fee
    order.fee_currency = order.fee_currency or trade.fee_currency
    order.status = Order.Status.FILLED if filled >= order.quantity else Order.Status.PARTIALLY_FILLED
    if order.status == Order.Status.FILLED:
        order.closed_at = trade.executed_at
    if order.pk is None:
        order.save(force_insert=True)
        return
    order.save(
        update_fields=["average_price", "filled_quantity", "fee", "fee_currency", "status", "closed_at", "updated_at"]
    )


def _trade_event(bot: Bot, trade: Trade, position: Position) -> None:
    verb = "bought" if trade.side == Order.Side.BUY else "sold"
    event = event_build(
        type="trade_executed",
        user_id=bot.owner_id,
        bot_id=bot.pk,
        payload={"trade": trade_to_dict(trade), "bot_id": bot.pk, "position": position_to_dict(position)},
        message=f"Bot '{bot.name}' {verb} {trade.quantity.normalize():f} {trade.symbol} at {trade.price.normalize():f}",
    )
    events_insert([event], usage_counted=True)  # counted with the trade's usage


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
        mark = price or market.last_price(bot.exchange, position.symbol) or position.average_cost
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
        bot = Bot.objects.select_for_update(no_key=True).get(pk=bot_id)
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
