"""The tick: claim a batch of due bots, decide, apply the risk rules, place and record orders.

Concurrency and idempotency (DESIGN.md "How a bot trades"):

* **Claim.** One conditional ``WITH picked AS (SELECT … LIMIT n) UPDATE … RETURNING`` sets
  ``claimed_until`` (the lease) on up to ``limit`` due running bots whose lease is free
  (PostgreSQL adds
  ``FOR UPDATE SKIP LOCKED``, so two workers split the due bots instead of waiting; on
  SQLite the statement runs under the database write lock). A bot is ticked by one
  worker at a time; a killed worker's lease expires after ``ENGINE_LEASE_SECONDS``,
  longer than the tick task's hard time limit, and the next beat dispatches it again.
* **One order per tick slot.** The client order id is ``bf-<bot>-<tick_count>``: the
  same tick run twice (a crash before the bookkeeping, a retried task) computes the
  same id, and the unique constraint plus the check under the bot's row lock turn the
  second attempt into nothing.
* **Intent before the venue.** Immediately before every order, in one transaction
  holding the bot's row lock, the bot's status, force-pause, lease, mode, training
  flag, position, override rules (the protective exits are judged again under them),
  ``ENABLE_TRADING`` and the fleet halt are read again; a mode or position that changed
  since the claim refuses the decision. Only then is the order intent written (``new``)
  together with the engine memory that names the decision (``state.engine.pending``). A
  stop, force-pause or halt that commits first wins; one that commits after sees an order
  already decided. A promotion revokes the lease, so a tick it overtakes neither orders
  nor writes its bookkeeping. No network call is made under the lock: a real-money
  order's key set and markets are loaded before it; ``submitted_at`` is committed just
  before the request leaves (the unknown-outcome grace period runs from it).
* **Fill in one transaction.** ``trade_record_fill`` records fill, trade, position, rollup
  and ``trade_executed``; the strategy memory is written in the same transaction. A paper
  order has no venue between its intent and its fill: both are written in the locked
  transaction of the re-check (``order_paper_fills``: the order inserted already filled),
  so a crash leaves neither and the slot is decided again.
* **Paper fills booked together.** A paper market order the strategy decides is planned on
  the bot as claimed and booked with the others of its batch (up to ``FLUSH_BOTS`` bots or
  ``FLUSH_SECONDS``) in one transaction: the bots and positions are locked and read again,
  and only a bot unchanged since its claim is booked there, with one write per table for the
  whole group; any other is decided again alone, under its own lock, as above. The bot's
  bodyguard runs once its books are written. The relay is woken once per 50 ms of a batch.
* **Reconcile first.** A bot with an order still in flight (``new``, ``submitted``,
  ``open``, ``unknown``) gets that order resolved — a paper intent is re-executed (the
  same fill), a live one is looked up on the venue by client id — before it may trade
  again; unresolved, the bot skips trading this tick.

Idle ticks are cheap: per batch, one claim, one query for positions, one for orders in
flight and one bulk bookkeeping ``UPDATE … FROM (VALUES …)``, whatever the batch size.
Market data is read once per symbol and timeframe per batch (:class:`market.Snapshot`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from bots import services, venues
from bots.engine import core, market, risk, strategies
from bots.engine import instruction as instructions
from bots.engine.adapters import live, paper
from bots.engine.strategies import SELL, Decision
from bots.lifecycle import Action
from bots.models import ZERO, Bot, FleetHalt, Order, Position, Trade
from core.errors import ApplicationError
from credentials import providers
from realtime import relay_signal

logger = logging.getLogger("botfleet.engine")


def lease_seconds() -> float:
    return risk.setting("ENGINE_LEASE_SECONDS", 60.0)


def batch_size() -> int:
    return risk.setting("ENGINE_BATCH_SIZE", 500, int)


def unknown_grace_seconds() -> float:
    """How long a venue may take to show an order before "not found" means "never placed"."""
    return risk.setting("ENGINE_UNKNOWN_GRACE_SECONDS", 30.0)


@dataclass
class TickReport:
    claimed: int = 0
    orders: int = 0
    fills: int = 0
    errors: int = 0
    paused: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # bot id → why no order this tick
    reconciled: int = 0
    placed: dict[int, int] = field(default_factory=dict)  # bot id → the order this tick placed

    def merge(self, other: TickReport) -> None:
        self.claimed += other.claimed
        self.orders += other.orders
        self.fills += other.fills
        self.errors += other.errors
        self.paused += other.paused
        self.refused.update(other.refused)
        self.reconciled += other.reconciled
        self.placed.update(other.placed)


class TickError(Exception):
    """A bot's tick failed in a way worth counting (no market data, no key set, venue down)."""


# ---------------------------------------------------------------------------
# Claim
# ---------------------------------------------------------------------------
def _claimable(*, now: datetime, due: bool = True, bot_ids: list[int] | None = None) -> tuple[str, list]:
    """The WHERE clause of a claim: running, not deleted, lease free (and due, or these ids).

    One definition for ``claim`` and ``due_count``, so dispatch never sends batches for
    bots a claim would not take, nor misses bots it would.
    """
    adapt = connection.ops.adapt_datetimefield_value
    where = ["status = 'running'", "deleted_at IS NULL", "(claimed_until IS NULL OR claimed_until < %s)"]
    params: list = [adapt(now)]
    if due:
        where.append("next_tick_at <= %s")
        params.append(adapt(now))
    if bot_ids:
        where.append(f"id IN ({', '.join(['%s'] * len(bot_ids))})")
        params += list(bot_ids)
    return " AND ".join(where), params


def due_count(*, now: datetime) -> int:
    """How many bots a claim at ``now`` could take: what dispatch sizes its batches by."""
    table = connection.ops.quote_name(Bot._meta.db_table)
    condition, params = _claimable(now=now)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {condition}", params)  # noqa: S608 - fixed columns
        return cursor.fetchone()[0]


def claim(
    *, now: datetime, limit: int, bot_ids: list[int] | None = None, due: bool = True
) -> tuple[list[Bot], datetime]:
    """Lease up to ``limit`` running bots (due ones, or exactly ``bot_ids``) with one UPDATE … RETURNING."""
    lease = now + timedelta(seconds=lease_seconds())
    table = connection.ops.quote_name(Bot._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    condition, params = _claimable(now=now, due=due, bot_ids=bot_ids)
    picked = f"SELECT id FROM {table} WHERE {condition} ORDER BY next_tick_at, id LIMIT %s"  # noqa: S608
    if connection.vendor == "postgresql":
        picked += " FOR NO KEY UPDATE SKIP LOCKED"  # as the re-check's lock (_recheck_sql)
    columns = ", ".join(f"{table}.{connection.ops.quote_name(f.column)}" for f in Bot._meta.concrete_fields)
    # A CTE joined by id, not "id IN (subquery)": PostgreSQL cannot hash a locking subquery and
    # would re-run it for every row of the table.
    sql = (
        f"WITH picked AS ({picked}) UPDATE {table} SET claimed_until = %s "  # noqa: S608 - fixed columns
        f"FROM picked WHERE {table}.id = picked.id RETURNING {columns}"
    )
    with transaction.atomic():
        bots = list(Bot.objects.raw(sql, [*params, int(limit), adapt(lease)]))
    bots.sort(key=lambda b: b.pk)
    return bots, lease


# ---------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------
@dataclass
class _Batch:
    now: datetime
    lease: datetime
    snapshot: market.Snapshot
    positions: dict[int, dict[str, Position]]
    inflight: dict[int, list[Order]]
    report: TickReport
    bodyguard: risk.BodyguardLimits | None
    halted: bool | None = None
    instruction: instructions.Instruction | None = None  # decides instead of the strategy (one bot)
    pending: list = field(default_factory=list)  # paper fills planned, to be booked together (_flush)
    pending_since: float = 0.0


def tick_batch(
    *,
    limit: int | None = None,
    now: datetime | None = None,
    bot_ids: list[int] | None = None,
    instruction: instructions.Instruction | None = None,
) -> TickReport:
    """Claim and tick one batch of due bots (or exactly ``bot_ids``, due or not).

    ``instruction`` (with one bot id): the tick orders what it says instead of asking the
    strategy, through every other rule (:func:`bots.services.instructions.instruction_submit`)."""
    now = now or timezone.now()
    bots, lease = claim(now=now, limit=limit or batch_size(), bot_ids=bot_ids, due=bot_ids is None)
    report = TickReport(claimed=len(bots))
    if not bots:
        return report
    ids = [b.pk for b in bots]
    positions: dict[int, dict[str, Position]] = {}
    for position in Position.objects.filter(bot_id__in=ids, quantity__gt=0):
        positions.setdefault(position.bot_id, {})[position.symbol] = position
    inflight: dict[int, list[Order]] = {}
    for order in Order.objects.filter(bot_id__in=ids, status__in=Order.OPEN_STATUSES).order_by("pk"):
        inflight.setdefault(order.bot_id, []).append(order)
    batch = _Batch(
        now=now,
        lease=lease,
        snapshot=market.Snapshot(now),
        positions=positions,
        inflight=inflight,
        report=report,
        bodyguard=risk.BodyguardLimits.current() if risk.bodyguard_enabled() else None,
        instruction=instruction,
    )
    # Each fill commits its own events; the relay is woken once per window for them, not per commit.
    with relay_signal.coalesced():
        for bot in bots:
            bot._engine_error = ""
            _guarded(bot, batch, lambda bot=bot: _tick_one(bot, batch))
            # A bot whose fill waits to be booked is guarded once its books are written.
            if not (batch.pending and batch.pending[-1].bot is bot):
                _after_tick(bot, batch)
            if _flush_due(batch):
                for booked in _flush(batch):
                    _after_tick(booked, batch)
        for booked in _flush(batch):
            _after_tick(booked, batch)
    _bookkeeping(bots, now=now, lease=lease)
    return report


def _guarded(bot: Bot, batch: _Batch, tick) -> None:
    """Run ``tick`` for one bot: its failure must not stop the batch; it is counted
    (consecutive_errors feeds the bodyguard's error-loop trigger) and logged with its trace."""
    try:
        tick()
    except Exception as exc:
        logger.exception("Tick of bot %s failed", bot.pk)
        bot._engine_error = f"{exc.__class__.__name__}: {exc}"[:500] or exc.__class__.__name__
        batch.report.errors += 1


def tick_bot(
    bot_id: int, *, now: datetime | None = None, instruction: instructions.Instruction | None = None
) -> TickReport:
    """One tick of one running bot now, due or not (``manage.py bots tick ID``), optionally
    ordering what ``instruction`` says instead of what its strategy would."""
    return tick_batch(limit=1, now=now, bot_ids=[bot_id], instruction=instruction)


def _state(bot: Bot) -> tuple[dict, dict]:
    state = bot.state if isinstance(bot.state, dict) else {}
    return dict(state.get("strategy") or {}), dict(state.get("engine") or {})


def _set_state(bot: Bot, strategy_state: dict, engine: dict) -> None:
    bot.state = {"strategy": strategy_state, "engine": engine}


RESTING = (Order.Status.OPEN, Order.Status.SUBMITTED, Order.Status.PARTIALLY_FILLED)


def _rests(order: Order) -> bool:
    """A limit order waiting for the market to reach its price (on paper, or open on the venue)."""
    return order.type == Order.Type.LIMIT and order.status in RESTING


def _tick_one(bot: Bot, batch: _Batch) -> None:
    inflight = batch.inflight.get(bot.pk)
    resting: list[Order] = []
    if inflight:
        for order in inflight:
            try:
                settled = _reconcile(bot, order, batch)
            except TickError:
                raise
            except Exception as exc:  # kept on the order, staff alerted; the tick fails (logged, counted)
                _reconcile_failed(order, exc)
                raise
            if not settled and _rests(order):
                resting.append(order)
            elif not settled:
                batch.report.refused[bot.pk] = f"order {order.client_order_id} still {order.status}"
                return
    instruction = batch.instruction
    if instruction is not None and instruction.action == instructions.CANCEL:
        return _cancel(bot, batch, instruction.order_id, resting)
    module = strategies.get(bot.strategy)
    strategy_state, engine = _state(bot)
    overrides = bot.override_rules or {}
    params = core.strategy_params(bot.strategy, bot.params, overrides)
    rules = risk.effective_rules(position_size_pct=bot.position_size_pct, override_rules=overrides, exits=bot.exits)
    series = batch.snapshot.series(bot.exchange, bot.symbol, bot.timeframe, module.lookback(params))
    if series is None:
        raise TickError(f"no market data for {bot.symbol} on {bot.exchange}")
    price = Decimal(str(series.price))
    bot.last_price = price
    held = batch.positions.get(bot.pk, {})
    position = held.get(bot.symbol)
    quantity = position.quantity if position else ZERO
    average_cost = position.average_cost if position else ZERO
    equity = float(bot.cash_balance + quantity * price)
    engine = risk.note_equity(engine, equity=equity, capital=float(bot.capital))
    _set_state(bot, strategy_state, engine)

    book = core.Book(
        cash=bot.cash_balance,
        capital=bot.capital,
        position=quantity,
        average_cost=average_cost,
        open_positions=len(held),
    )
    verdict = core.decide(
        module=module,
        params=params,
        strategy_state=strategy_state,
        engine=engine,
        rules=rules,
        closes=series.closes,
        price=series.price,
        book=book,
        # Dust a real venue cannot sell (under its lot size or minimums) is no position to trade
        # on: exits would be refused on every tick and the strategy would never enter again.
        tradable=_tradable(bot, quantity, price),
        tick=bot.tick_count,
        candle=series.time // market.timeframe_seconds(bot.timeframe),
        now=batch.now,
        instructed=instructions.decision(instruction, price=price, position=quantity, capital=bot.capital)
        if instruction is not None
        else None,
    )
    _set_state(bot, strategy_state, verdict.engine)
    if instruction is not None and verdict.exit_reason:
        _refuse(bot, batch, f"a {verdict.exit_reason.replace('_', '-')} sells the position first")
    if verdict.decision is None:
        if instruction is not None:
            _refuse(bot, batch, "nothing to order")
        return
    if verdict.refused:
        batch.report.refused[bot.pk] = verdict.refused
        return
    decision = verdict.decision
    if resting:
        # A resting order holds the bot's own trading; an exit or a close sells the position, so
        # what rests is canceled first (a limit sell would sell what is gone, a buy buy it back).
        if not (verdict.exit_reason or (instruction is not None and instruction.action == instructions.CLOSE)):
            first = resting[0]
            return _refuse(bot, batch, f"order {first.pk} rests (limit {first.side} at {first.price.normalize():f})")
        seller = (verdict.exit_reason or "close").replace("_", "-")
        for order in resting:
            why_not = _cancel_resting(bot, order, batch, why=f"the {seller} sells the position")
            if why_not:
                return _refuse(bot, batch, why_not)
    _order(
        bot,
        decision,
        price=price,
        position=position,
        open_positions=len(held),
        batch=batch,
        module=module,
        instruction=None if verdict.exit_reason else instruction,
    )


def _cancel(bot: Bot, batch: _Batch, order_id: int | None, resting: list[Order]) -> None:
    """An owner's cancel, under the tick's lease (so no reconciliation races it)."""
    order = next((o for o in resting if o.pk == order_id), None)
    if order is None:
        row = Order.objects.filter(bot_id=bot.pk, pk=order_id).values_list("status", flat=True).first()
        why = f"order {order_id} is {row}: only a resting order can be canceled" if row else f"no order {order_id}"
        return _refuse(bot, batch, why)
    why_not = _cancel_resting(bot, order, batch, why=f"canceled ({batch.instruction.reason})")
    if why_not:
        return _refuse(bot, batch, why_not)
    batch.report.placed[bot.pk] = order.pk


def _cancel_resting(bot: Bot, order: Order, batch: _Batch, *, why: str) -> str:
    """Cancel one resting order: "" once it is canceled, else why not. A live one is canceled on
    the venue and then read back by client id, so a fill that beat the cancel is booked."""
    if order.is_paper:
        services.order_cancel(order, bot=bot, why=why)
        return ""
    from credentials.exceptions import VenueError
    from credentials.providers import client_for

    try:
        client = client_for(_live_credential(bot, {"credential_id": bot.credential_id}))
    except VenueError as exc:
        raise TickError(str(exc)) from exc
    try:
        client.cancel_order(
            symbol=order.symbol, venue_order_id=order.venue_order_id, client_order_id=order.client_order_id
        )
    except VenueError as exc:  # filled or canceled meanwhile, or the venue is down: the lookup tells
        logger.info("Cancel of order %s: %s", order.client_order_id, exc)
    sent = order.submitted_at or order.created_at
    outcome = live.lookup(
        client, symbol=order.symbol, client_order_id=order.client_order_id, since_ms=int(sent.timestamp() * 1000)
    )
    _apply_live(bot, order, outcome, batch)
    order.refresh_from_db()
    if order.status == Order.Status.CANCELED:
        services.order_cancel(order, bot=bot, why=why)
        return ""
    if order.status == Order.Status.FILLED:
        return f"order {order.pk} filled before it could be canceled"
    return f"order {order.pk} could not be canceled now (it is {order.status} on {bot.exchange}); try again"


# ---------------------------------------------------------------------------
# Placing an order
# ---------------------------------------------------------------------------
def _tradable(bot: Bot, quantity: Decimal, price: Decimal) -> Decimal:
    """What of the position the bot can trade on (cached venue rules, no network call)."""
    venue_real = venues.is_real(bot.exchange)
    rules = market.market_rules(bot.exchange, bot.symbol) if venue_real and quantity > 0 else market.MarketRules()
    return core.tradable(quantity, price, market=rules, venue_real=venue_real)


def client_order_id(bot: Bot) -> str:
    """Deterministic per tick slot (≤ 36 characters: Binance's limit)."""
    return f"bf-{bot.pk}-{bot.tick_count}"


def _refuse(bot: Bot, batch: _Batch, why: str) -> None:
    batch.report.refused[bot.pk] = why
    logger.debug("Bot %s: no order (%s)", bot.pk, why)


_RECHECKED = (
    "name",
    "status",
    "force_paused",
    "deleted_at",
    "claimed_until",
    "override_rules",
    "trading_mode",
    "in_training",
    "exchange",
    "symbol",
    "credential_id",
    "cash_balance",
    "capital",
    "position_size_pct",
    *risk.EXIT_KEYS,
)


def _recheck_sql() -> str:
    """The re-check's one statement (written out: composing its subqueries through the ORM cost
    more than the rest of a trading tick's Python)."""
    ops = connection.ops
    q = ops.quote_name
    columns = ", ".join(q(Bot._meta.get_field(name).column) for name in ("id", *_RECHECKED, *services.TOTALS))
    order, trade = (q(model._meta.db_table) for model in (Order, Trade))
    sql = (
        f"SELECT {columns}, "  # noqa: S608 - fixed columns
        f"(EXISTS (SELECT 1 FROM {order} WHERE client_order_id = %s) "
        f"OR EXISTS (SELECT 1 FROM {trade} WHERE bot_id = %s AND fill_id = %s)) AS slot_taken "
        f"FROM {q(Bot._meta.db_table)} WHERE id = %s"
    )
    if not connection.features.has_select_for_update:
        return sql
    # NO KEY UPDATE (PostgreSQL): it excludes every other writer of the bot as FOR UPDATE does, but
    # not the foreign-key checks of rows inserted for the bot (a signal's receipt, an event): those
    # neither wait for the tick nor, holding the user's usage row, deadlock with it.
    return sql + (" FOR NO KEY UPDATE" if connection.features.has_select_for_no_key_update else " FOR UPDATE")


def _recheck(bot: Bot, batch: _Batch) -> tuple[dict | None, str]:
    """The bot as it is now, under its row lock; a reason when it may no longer trade.

    The same statement reads the bot's running totals (what a fill adds to) and says whether
    the tick slot already has its order (or its fill).
    """
    cid = getattr(bot, "_order_cid", None) or client_order_id(bot)  # the order's (an instruction has its own)
    rows = list(Bot.objects.raw(_recheck_sql(), [cid, bot.pk, cid, bot.pk]))
    fresh = None
    if rows:
        fresh = {name: getattr(rows[0], name) for name in _RECHECKED}
        fresh["totals"] = {name: getattr(rows[0], name) for name in services.TOTALS}
        fresh["slot_taken"] = bool(rows[0].slot_taken)
    if fresh is None or fresh["deleted_at"] is not None:
        return None, "the bot was deleted"
    if fresh["status"] != Bot.Status.RUNNING:
        return fresh, f"the bot is {fresh['status']}"
    if fresh["force_paused"]:
        return fresh, "the bot is force-paused by staff"
    if fresh["claimed_until"] != batch.lease:
        if fresh["claimed_until"] is None:  # a service (promotion) revoked the lease mid-tick
            return fresh, "the bot changed during this tick (its lease was revoked); the next tick decides again"
        return fresh, "this worker's lease on the bot expired"
    if (fresh["exchange"], fresh["symbol"]) != (bot.exchange, bot.symbol):
        return fresh, "the bot's market changed"
    # The decision was made for the bot as claimed: paper in the bay, or real money. A bot
    # promoted (or sent back to the bay) since then must not have that decision sent.
    if (fresh["trading_mode"], fresh["in_training"]) != (bot.trading_mode, bot.in_training):
        return fresh, "the bot's trading mode changed since the decision"
    return fresh, ""


def _order(
    bot, decision: Decision, *, price, position, open_positions, batch: _Batch, module, instruction=None
) -> None:
    cid = (instruction and instructions.client_order_id(bot.pk, instruction)) or client_order_id(bot)
    venue_real = venues.is_real(bot.exchange)
    # A real-money order's key set and the venue's markets are loaded before the row lock: a
    # network call under the lock would hold every writer of the bot (stop, staff, promotion)
    # for its duration. Under the lock, ``_recheck`` refuses a bot whose mode or key set
    # changed since the claim, so what is loaded here is what its order needs.
    order = {
        "cid": cid,
        "price": price,
        "position": position,
        "open_positions": open_positions,
        "batch": batch,
        "venue_real": venue_real,
        "credential": None,
        "live_market": None,
        "instruction": instruction,
    }
    claimed = risk.order_route(
        trading_mode=bot.trading_mode,
        in_training=bot.in_training,
        venue_is_real=venue_real,
        trading_enabled=settings.ENABLE_TRADING,
        halted=False,
    )
    if claimed.paper and instruction is None and decision.reason not in risk.EXIT_REASONS:
        if _defer(bot, decision, order):
            return
    elif not claimed.paper and not claimed.blocked:
        # A venue whose orders cannot be looked up by client id could never resolve an
        # unknown outcome: nothing is loaded, nothing is sent (``_recheck`` refuses a bot
        # whose venue or mode changed since, so this holds under the lock too).
        unsupported = providers.get(bot.exchange).capabilities.live_refusal(bot.exchange)
        if unsupported:
            return _refuse(bot, batch, unsupported)
        order["credential"] = _live_credential(bot, {"credential_id": bot.credential_id})
        order["live_market"] = _live_rules(order["credential"], bot)
    _order_now(bot, decision, **order)


def _order_now(bot, decision, **order) -> None:
    """The order decided, placed now in its own locked transaction (``_order_locked``, which
    takes ``order``: its client id, price, position, key set…) and executed after it."""
    before = bot.state
    try:
        placed = _order_locked(bot, decision, **order)
    except BaseException:
        bot.state = before  # the memory of a decision rolled back is not the bot's
        raise
    if placed is None:
        return
    batch = order["batch"]
    batch.report.orders += 1
    if isinstance(placed, Trade):  # a paper order, filled in the same transaction: its trade
        batch.report.placed[bot.pk] = placed.order_id
        return _filled(bot, placed, batch)
    batch.report.placed[bot.pk] = placed.pk  # an intent, committed: now it is executed
    if placed.is_paper:
        _execute_paper(bot, placed, batch)
    else:
        _execute_live(bot, placed, order["credential"], batch)


@dataclass
class _Plan:
    """An order sized, with its intent noted in the bot's memory. ``fill_now``: a paper market
    order, filled in the transaction that records it (no venue between)."""

    intent: dict
    paper: bool
    limit_price: Decimal | None
    fill_now: bool


def _plan(
    bot,
    decision,
    fresh: dict,
    *,
    cid,
    price,
    position,
    open_positions,
    batch,
    venue_real,
    credential,
    live_market,
    instruction,
) -> _Plan | None:
    """Every rule on the bot as ``fresh`` has it (read under its row lock, or as claimed), then
    the sizing and the intent noted in the bot's memory; ``None`` when refused (recorded)."""
    quantity = position.quantity if position else ZERO
    bot.name = fresh["name"]  # the trade's event names the bot as it is now
    # The money is sized as it is now, not as claimed: a stop, a capital change and a start
    # can all land between the claim and this lock (a long batch), and an order sized on the
    # old capital would spend money the bot no longer has.
    bot.cash_balance, bot.capital = fresh["cash_balance"], fresh["capital"]
    bot.position_size_pct = fresh["position_size_pct"]
    # Staff overrides as they are now, not as they were when the batch was claimed: the
    # protective exits are judged again under them.
    exits = {key: fresh[key] for key in risk.EXIT_KEYS if fresh[key] is not None}
    rules = risk.effective_rules(
        position_size_pct=bot.position_size_pct, override_rules=fresh["override_rules"], exits=exits
    )
    tradable = _tradable(bot, quantity, price)
    exit_now = risk.protective_exit(
        rules,
        position=tradable,
        average_cost=position.average_cost if tradable else ZERO,
        price=price,
        engine=_state(bot)[1],
    )
    if exit_now and decision.reason != exit_now:
        if instruction is not None:
            return _refuse(bot, batch, f"a {exit_now.replace('_', '-')} sells the position first")
        decision = Decision(SELL, quantity=float(quantity), reason=exit_now)
    elif not exit_now and decision.reason in risk.EXIT_REASONS:
        exit_name = decision.reason.replace("_", "-")
        return _refuse(bot, batch, f"the {exit_name} no longer applies under the staff rules")
    real_money = fresh["trading_mode"] == Bot.Mode.LIVE and not fresh["in_training"] and venue_real
    route = risk.order_route(
        trading_mode=fresh["trading_mode"],
        in_training=fresh["in_training"],
        venue_is_real=venue_real,
        trading_enabled=settings.ENABLE_TRADING,
        halted=FleetHalt.is_halted() if real_money else False,
    )
    if route.blocked:
        return _refuse(bot, batch, route.blocked)
    limit_price = instruction.price if instruction is not None and instruction.type == instructions.LIMIT else None
    if not route.paper and (credential is None or fresh["credential_id"] != bot.credential_id):
        return _refuse(bot, batch, "the bot's key set changed since the decision")
    strategy_state, engine = _state(bot)
    if not exit_now:
        refusal = risk.limiter_refusal(rules, engine, batch.now)
        if refusal:
            return _refuse(bot, batch, refusal)
    sized = core.size(
        decision,
        rules=rules,
        # A limit order is sized at its own price, which is what it fills at (no slippage).
        price=limit_price or price,
        book=core.Book(
            cash=bot.cash_balance,
            capital=bot.capital,
            position=quantity,
            average_cost=position.average_cost if position else ZERO,
            open_positions=open_positions,
        ),
        paper_route=route.paper,
        market=market.market_rules(bot.exchange, bot.symbol) if route.paper else live_market,
        venue_limits=venue_real,
        slippage_pct=ZERO if limit_price is not None else None,
    )
    if sized.refused:
        return _refuse(bot, batch, sized.refused)
    if fresh["slot_taken"]:
        return _refuse(bot, batch, f"tick slot {cid} already has its order")
    engine = core.note_intent(engine, client_order_id=cid, decision=decision, now=batch.now)
    _set_state(bot, strategy_state, engine)
    intent = {
        "client_order_id": cid,
        "side": decision.action,
        "quantity": sized.quantity,
        "reason": decision.reason,
        "reference_price": price,
        "created_at": batch.now,
    }
    # A paper market order is filled in the transaction that records it (no venue between): an
    # instructed one or an exit with its own event first. A limit order rests first.
    fill_now = route.paper and limit_price is None
    return _Plan(intent=intent, paper=route.paper, limit_price=limit_price, fill_now=fill_now)


def _order_locked(
    bot, decision, *, cid, price, position, open_positions, batch, venue_real, credential, live_market, instruction
) -> Order | Trade | None:
    """Under the bot's row lock, in one transaction: every re-check, the sizing, then a paper
    market order with its fill (the trade) or an intent (the order); ``None`` when refused."""
    quantity = position.quantity if position else ZERO
    bot._order_cid = cid
    with transaction.atomic():
        fresh, why = _recheck(bot, batch)
        if why:
            return _refuse(bot, batch, why)
        # The position the decision was made on was read when the batch was claimed; a service
        # may have changed it since (promotion closes a paper position in the books). Every
        # writer of positions holds the bot's lock: as read here, it is what a fill books onto.
        held = Position.objects.select_for_update().filter(bot_id=bot.pk, symbol=bot.symbol).first()
        if (held.quantity if held else ZERO) != quantity:
            return _refuse(bot, batch, "the position changed since the decision")
        plan = _plan(
            bot,
            decision,
            fresh,
            cid=cid,
            price=price,
            position=position,
            open_positions=open_positions,
            batch=batch,
            venue_real=venue_real,
            credential=credential,
            live_market=live_market,
            instruction=instruction,
        )
        if plan is None:
            return None
        if plan.fill_now:
            fill = _paper_fill(bot, plan, batch, totals=fresh["totals"], position=held)
            if instruction is not None:
                fill["instruction"] = instruction.as_dict()
            return services.order_paper_fills([fill])[0]
        return services.order_intent_record(
            bot=bot,
            **plan.intent,
            is_paper=plan.paper,
            state=bot.state,
            order_type=Order.Type.LIMIT if plan.limit_price is not None else Order.Type.MARKET,
            price=plan.limit_price,
            instruction=instruction.as_dict() if instruction is not None else None,
        )


def _paper_fill(bot, plan: _Plan, batch: _Batch, *, totals: dict, position: Position | None) -> dict:
    """A planned paper market order with its fill, as ``order_paper_fills`` books it."""
    intent = plan.intent
    cid = intent["client_order_id"]
    fill = paper.execute(
        client_order_id=cid,
        venue=bot.exchange,
        symbol=bot.symbol,
        side=intent["side"],
        quantity=intent["quantity"],
        at=batch.now,
        price=intent["reference_price"],
    )
    return {
        "bot": bot,
        "totals": totals,
        "position": position,
        **intent,
        "fill": _fill_figures(bot, fill),
        # The order's reason, as stored.
        "engine_state": _state_after_fill(bot, batch, client_order_id=cid, reason=intent["reason"][:64], at=batch.now),
    }


# ---------------------------------------------------------------------------
# Paper fills booked together
# ---------------------------------------------------------------------------
# A paper market order the strategy decides needs no venue: it is planned on the bot as
# claimed and booked with the others of its batch in one locked transaction (one write per
# table for all of them, not one transaction of nine statements each). Under the locks the
# bots are read again: one that changed in any way since the claim (stopped, promoted,
# overrides, capital, a position moved by a service) is not booked there but decided again
# alone through ``_order_locked``, exactly as if it had never been grouped.
FLUSH_BOTS = 100  # at most this many bots wait for their fills...
FLUSH_SECONDS = 0.25  # ...or this long: a trade's event reaches screens within it


@dataclass
class _Pending:
    bot: Bot
    decision: Decision
    plan: _Plan
    claimed: dict  # the re-checked fields as claimed
    order: dict  # what ``_order_now`` takes, should the bot be decided again alone
    state_before: dict


def _as_claimed(bot: Bot) -> dict:
    fresh = {name: getattr(bot, name) for name in _RECHECKED}
    fresh["slot_taken"] = False  # checked by the unique constraints when booked
    return fresh


def _defer(bot, decision, order: dict) -> bool:
    """Plan a paper order on the bot as claimed and leave its booking to ``_flush``; False
    (nothing changed, nothing recorded) when the plan is not a plain paper fill."""
    before, bot._order_cid = bot.state, order["cid"]
    plan = _plan(bot, decision, _as_claimed(bot), **order)
    # Refused or turned into an exit: decided again under the lock.
    if plan is None or not plan.fill_now or plan.intent["reason"] in risk.EXIT_REASONS:
        bot.state = before
        order["batch"].report.refused.pop(bot.pk, None)
        return False
    batch = order["batch"]
    if not batch.pending:
        batch.pending_since = time.monotonic()
    batch.pending.append(_Pending(bot, decision, plan, _as_claimed(bot), order, before))
    return True


def _flush_due(batch: _Batch) -> bool:
    return bool(batch.pending) and (
        len(batch.pending) >= FLUSH_BOTS or time.monotonic() - batch.pending_since >= FLUSH_SECONDS
    )


def _flush(batch: _Batch) -> list[Bot]:
    """Book the batch's pending paper fills in one transaction; the bots they were for."""
    pending, batch.pending = batch.pending, []
    if not pending:
        return []
    ids = sorted(p.bot.pk for p in pending)
    booked: list[tuple[_Pending, Trade]] = []
    again: list[_Pending] = []
    try:
        with transaction.atomic():
            rows = {
                row["id"]: row
                for row in Bot.objects.select_for_update(no_key=True)  # as _recheck_sql's lock
                .filter(pk__in=ids)
                .order_by("pk")
                .values("id", *_RECHECKED, *services.TOTALS)
            }
            held = {
                (p.bot_id, p.symbol): p
                for p in Position.objects.select_for_update().filter(bot_id__in=ids).order_by("pk")
            }
            ready, items = [], []
            for p in pending:
                row, position = rows.get(p.bot.pk), held.get((p.bot.pk, p.bot.symbol))
                unchanged = row is not None and all(row[name] == p.claimed[name] for name in _RECHECKED)
                claimed_position = p.order["position"]
                quantity = claimed_position.quantity if claimed_position else ZERO
                if not unchanged or (position.quantity if position else ZERO) != quantity:
                    again.append(p)
                    continue
                totals = {name: row[name] for name in services.TOTALS}
                items.append(_paper_fill(p.bot, p.plan, batch, totals=totals, position=position))
                ready.append(p)
            booked = list(zip(ready, services.order_paper_fills(items), strict=True))
    except IntegrityError:  # a tick slot already has its order (a retried tick): each decided alone
        booked, again = [], pending
    except Exception as exc:  # the database failed: none of these bots traded this tick (counted, logged)
        logger.exception("Booking %s paper fills failed", len(pending))
        for p in pending:
            p.bot.state = p.state_before
            p.bot._engine_error = f"{exc.__class__.__name__}: {exc}"[:500]
            batch.report.errors += 1
        return [p.bot for p in pending]
    for p, trade in booked:
        batch.report.orders += 1
        batch.report.placed[p.bot.pk] = trade.order_id
        _filled(p.bot, trade, batch)
    for p in again:
        p.bot.state = p.state_before
        _guarded(p.bot, batch, lambda p=p: _order_now(p.bot, p.decision, **p.order))
    return [p.bot for p in pending]


def _fill_figures(bot: Bot, fill: paper.PaperFill) -> dict:
    """What the books need of a paper fill (its fee is in the quote currency)."""
    return {
        "fill_id": fill.fill_id,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "fee_currency": bot.quote_currency,
        "fee_quote": fill.fee,
        "executed_at": fill.executed_at,
    }


def _execute_paper(bot: Bot, order: Order, batch: _Batch) -> bool:
    if order.type == Order.Type.LIMIT:
        return _execute_paper_limit(bot, order, batch)
    fill = paper.execute(
        client_order_id=order.client_order_id,
        venue=bot.exchange,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        at=order.created_at,
        price=order.reference_price,
    )
    if fill is None:
        return False
    _record_fill(bot, order, batch, **_fill_figures(bot, fill), is_paper=True)
    return True


def limit_cross(order: Order, *, rows, price_now: Decimal | None, now_ts: int) -> tuple[Decimal, int] | None:
    """Where and when a paper limit order fills: the first candle opening at or after the order
    whose low (buy) or high (sell) reaches the limit — at the limit, or at the candle's open when
    it opened beyond it — else the price now when it reaches the limit; ``None``: it rests."""
    limit, placed = order.price, int(order.created_at.timestamp())
    buy = order.side == Order.Side.BUY
    for candle in rows:
        if candle.time < placed or candle.time > now_ts:
            continue
        crossed = Decimal(str(candle.low)) <= limit if buy else Decimal(str(candle.high)) >= limit
        if crossed:
            opened = Decimal(str(candle.open))
            return (min(limit, opened) if buy else max(limit, opened)), candle.time
    if price_now is not None and (price_now <= limit if buy else price_now >= limit):
        return (min(limit, price_now) if buy else max(limit, price_now)), now_ts
    return None


def _execute_paper_limit(bot: Bot, order: Order, batch: _Batch) -> bool:
    """A paper limit order: filled when the market reached its price since it was placed
    (candle highs and lows, then the price now), else it rests (``open``)."""
    placed = int(order.created_at.timestamp())
    seconds = market.timeframe_seconds(bot.timeframe)
    if batch.snapshot.ts <= placed:  # the tick that places it: only the price it was decided on
        rows, price_now = [], order.reference_price
    else:
        count = min(1000, (batch.snapshot.ts - placed) // seconds + 2)
        rows = market.candles(bot.exchange, order.symbol, bot.timeframe, limit=count, end=batch.now)
        known = batch.snapshot.price(bot.exchange, order.symbol)
        price_now = Decimal(str(known)) if known is not None else None
        # A forming candle's high and low are what was known by now: only whole candles count,
        # the price now covers the rest.
        rows = [c for c in rows if c.time + seconds <= batch.snapshot.ts]
    crossed = limit_cross(order, rows=rows, price_now=price_now, now_ts=batch.snapshot.ts)
    if crossed is None:
        services.order_rest(order)
        return False
    fill_price, at = crossed
    fee = (order.quantity * fill_price * paper.fee_pct()).quantize(paper.PRICE_QUANTUM)
    _record_fill(
        bot,
        order,
        batch,
        fill_id=order.client_order_id,
        quantity=order.quantity,
        price=fill_price,
        fee=fee,
        fee_currency=bot.quote_currency,
        fee_quote=fee,
        executed_at=max(order.created_at, datetime.fromtimestamp(at, tz=UTC)),
        is_paper=True,
    )
    return True


def _state_after_fill(bot: Bot, batch: _Batch, *, client_order_id: str, reason: str, at: datetime):
    """The strategy and engine memory after a trade of order ``client_order_id`` (decided at ``at``),
    kept on ``bot`` and written by the books with the trade."""

    def after(trade: Trade) -> dict:
        strategy_state, engine = _state(bot)
        strategy_state, engine = core.after_fill(
            module=strategies.get(bot.strategy),
            params=bot.params,
            strategy_state=strategy_state,
            engine=engine,
            client_order_id=client_order_id,
            side=trade.side,
            order_reason=reason,
            quantity=trade.quantity,
            price=trade.price,
            realized=trade.realized_pnl,
            # The candle the exit was decided in (the intent's moment, also for a fill reconciled later).
            exit_candle=int(at.timestamp()) // market.timeframe_seconds(bot.timeframe),
            now=batch.now,
            bodyguard=batch.bodyguard,
        )
        _set_state(bot, strategy_state, engine)
        return bot.state

    return after


def _record_fill(bot: Bot, order: Order, batch: _Batch, **fill) -> None:
    """Fill, trade, position, rollup, ``trade_executed`` and the strategy memory: one transaction."""
    before = bot.state
    try:
        trade = services.trade_record_fill(
            bot=bot,
            order=order,
            side=order.side,
            symbol=order.symbol,
            engine_state=_state_after_fill(
                bot, batch, client_order_id=order.client_order_id, reason=order.reason, at=order.created_at
            ),
            **fill,
        )
    except BaseException:
        bot.state = before  # the memory of a fill rolled back is not the bot's
        raise
    _filled(bot, trade, batch)


def _filled(bot: Bot, trade: Trade, batch: _Batch) -> None:
    """Keep this batch's picture of the bot in step with the books (bookkeeping and bodyguard read it);
    a fill already booked (``cash_delta`` absent) changed nothing."""
    bot.cash_balance += getattr(trade, "cash_delta", ZERO)
    if hasattr(trade, "position"):
        position = trade.position
    else:
        position = Position.objects.filter(bot=bot, symbol=trade.symbol).first()
    batch.positions.setdefault(bot.pk, {})[trade.symbol] = position
    if position is not None and position.quantity <= 0:
        batch.positions[bot.pk].pop(trade.symbol, None)
    batch.report.fills += 1


# ---------------------------------------------------------------------------
# Live orders
# ---------------------------------------------------------------------------
def _live_credential(bot: Bot, fresh: dict):
    from credentials.selectors import credential_for_order

    owner = Bot._meta.get_field("owner").related_model(pk=bot.owner_id)
    try:
        return credential_for_order(
            user=owner, provider=bot.exchange, purpose="live", credential_id=fresh["credential_id"]
        )
    except ApplicationError as exc:  # no usable key set: missing, wrong purpose, undecryptable, not the owner's
        raise TickError(f"no usable live key set for {bot.exchange}: {exc}") from exc


def _live_rules(credential, bot: Bot) -> market.MarketRules:
    """The venue's lot size, minimum amount and minimum notional for a real order (loaded if unknown)."""
    rules = market.market_rules(bot.exchange, bot.symbol)
    if rules != market.MarketRules() or market.market_rules_loaded(bot.exchange):
        return rules
    from credentials.exceptions import VenueError
    from credentials.providers import client_for

    try:
        market.load_market_rules(bot.exchange, client_for(credential))
    except VenueError as exc:
        raise TickError(f"{bot.exchange} markets unavailable: {exc}") from exc
    return market.market_rules(bot.exchange, bot.symbol)


def _still_may_send(bot: Bot) -> str:
    """The last word before a real order leaves: the fleet halt and the bot's state, read again."""
    if not settings.ENABLE_TRADING:
        return "real-money trading is disabled"
    if FleetHalt.is_halted():
        return "the fleet was halted before the order was sent"
    row = Bot.objects.filter(pk=bot.pk).values("status", "force_paused", "in_training").first()
    if row is None or row["status"] != Bot.Status.RUNNING or row["force_paused"] or row["in_training"]:
        return "the bot stopped trading before the order was sent"
    return ""


def _execute_live(bot: Bot, order: Order, credential, batch: _Batch) -> None:
    from credentials.providers import client_for

    why = _still_may_send(bot)
    if why:
        _close_unsent(order, why)
        return _refuse(bot, batch, why)
    client = client_for(credential)
    # Committed before the request leaves: the grace period of an unknown outcome runs from
    # the moment the order was really sent, not from the batch's start (a bot late in a long
    # batch sends long after its intent was written; a worker killed mid-request leaves this).
    services.order_mark_sent(order)
    outcome = live.place(
        client,
        symbol=order.symbol,
        side=order.side,
        amount=order.quantity,
        client_order_id=order.client_order_id,
        price=order.price if order.type == Order.Type.LIMIT else None,
    )
    _apply_live(bot, order, outcome, batch)


def _close_unsent(order: Order, why: str, status: str = Order.Status.CANCELED) -> None:
    services.order_close(order, status=status, error=why)


def _apply_live(bot: Bot, order: Order, outcome: live.Outcome, batch: _Batch) -> bool:
    """Record what the venue said; returns whether the order is settled."""
    if outcome.kind == live.REJECTED:
        _close_unsent(order, outcome.message or "rejected by the venue", Order.Status.REJECTED)
        return True
    if outcome.kind == live.UNKNOWN:
        services.order_mark_unknown(order, message=outcome.message)
        return False
    if outcome.kind == live.MISSING:
        # Measured from when the order was sent (``submitted_at`` is written just before the
        # request); an intent that never reached that point falls back to its creation.
        age = (timezone.now() - (order.submitted_at or order.created_at)).total_seconds()
        if age < unknown_grace_seconds():
            return False
        _close_unsent(order, "the venue never received the order (not found by client id)")
        return True
    info = outcome.info
    if order.venue_order_id != info.id or order.status in (Order.Status.NEW, Order.Status.UNKNOWN):
        services.order_mark_submitted(order, venue_order_id=info.id)
    booked = _booked(order)
    fills = providers.get(bot.exchange).capabilities.fills
    todo = live.increments(info, booked, client_order_id=order.client_order_id, fills=fills)
    if todo is None:  # the venue's figures do not allow booking yet: ask again next tick
        return False
    for increment in todo:
        _record_fill(
            bot,
            order,
            batch,
            fill_id=increment.fill_id,
            quantity=increment.quantity,
            price=increment.price,
            fee=increment.fee,
            fee_currency=increment.fee_currency or bot.quote_currency,
            fee_quote=_fee_value(bot, increment),
            executed_at=_when(increment.timestamp_ms),
            is_paper=False,
        )
        order.refresh_from_db()
    if booked.quantity + sum((i.quantity for i in todo), ZERO) < info.filled:
        return False  # the venue filled more than its trades show yet
    if outcome.kind in (live.CANCELED, live.REJECTED) and order.status != Order.Status.FILLED:
        _close_unsent(order, "canceled on the venue", Order.Status.CANCELED)
        _rearm_exit(bot, order)
    elif outcome.kind == live.FILLED and order.status != Order.Status.FILLED:
        # The venue closed it short of our quantity (it rounds amounts to its lot size): what it
        # filled is booked; left open here, the order would be looked up again at every tick.
        _close_unsent(
            order,
            f"the venue closed it with {info.filled.normalize():f} of {order.quantity.normalize():f} filled",
            Order.Status.CANCELED,
        )
        _rearm_exit(bot, order)
    return outcome.kind != live.OPEN


def _rearm_exit(bot: Bot, order: Order) -> None:
    """A protective exit the venue ended short of its quantity (a market order expired on a thin
    book) protects what it left: its first fill marked the position exited, and the exits are
    judged again on the remainder, from this very tick. No second sell can overlap the first:
    this one is closed. What the venue cannot sell (dust under its minimums) is no position to
    exit (``_tradable``), so a remainder of dust never fires again."""
    if order.reason not in risk.EXIT_REASONS:
        return
    strategy_state, engine = _state(bot)
    if engine.pop("exited", None) is not None:
        _set_state(bot, strategy_state, engine)
        # Written now, not only by the tick's bookkeeping: housekeeping reconciles a paused
        # bot's orders without one, and its remainder must be protected when it resumes.
        services.bot_engine_state_save(bot_id=bot.pk, state=bot.state)


def _booked(order: Order) -> live.Booked:
    rows = list(Trade.objects.filter(order=order).values_list("fill_id", "quantity", "price", "fee"))
    return live.Booked(
        quantity=sum((q for _, q, _, _ in rows), ZERO),
        cost=sum((q * p for _, q, p, _ in rows), ZERO),
        fee=sum((f for _, _, _, f in rows), ZERO),
        fill_ids=frozenset(fid for fid, *_ in rows),
    )


def _fee_value(bot: Bot, increment: live.Increment) -> Decimal | None:
    """The quote value of a fee in a third currency (BNB) at the venue's latest price; ``None``
    for a fee in the base or quote currency (the books value those themselves)."""
    currency = increment.fee_currency
    if not increment.fee or currency in ("", bot.base_currency, bot.quote_currency):
        return None
    from credentials.exceptions import VenueError

    pair = f"{currency}/{bot.quote_currency}"
    try:
        last = providers.public_client(bot.exchange).fetch_ticker(symbol=pair).last
    except VenueError as exc:
        raise TickError(f"cannot value a fee of {increment.fee} {currency}: no {pair} price ({exc})") from exc
    if not last:
        raise TickError(f"cannot value a fee of {increment.fee} {currency}: {bot.exchange} has no {pair} price")
    return increment.fee * last


def _when(timestamp_ms: int | None) -> datetime:
    if not timestamp_ms:
        return timezone.now()
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)


# ---------------------------------------------------------------------------
# Reconciliation
# ---------------------------------------------------------------------------
def _reconcile(bot: Bot, order: Order, batch: _Batch) -> bool:
    """Resolve one order in flight; True when the bot may trade again."""
    batch.report.reconciled += 1
    if order.is_paper:
        return _execute_paper(bot, order, batch)
    from credentials.exceptions import VenueError
    from credentials.providers import client_for

    credential = _live_credential(bot, {"credential_id": bot.credential_id})
    try:
        client = client_for(credential)
    except VenueError as exc:
        raise TickError(str(exc)) from exc
    sent = order.submitted_at or order.created_at
    outcome = live.lookup(
        client, symbol=order.symbol, client_order_id=order.client_order_id, since_ms=int(sent.timestamp() * 1000)
    )
    return _apply_live(bot, order, outcome, batch)


def _reconcile_failed(order: Order, exc: Exception) -> None:
    """An order in flight could not be resolved for a reason a retry does not fix by itself."""
    services.order_reconcile_failed(order_id=order.pk, error=f"{exc.__class__.__name__}: {exc}")


def reconcile_orders(*, older_than_seconds: float = 60.0, limit: int = 200, now: datetime | None = None) -> int:
    """Housekeeping: resolve orders left in flight by bots that are not ticking (paused, stopped).

    Each bot is leased for the duration (the same lease as a tick), so this never races a tick.
    Each order is isolated: one that fails (a fill the books refuse) is recorded on the order
    and its bot with a staff event (``order_reconcile_failed``), and the sweep goes on.
    Returns how many orders were looked at.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    bot_ids = list(
        Order.objects.filter(status__in=Order.OPEN_STATUSES, created_at__lt=cutoff)
        .order_by("bot_id")
        .values_list("bot_id", flat=True)
        .distinct()[:limit]
    )
    looked = 0
    for bot_id in bot_ids:
        # Each bot's lease runs from when it is taken, not from the sweep's start: a sweep that
        # spends a lease on earlier bots (a venue timing out) would otherwise take later ones
        # with a lease already expired, and a tick could claim and reconcile the same order.
        taken_at = timezone.now()
        lease = taken_at + timedelta(seconds=lease_seconds())
        taken = Bot.objects.filter(pk=bot_id).exclude(claimed_until__gte=taken_at).update(claimed_until=lease)
        if not taken:
            continue
        bot = Bot.objects.get(pk=bot_id)
        batch = _Batch(
            now=now,
            lease=lease,
            snapshot=market.Snapshot(now),
            positions={},
            inflight={},
            report=TickReport(),
            bodyguard=risk.BodyguardLimits.current() if risk.bodyguard_enabled() else None,
        )
        try:
            for order in Order.objects.filter(bot_id=bot_id, status__in=Order.OPEN_STATUSES).order_by("pk"):
                looked += 1
                try:
                    _reconcile(bot, order, batch)
                except TickError as exc:  # venue down, key set unusable: the next sweep retries
                    logger.warning("Reconciling order %s failed: %s", order.client_order_id, exc)
                except Exception as exc:  # one order the books refuse must not stop the sweep for every
                    # other bot: it is logged with its trace, kept on the order and the bot, staff alerted.
                    logger.exception("Reconciling order %s failed", order.client_order_id)
                    _reconcile_failed(order, exc)
        finally:
            Bot.objects.filter(pk=bot_id, claimed_until=lease).update(claimed_until=None)
    return looked


# ---------------------------------------------------------------------------
# After the tick: bodyguard and bookkeeping
# ---------------------------------------------------------------------------
def _after_tick(bot: Bot, batch: _Batch) -> None:
    if bot._engine_error:
        bot.consecutive_errors += 1
        bot.last_error = bot._engine_error
    elif bot.consecutive_errors or bot.last_error:
        bot.consecutive_errors, bot.last_error = 0, ""
    bot.tick_count += 1
    bot.next_tick_at = batch.now + timedelta(seconds=bot.interval_seconds)
    if batch.bodyguard is None:
        return
    strategy_state, engine = _state(bot)
    held = batch.positions.get(bot.pk, {}).get(bot.symbol)
    price = bot.last_price or ZERO
    equity = float(bot.cash_balance + (held.quantity * price if held else ZERO))
    reason = risk.bodyguard_verdict(
        engine,
        equity=equity,
        capital=float(bot.capital),
        consecutive_errors=bot.consecutive_errors,
        now=batch.now,
        limits=batch.bodyguard,
    )
    if not reason:
        return
    try:
        services.bot_transition(bot_id=bot.pk, action=Action.PAUSE, reason=reason)
    except Exception:  # stopped or paused meanwhile (409): nothing left to guard
        logger.info("Bodyguard could not pause bot %s (already not running)", bot.pk)
        return
    logger.warning("Bot %s paused: %s", bot.pk, reason)
    batch.report.paused.append(bot.pk)
    _set_state(bot, strategy_state, risk.bodyguard_reset(engine, equity=equity))
    bot.consecutive_errors = 0
    bot.next_tick_at = None


def _bookkeeping(bots: list[Bot], *, now: datetime, lease: datetime) -> int:
    """One statement for the whole batch: schedule, counters, memory, errors; release the lease.

    Only rows still under this batch's lease are written, so a worker that lost its lease
    (it ran longer than ``ENGINE_LEASE_SECONDS``) cannot overwrite a newer tick.
    """
    ops = connection.ops
    table = ops.quote_name(Bot._meta.db_table)
    pg = connection.vendor == "postgresql"
    row = (
        "(%s::bigint, %s::timestamptz, %s::bigint, %s::jsonb, %s::integer, %s::text, %s::numeric)"
        if pg
        else "(%s, %s, %s, %s, %s, %s, %s)"
    )
    params: list = []
    for bot in bots:
        params += [
            bot.pk,
            ops.adapt_datetimefield_value(bot.next_tick_at) if bot.next_tick_at else None,
            bot.tick_count,
            json.dumps(bot.state, default=str),
            bot.consecutive_errors,
            bot.last_error,
            None if bot.last_price is None else str(bot.last_price),
        ]
    sql = (
        f"WITH v(id, next_tick_at, tick_count, state, consecutive_errors, last_error, last_price) AS "  # noqa: S608
        f"(VALUES {', '.join([row] * len(bots))}) "
        f"UPDATE {table} SET last_tick_at = %s, next_tick_at = v.next_tick_at, tick_count = v.tick_count, "
        "state = v.state, consecutive_errors = v.consecutive_errors, last_error = v.last_error, "
        f"last_price = COALESCE(v.last_price, {table}.last_price), claimed_until = NULL "
        f"FROM v WHERE {table}.id = v.id AND {table}.claimed_until = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, ops.adapt_datetimefield_value(now), ops.adapt_datetimefield_value(lease)])
        return cursor.rowcount
