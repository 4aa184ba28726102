"""The books: fills booked into orders, trades, positions and daily rollups; reconciliation failures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.usage import usage_add
from bots import analytics, fills
from bots.engine import market
from bots.models import ZERO, Bot, BotDailyPnl, Order, Position, Trade
from bots.serializers import order_to_dict, position_to_dict, trade_to_dict
from core.bulk import update_rows
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
            totals={name: getattr(bot, name) for name in TOTALS},
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


TOTALS = ("cash_balance", "realized_pnl", "total_fees", "total_trades", "winning_trades", "losing_trades")


@dataclass
class NewFill:
    """One fill to book, for a caller that holds its bot's row lock, has read ``totals`` (the
    bot's ``TOTALS``) and ``position`` (``None``: none yet in ``symbol``) under it, and knows
    ``fill_id`` is not booked. ``order``: its order (inserted with the fill when it has no pk)."""

    bot: Bot
    totals: dict
    position: Position | None
    order: Order | None
    side: str
    symbol: str
    quantity: Decimal
    price: Decimal
    fill_id: str
    executed_at: datetime
    fee: Decimal = ZERO
    fee_currency: str = ""
    fee_quote: Decimal | None = None
    is_paper: bool = True
    engine_state: Callable[[Trade], dict] | None = None  # the bot's memory after the trade


def fill_book(**fill) -> Trade:
    """The books of one new fill (the fields of :class:`NewFill`): :func:`fills_book`."""
    return fills_book([NewFill(**fill)])[0]


def fills_book(entries: list[NewFill]) -> list[Trade]:
    """The books of new fills (of one bot or many), with one write per table, not per fill.

    The accounting is done first, in Python, fill after fill (a refused fill raises
    ``ValueError`` and writes nothing); then: the orders (inserted with their fill when new),
    the trades, the positions, the days' rollups (per UTC day), the bots' totals and memory
    (absolute values from the totals read under the lock), the usage counters and the
    ``trade_executed`` events. Each returned trade carries ``cash_delta`` (what it did to its
    bot's cash) and ``position`` (the position after it), neither stored on the trade.
    """
    positions: dict[tuple[int, str], Position] = {}
    totals: dict[int, dict] = {}
    trades: list[Trade] = []
    for fill in entries:
        _check_fill(fill.side, fill.quantity, fill.price)
        bot = fill.bot
        key = (bot.pk, fill.symbol)
        position = positions.get(key) or fill.position or Position(bot=bot, symbol=fill.symbol)
        positions[key] = position
        quantity, price, fee = Decimal(fill.quantity), Decimal(fill.price), Decimal(fill.fee)
        value = None if fill.fee_quote is None else Decimal(fill.fee_quote)
        parts = _fee_in_quote(fee=fee, fee_currency=fill.fee_currency, bot=bot, price=price, value=value)
        try:
            applied = fills.apply_fill(
                side=fill.side,
                quantity=quantity,
                price=price,
                fee=parts,
                held=position.quantity,
                average_cost=position.average_cost,
            )
        except fills.FillRefused as exc:
            raise ValueError(f"{fill.symbol}: {exc}") from None
        trade = Trade(
            bot=bot,
            owner_id=bot.owner_id,
            fill_id=fill.fill_id,
            symbol=fill.symbol,
            side=fill.side,
            quantity=quantity,
            price=price,
            fee=fee,
            fee_currency=fill.fee_currency or bot.quote_currency,
            fee_quote=parts.value,
            realized_pnl=applied.realized,
            is_paper=fill.is_paper,
            reason=fill.order.reason if fill.order is not None else "",
            executed_at=fill.executed_at,
        )
        trade.cash_delta = applied.cash_delta
        _position_apply(position, trade=trade, applied=applied, fee=parts)
        trade.position = position
        running = totals.setdefault(bot.pk, {name: fill.totals[name] for name in TOTALS})
        _totals_apply(running, trade)
        if fill.order is not None:
            _order_fill(fill.order, trade)
        trades.append(trade)

    new_orders = {id(fill.order): fill.order for fill in entries if fill.order is not None and fill.order.pk is None}
    Order.objects.bulk_create(list(new_orders.values()))
    for fill in entries:
        if fill.order is not None and id(fill.order) not in new_orders:
            fill.order.save(update_fields=[*ORDER_FILL_FIELDS, "updated_at"])
    for fill, trade in zip(entries, trades, strict=True):
        trade.order = fill.order
    Trade.objects.bulk_create(trades)
    _positions_write(list(positions.values()))
    _rollups_add(trades)
    now = timezone.now()
    states = {}
    for fill, trade in zip(entries, trades, strict=True):
        if fill.engine_state is not None:
            states[fill.bot.pk] = fill.engine_state(trade)  # the last trade's memory is the bot's
    last_price = {trade.bot_id: trade.price for trade in trades}
    rows = [{"id": pk, **figures, "last_price": last_price[pk], "updated_at": now} for pk, figures in totals.items()]
    update_rows(Bot, [r for r in rows if r["id"] not in states], [*TOTALS, "last_price", "updated_at"])
    update_rows(
        Bot,
        [{**r, "state": states[r["id"]]} for r in rows if r["id"] in states],
        [*TOTALS, "last_price", "updated_at", "state"],
    )
    owners: dict[int, list[int]] = {}
    for fill in entries:
        counts = owners.setdefault(fill.bot.owner_id, [0, 0])
        counts[0] += int(id(fill.order) in new_orders)
        counts[1] += 1
    for owner_id, (orders, count) in owners.items():
        usage_add(user_id=owner_id, orders=orders, trades=count, events=count)
        analytics.summary_invalidate(owner_id)
    events_insert(
        [_trade_event(fill.bot, trade) for fill, trade in zip(entries, trades, strict=True)], usage_counted=True
    )
    return trades


def _check_fill(side: str, quantity: Decimal, price: Decimal) -> None:
    if Decimal(quantity) <= 0 or Decimal(price) <= 0:
        raise ValueError("a fill needs a positive quantity and price")
    if side not in (Order.Side.BUY, Order.Side.SELL):
        raise ValueError(f"unknown side {side!r}")


POSITION_FIELDS = ("quantity", "average_cost", "realized_pnl", "fees", "opened_at", "updated_at")


def _position_apply(position: Position, *, trade: Trade, applied: fills.Applied, fee: fills.FeeParts) -> None:
    if trade.side == Order.Side.BUY and position.quantity == 0:
        position.opened_at = trade.executed_at
    position.quantity, position.average_cost = applied.quantity, applied.average_cost
    if applied.realized is not None:
        position.realized_pnl += applied.realized
    position.fees += fee.value


def _positions_write(positions: list[Position]) -> None:
    held = [p for p in positions if p.pk is not None]
    Position.objects.bulk_create([p for p in positions if p.pk is None])
    now = timezone.now()
    for position in held:
        position.updated_at = now
    update_rows(
        Position,
        [{"id": p.pk, **{name: getattr(p, name) for name in POSITION_FIELDS}} for p in held],
        list(POSITION_FIELDS),
    )


def _outcome(trade: Trade) -> tuple[Decimal, bool, bool]:
    realized = trade.realized_pnl
    return realized or ZERO, realized is not None and realized > 0, realized is not None and realized < 0


def _totals_apply(totals: dict, trade: Trade) -> None:
    """The trade added to its bot's running totals (as read under the lock)."""
    pnl, win, loss = _outcome(trade)
    totals["realized_pnl"] += pnl
    totals["total_fees"] += trade.fee_quote
    totals["total_trades"] += 1
    totals["winning_trades"] += int(win)
    totals["losing_trades"] += int(loss)
    totals["cash_balance"] += trade.cash_delta


ROLLUP_FIGURES = ("realized_pnl", "gross_profit", "gross_loss", "fees", "volume", "trades", "wins", "losses")


def _rollups_add(trades: list[Trade]) -> None:
    """The trades added to their bots' rollups of their UTC days (rows read here, under the bots' locks)."""
    days = {(trade.bot_id, trade.executed_at.astimezone(UTC).date()) for trade in trades}
    rollups = {
        (row.bot_id, row.day): row
        for row in BotDailyPnl.objects.filter(bot_id__in={b for b, _ in days}, day__in={d for _, d in days})
        if (row.bot_id, row.day) in days
    }
    new = []
    for trade in trades:
        key = (trade.bot_id, trade.executed_at.astimezone(UTC).date())
        row = rollups.get(key)
        if row is None:
            row = rollups[key] = BotDailyPnl(bot_id=key[0], day=key[1])
            new.append(row)
        pnl, win, loss = _outcome(trade)
        row.realized_pnl += pnl
        row.gross_profit += pnl if win else ZERO
        row.gross_loss += -pnl if loss else ZERO
        row.fees += trade.fee_quote
        row.volume += trade.quantity * trade.price
        row.trades += 1
        row.wins += int(win)
        row.losses += int(loss)
    BotDailyPnl.objects.bulk_create(new)
    update_rows(
        BotDailyPnl,
        [
            {"id": row.pk, **{name: getattr(row, name) for name in ROLLUP_FIGURES}}
            for row in rollups.values()
            if row not in new
        ],
        list(ROLLUP_FIGURES),
    )


ORDER_FILL_FIELDS = ("average_price", "filled_quantity", "fee", "fee_currency", "status", "closed_at")


def _order_fill(order: Order, trade: Trade) -> None:
    """The trade added to its order: filled quantity (capped at the order's), average price,
    fee, and the status it leads to (written by the caller)."""
    filled = min(order.quantity, order.filled_quantity + trade.quantity)
    prior = order.filled_quantity * (order.average_price or ZERO)
    order.average_price = (prior + trade.quantity * trade.price) / filled
    order.filled_quantity = filled
    order.fee += trade.fee
    order.fee_currency = order.fee_currency or trade.fee_currency
    order.status = Order.Status.FILLED if filled >= order.quantity else Order.Status.PARTIALLY_FILLED
    if order.status == Order.Status.FILLED:
        order.closed_at = trade.executed_at


def _trade_event(bot: Bot, trade: Trade):
    verb = "bought" if trade.side == Order.Side.BUY else "sold"
    return event_build(
        type="trade_executed",
        user_id=bot.owner_id,
        bot_id=bot.pk,
        payload={"trade": trade_to_dict(trade), "bot_id": bot.pk, "position": position_to_dict(trade.position)},
        message=f"Bot '{bot.name}' {verb} {trade.quantity.normalize():f} {trade.symbol} at {trade.price.normalize():f}",
    )


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
