"""The tick on paper: trading through Celery tasks, idempotency, crashes, races, cheap idle ticks."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction

from accounts.models import UserUsage
from bots import services
from bots.engine import market, strategies, tick
from bots.engine.strategies import BUY, Decision
from bots.models import Bot, FleetHalt, Order, Position, Trade
from bots.tasks import bot_tick_task, bots_tick_batch_task
from realtime.models import Event
from tests.conftest import USING_POSTGRES
from tests.engine.factories import T0, counts, dca_bot, make_due, running_bot

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen(monkeypatch):
    """The engine's clock at ``T0`` (tasks read ``timezone.now``)."""
    from django.utils import timezone

    now = {"t": T0}
    monkeypatch.setattr(timezone, "now", lambda: now["t"])
    return now


def test_a_dca_bot_trades_on_the_simulated_venue_through_the_celery_task(owner, frozen):
    bot = dca_bot(owner=owner)
    bots_tick_batch_task.delay()
    bot.refresh_from_db()
    order = Order.objects.get(bot=bot)
    trade = Trade.objects.get(bot=bot)
    price = Decimal(str(market.price_at("simulated", "BTC/USDT", int(T0.timestamp()))))
    assert (order.client_order_id, order.status, order.is_paper, order.reason) == (
        f"bf-{bot.pk}-0",
        "filled",
        True,
        "dca_buy",
    )
    assert trade.price == price  # slippage 0 in these tests
    assert trade.quantity == order.quantity == (Decimal("100") / price).quantize(Decimal("1e-6"), "ROUND_DOWN")
    assert trade.fee == (trade.quantity * price * Decimal("0.001")).quantize(Decimal("1e-12"))
    assert bot.cash_balance == Decimal("1000") - trade.quantity * price - trade.fee
    assert Position.objects.get(bot=bot).quantity == trade.quantity
    assert Event.objects.filter(type="trade_executed", bot_id=bot.pk).count() == 1
    assert (bot.tick_count, bot.last_tick_at, bot.next_tick_at, bot.claimed_until) == (
        1,
        T0,
        T0 + timedelta(seconds=60),
        None,
    )
    assert bot.state["strategy"] == {"orders": 1, "last_buy_tick": 0}

    frozen["t"] = T0 + timedelta(seconds=60)
    bots_tick_batch_task.delay()
    assert counts(bot) == (2, 2)


def test_a_bot_trades_on_the_replay_venue(owner, frozen):
    bot = dca_bot(owner=owner, exchange="replay", symbol="ETH/BTC", timeframe="5m", capital=Decimal("0.05"))
    bot_tick_task.delay(bot.pk)
    trade = Trade.objects.get(bot=bot)
    assert trade.price == Decimal(str(market.price_at("replay", "ETH/BTC", int(T0.timestamp()))))
    assert trade.quantity * trade.price == pytest.approx(Decimal("0.005"), rel=Decimal("1e-3"))


def test_idle_ticks_cost_under_a_fifth_of_a_query_each(owner, django_assert_max_num_queries):
    bots = [running_bot(owner=owner) for _ in range(50)]
    with django_assert_max_num_queries(10):  # 50 ticks: claim, positions, orders in flight, bookkeeping
        report = tick.tick_batch(now=T0)
    assert (report.claimed, report.orders) == (50, 0)
    assert set(Bot.objects.filter(pk__in=[b.pk for b in bots]).values_list("tick_count", "claimed_until")) == {
        (1, None)
    }


@pytest.mark.parametrize("fleet", [3, 12])
def test_a_batch_books_its_paper_fills_with_the_same_statements_whatever_its_size(
    owner, fleet, django_assert_max_num_queries
):
    # Issue 19: <= 10 queries per trading tick. The paper fills of a batch are booked together:
    # per batch, the claim, positions, orders in flight and bookkeeping; per group of fills, the
    # bots and positions read again under their locks, then one write per table (orders inserted
    # filled, trades, positions, the days' rollups, bot totals and memory, usage, events).
    bots = [dca_bot(owner=owner) for _ in range(fleet)]
    UserUsage.objects.get_or_create(user=owner)  # as a bot's creation leaves it (the factory skips that)
    # The claim, positions and orders in flight, then the group: bots and positions locked, order,
    # trade, position, the rollup read and written, bot totals, usage and event; the bookkeeping.
    # (Savepoints under the test's transaction count: on their own each is a BEGIN and a COMMIT.)
    with django_assert_max_num_queries(18):  # first trades: rows created
        first = tick.tick_batch(now=T0)
    later = T0 + timedelta(seconds=60)
    for bot in bots:
        make_due(bot, later)
    with django_assert_max_num_queries(18):  # then updated
        second = tick.tick_batch(now=later)
    assert (first.orders, first.fills, second.orders, second.fills) == (fleet, fleet, fleet, fleet)
    for bot in bots:
        bot.refresh_from_db()
        trades = list(Trade.objects.filter(bot=bot).order_by("pk"))
        assert bot.total_trades == 2 and bot.state["strategy"]["orders"] == 2
        assert bot.cash_balance == Decimal("1000") - sum(t.quantity * t.price + t.fee for t in trades)
        assert bot.total_fees == sum(t.fee for t in trades)
        assert Position.objects.get(bot=bot).quantity == sum(t.quantity for t in trades)
        rollup = bot.daily_pnl.get()
        assert (rollup.trades, rollup.fees, rollup.volume) == (
            2,
            sum(t.fee for t in trades),
            sum(t.quantity * t.price for t in trades),
        )
        assert Event.objects.filter(type="trade_executed", bot_id=bot.pk).count() == 2
        assert set(Order.objects.filter(bot=bot).values_list("status", flat=True)) == {"filled"}
    usage = UserUsage.objects.get(user=owner)
    assert (usage.orders, usage.trades) == (2 * fleet, 2 * fleet)


def _on_decision(n: int, action):
    """A strategy that wants to buy, and has ``action`` happen while deciding for its ``n``-th bot."""
    calls = {"n": 0}

    def once():
        calls["n"] += 1
        if calls["n"] == n:
            action()

    return _stops_the_world(once)


def test_a_bot_stopped_while_its_fill_waits_for_the_group_is_decided_again_alone(owner):
    first, second = dca_bot(owner=owner), dca_bot(owner=owner)
    undo = strategies.override("dca", _on_decision(2, lambda: services.bot_stop(user=owner, bot_id=first.pk)))
    try:
        report = tick.tick_batch(now=T0)
    finally:
        undo()
    assert report.refused == {first.pk: "the bot is stopped"}
    assert (counts(first), counts(second)) == ((0, 0), (1, 1))
    first.refresh_from_db()
    assert first.state["engine"].get("pending", {}) == {}  # the decision rolled back is not its memory


def test_a_staff_change_while_a_fill_waits_replaces_it_with_what_the_rules_now_say(owner, staff):
    from adminpanel.services import bot_override

    first, second = dca_bot(owner=owner), dca_bot(owner=owner)
    smaller = {"position_size_pct": 0.01}  # 10 USDT an order instead of the strategy's 100
    undo = strategies.override(
        "dca", _on_decision(2, lambda: bot_override(actor=staff, bot_id=first.pk, rules=smaller))
    )
    try:
        report = tick.tick_batch(now=T0)
    finally:
        undo()
    assert report.fills == 2
    resized, kept = Trade.objects.get(bot=first), Trade.objects.get(bot=second)
    assert resized.quantity * resized.price <= Decimal("10") < kept.quantity * kept.price


def test_a_tick_slot_already_taken_in_a_group_leaves_the_others_booked(owner):
    first, second, third = (dca_bot(owner=owner) for _ in range(3))
    Order.objects.create(  # an earlier run of this very tick slot (its bookkeeping lost)
        bot=second,
        client_order_id=f"bf-{second.pk}-0",
        symbol="BTC/USDT",
        side="buy",
        quantity=Decimal("0.001"),
        status="filled",
        is_paper=True,
        reason="dca_buy",
    )
    report = tick.tick_batch(now=T0)
    assert report.refused == {second.pk: f"tick slot bf-{second.pk}-0 already has its order"}
    assert (counts(first), counts(second), counts(third)) == ((1, 1), (1, 0), (1, 1))


def test_fills_are_booked_in_groups_as_the_batch_goes(owner, monkeypatch):
    # A trade's event reaches screens without waiting for the whole batch.
    monkeypatch.setattr(tick, "FLUSH_BOTS", 2)
    bots = [dca_bot(owner=owner) for _ in range(5)]
    seen = []
    undo = strategies.override("dca", _stops_the_world(lambda: seen.append(Trade.objects.count())))
    try:
        report = tick.tick_batch(now=T0)
    finally:
        undo()
    assert seen == [0, 0, 2, 2, 4]
    assert report.fills == 5 and all(counts(bot) == (1, 1) for bot in bots)


def test_market_data_is_computed_once_per_symbol_per_batch(owner, monkeypatch):
    for _ in range(5):
        running_bot(owner=owner, symbol="ETH/USDT")
    calls = []
    real = market._closed_closes
    monkeypatch.setattr(market, "_closed_closes", lambda *a: calls.append(a) or real(*a))
    market._closed_lru.clear()
    tick.tick_batch(now=T0)
    assert len(calls) == 1


def test_the_same_tick_run_twice_places_one_order(owner):
    bot = dca_bot(owner=owner)
    tick.tick_batch(now=T0)
    # A worker died after the fill but before its bookkeeping: the slot is due again, unchanged.
    Bot.objects.filter(pk=bot.pk).update(tick_count=0, next_tick_at=T0, claimed_until=None)
    undo = strategies.override("dca", _stops_the_world(lambda: None))  # and this time it wants to buy
    try:
        report = tick.tick_batch(now=T0 + timedelta(seconds=1))
    finally:
        undo()
    assert report.refused[bot.pk] == f"tick slot bf-{bot.pk}-0 already has its order"
    assert counts(bot) == (1, 1)
    # Not due any more: a duplicate task finds nothing to claim.
    assert tick.tick_batch(now=T0 + timedelta(seconds=2)).claimed == 0


class Crash(BaseException):
    """A worker killed mid-tick: escapes every ``except Exception``."""


def test_a_crash_before_a_paper_fill_commits_leaves_nothing_and_the_slot_is_decided_again(owner, monkeypatch):
    # A paper order and its fill are one transaction (no venue between them): a worker killed
    # after every write of the books but before the commit leaves no order, no trade, no event.
    from bots.services import orders

    bot = dca_bot(owner=owner)
    real = orders.fills_book

    def crash(entries):
        real(entries)
        raise Crash

    monkeypatch.setattr(orders, "fills_book", crash)
    with pytest.raises(Crash):
        tick.tick_batch(now=T0)
    monkeypatch.undo()
    assert counts(bot) == (0, 0)
    assert not Event.objects.filter(type="trade_executed", bot_id=bot.pk).exists()
    # The lease still holds: nobody touches the bot until it expires.
    assert tick.tick_batch(now=T0 + timedelta(seconds=60)).claimed == 0
    later = T0 + timedelta(seconds=tick.lease_seconds() + 1)
    report = tick.tick_batch(now=later)
    assert (report.claimed, report.reconciled, report.orders, report.fills) == (1, 0, 1, 1)
    order = Order.objects.get(bot=bot)
    assert (order.client_order_id, order.status) == (f"bf-{bot.pk}-0", "filled")  # the same tick slot
    assert Trade.objects.get(bot=bot).executed_at == later
    bot.refresh_from_db()
    assert bot.state["strategy"]["orders"] == 1
    assert bot.state["engine"]["pending"] == {}


def test_a_paper_intent_left_in_flight_is_reconciled_to_one_order_and_one_fill(owner):
    # An intent written without its fill (a worker of an earlier release killed between them)
    # is executed by the bot's next tick before it may trade again.
    bot = dca_bot(owner=owner)
    with transaction.atomic():
        intent = services.order_intent_record(
            bot=bot,
            client_order_id=f"bf-{bot.pk}-0",
            side="buy",
            quantity=Decimal("0.001"),
            is_paper=True,
            reason="dca_buy",
            reference_price=Decimal("50000"),
            created_at=T0,
            state=bot.state,
        )
    later = T0 + timedelta(seconds=tick.lease_seconds() + 1)
    report = tick.tick_batch(now=later)
    assert (report.claimed, report.reconciled, report.fills) == (1, 1, 1)
    assert counts(bot) == (1, 1)
    trade = Trade.objects.get(bot=bot)
    assert (trade.order_id, trade.price, trade.executed_at) == (intent.pk, Decimal("50000"), T0)  # the intent's
    intent.refresh_from_db()
    assert intent.status == "filled"
    bot.refresh_from_db()
    assert bot.state["strategy"]["orders"] == 1  # the strategy memory caught up with the fill
    assert bot.state["engine"]["pending"] == {}


def _stops_the_world(action):
    """A strategy that wants to buy and, while deciding, has ``action`` happen to the bot."""

    class Module:
        lookback = staticmethod(lambda params: 1)
        on_fill = staticmethod(strategies.default_on_fill)

        @staticmethod
        def decide(params, view):
            action()
            return Decision(BUY, quote=100.0, reason="test")

    return Module


@pytest.mark.parametrize("what", ["stop", "pause", "force_pause", "delete"])
def test_a_stop_or_force_pause_between_decision_and_order_means_no_order(owner, what):
    bot = dca_bot(owner=owner)

    def act():
        if what == "stop":
            services.bot_stop(user=owner, bot_id=bot.pk)
        elif what == "pause":
            services.bot_pause(user=owner, bot_id=bot.pk)
        elif what == "force_pause":
            Bot.objects.filter(pk=bot.pk).update(status="paused", force_paused=True)
        else:
            Bot.objects.filter(pk=bot.pk).update(deleted_at=T0)

    undo = strategies.override("dca", _stops_the_world(act))
    try:
        report = tick.tick_batch(now=T0)
    finally:
        undo()
    assert report.orders == 0 and counts(bot) == (0, 0)
    assert report.refused[bot.pk]


def test_the_fleet_halt_never_stops_paper_trading(owner):
    FleetHalt.objects.update_or_create(pk=1, defaults={"halted": True})
    bot = dca_bot(owner=owner)
    tick.tick_batch(now=T0)
    assert counts(bot) == (1, 1)


def test_a_lost_lease_means_no_order_and_no_bookkeeping(owner):
    bot = dca_bot(owner=owner)
    undo = strategies.override(
        "dca", _stops_the_world(lambda: Bot.objects.filter(pk=bot.pk).update(claimed_until=T0 + timedelta(hours=1)))
    )
    try:
        report = tick.tick_batch(now=T0)
    finally:
        undo()
    assert report.refused[bot.pk] == "this worker's lease on the bot expired"
    bot.refresh_from_db()
    assert (bot.tick_count, bot.claimed_until) == (0, T0 + timedelta(hours=1))


def test_the_claim_serialises_two_workers_on_one_bot(owner):
    bot = dca_bot(owner=owner)
    first, lease = tick.claim(now=T0, limit=10)
    second, _ = tick.claim(now=T0, limit=10)
    assert ([b.pk for b in first], second) == ([bot.pk], [])
    bot.refresh_from_db()
    assert bot.claimed_until == lease


@pytest.mark.skipif(not USING_POSTGRES, reason="threads racing on one database need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_one_bot_place_one_order(owner):
    bot = dca_bot(owner=owner)
    others = [running_bot(owner=owner) for _ in range(20)]
    barrier = threading.Barrier(2)
    reports = []

    def worker():
        try:
            barrier.wait()
            reports.append(tick.tick_batch(now=T0))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.claimed for r in reports) == 21  # every bot once, split between the workers
    assert counts(bot) == (1, 1)
    assert all(b.tick_count == 1 for b in Bot.objects.filter(pk__in=[o.pk for o in others]))


def test_an_error_is_counted_and_cleared_by_the_next_good_tick(owner, settings):
    settings.DISABLE_AI_BODYGUARD = True
    bot = running_bot(owner=owner, exchange="replay", symbol="NOPE/USDT")
    tick.tick_batch(now=T0)
    bot.refresh_from_db()
    assert (bot.consecutive_errors, bot.last_error) == (1, "TickError: no market data for NOPE/USDT on replay")
    Bot.objects.filter(pk=bot.pk).update(symbol="ETH/BTC", timeframe="5m")
    make_due(bot, T0 + timedelta(seconds=60))
    tick.tick_batch(now=T0 + timedelta(seconds=60))
    bot.refresh_from_db()
    assert (bot.consecutive_errors, bot.last_error, bot.status) == (0, "", "running")


def test_tick_bot_ticks_a_running_bot_now_and_leaves_others(owner):
    bot = dca_bot(owner=owner, next_tick_at=T0 + timedelta(hours=1))
    stopped = dca_bot(owner=owner, status="stopped")
    assert tick.tick_bot(bot.pk, now=T0).orders == 1
    assert tick.tick_bot(stopped.pk, now=T0).claimed == 0


def test_an_all_in_paper_buy_with_slippage_never_overdraws_the_cash(owner, settings):
    """Given 1,000 of cash, a 0.1 % fee and the default 0.05 % slippage; when a strategy spends it all,
    then the order is sized at the fill's price (slippage included) and the cash stays at or above 0."""
    settings.PAPER_SLIPPAGE_PCT = "0.0005"
    bot = dca_bot(owner=owner, params={"order_pct": 1, "every_ticks": 1, "max_orders": 1, "take_profit_pct": 5})
    mid = Decimal(str(market.price_at("simulated", "BTC/USDT", int(T0.timestamp()))))
    fill_price = (mid * Decimal("1.0005")).quantize(Decimal("1e-12"))
    quantity = (Decimal("1000") / Decimal("1.001") / fill_price).quantize(Decimal("1e-6"), "ROUND_DOWN")
    fee = (quantity * fill_price * Decimal("0.001")).quantize(Decimal("1e-12"))

    report = tick.tick_batch(now=T0)

    assert (report.orders, report.fills) == (1, 1)
    trade = Trade.objects.get(bot=bot)
    assert (trade.price, trade.quantity, trade.fee) == (fill_price, quantity, fee)
    bot.refresh_from_db()
    assert bot.cash_balance == Decimal("1000") - quantity * fill_price - fee
    assert Decimal("0") <= bot.cash_balance < fill_price * Decimal("0.000001") * Decimal("1.001")


def test_a_position_changed_between_decision_and_order_is_not_traded_on(owner):
    """Given a paper bot holding a position and a strategy that sells it; when a service closes
    that position in the books meanwhile, then the stale decision is refused, not a second sell."""
    from tests.bots.factories import fill

    bot = dca_bot(owner=owner)
    fill(bot, "buy", "0.01", "50000")

    class SellsWhileItIsClosed:
        lookback = staticmethod(lambda params: 1)
        on_fill = staticmethod(strategies.default_on_fill)

        @staticmethod
        def decide(params, view):
            services.positions_close_in_books(bot=Bot.objects.get(pk=bot.pk), reason="close")
            return Decision("sell", quantity=view.position, reason="test")

    undo = strategies.override("dca", SellsWhileItIsClosed)
    try:
        report = tick.tick_batch(now=T0)
    finally:
        undo()

    assert (report.refused[bot.pk], report.errors) == ("the position changed since the decision", 0)
    assert list(Trade.objects.filter(bot=bot).values_list("side", flat=True).order_by("pk")) == ["buy", "sell"]
    assert Position.objects.get(bot=bot).quantity == 0
