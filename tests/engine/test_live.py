"""Live orders against the local fake exchange: routing, flags, fleet halt, quarantine, unknown
outcomes on each venue's shape (Binance, Kraken, Bybit, Angel One), fees and partial fills."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from bots.engine import market, strategies, tick
from bots.engine.adapters import live
from bots.models import Bot, FleetHalt, Order, Position, Trade
from credentials.services import credential_save
from tests.engine.factories import counts, dca_bot, posted_orders
from tests.engine.test_tick import _stops_the_world
from tests.fakes.exchange import ANGEL_CLIENT, ANGEL_KEY, ANGEL_PIN, ANGEL_TOTP
from tests.fakes.venues import BYBIT_KEY, BYBIT_SECRET, KRAKEN_KEY, KRAKEN_SECRET
from tests.processes import wait_until

pytestmark = pytest.mark.django_db


def placed_and_in_flight(
    bot, cid: str, side: str, *, at=None, quantity=Decimal("0.001"), status: str = "submitted"
) -> Order:
    """An order the venue has (placed through the bot's key set) and the books show in flight
    (``new``: the worker died after the request, before it recorded having sent it)."""
    from credentials.providers import client_for

    at = at or timezone.now()
    client_for(bot.credential).create_order(
        symbol="BTC/USDT", side=side, type="market", amount=quantity, client_order_id=cid
    )
    return Order.objects.create(
        bot=bot,
        client_order_id=cid,
        symbol="BTC/USDT",
        side=side,
        quantity=quantity,
        status=status,
        is_paper=False,
        created_at=at,
        submitted_at=None if status == "new" else at,
    )


def another_live_bot(live_bot) -> Bot:
    """A second promoted live bot of the same owner, venue and key set, due now."""
    from tests.engine.factories import dca_bot

    return dca_bot(
        owner=live_bot.owner,
        exchange="binance",
        symbol="BTC/USDT",
        trading_mode="live",
        in_training=False,
        credential=live_bot.credential,
    )


def test_a_promoted_live_bot_trades_on_the_venue_with_our_client_order_id(live_bot, fake_exchange):
    report = tick.tick_batch()
    assert (report.orders, report.fills, report.errors) == (1, 1, 0)
    order = Order.objects.get(bot=live_bot)
    assert list(fake_exchange.orders) == [order.client_order_id] == [f"bf-{live_bot.pk}-0"]
    assert (order.is_paper, order.status, order.venue_order_id) == (False, "filled", "1000")
    trade = Trade.objects.get(bot=live_bot)
    venue_trade = fake_exchange.fills[0].trade_id  # Binance fills are booked per venue trade
    assert (trade.price, trade.is_paper, trade.fill_id) == (
        Decimal("50000"),
        False,
        f"bf-{live_bot.pk}-0#{venue_trade}",
    )


def test_a_quarantined_live_bot_fills_on_paper_and_never_reaches_the_live_adapter(live_bot, fake_exchange, monkeypatch):
    Bot.objects.filter(pk=live_bot.pk).update(in_training=True, training_started_at=timezone.now())

    def forbidden(*args, **kwargs):
        raise AssertionError("a quarantined bot reached the live adapter")

    monkeypatch.setattr(live, "place", forbidden)
    report = tick.tick_batch()
    assert (report.orders, report.fills) == (1, 1)
    assert Order.objects.get(bot=live_bot).is_paper is True
    assert posted_orders(fake_exchange) == 0


def test_trading_off_blocks_real_money_orders(live_bot, fake_exchange, settings):
    settings.ENABLE_TRADING = False
    report = tick.tick_batch()
    assert report.refused[live_bot.pk] == "real-money trading is disabled (ENABLE_TRADING is off)"
    assert counts(live_bot) == (0, 0) and posted_orders(fake_exchange) == 0


def test_the_fleet_halt_between_decision_and_order_means_no_live_order(live_bot, fake_exchange):
    def halt():
        FleetHalt.objects.update_or_create(pk=1, defaults={"halted": True})

    undo = strategies.override("dca", _stops_the_world(halt))
    try:
        report = tick.tick_batch()
    finally:
        undo()
    assert report.refused[live_bot.pk] == "the fleet is halted by staff"
    assert counts(live_bot) == (0, 0) and posted_orders(fake_exchange) == 0


def test_a_halt_after_the_intent_but_before_sending_cancels_the_unsent_order(live_bot, fake_exchange, monkeypatch):
    real = tick._still_may_send

    def halt_first(bot):
        FleetHalt.objects.update_or_create(pk=1, defaults={"halted": True})
        return real(bot)

    monkeypatch.setattr(tick, "_still_may_send", halt_first)
    tick.tick_batch()
    order = Order.objects.get(bot=live_bot)
    assert (order.status, order.error) == ("canceled", "the fleet was halted before the order was sent")
    assert posted_orders(fake_exchange) == 0


def test_a_live_bot_without_a_live_key_set_does_not_trade(live_bot, fake_exchange, settings):
    settings.DISABLE_AI_BODYGUARD = True
    live_bot.credential.purpose = "backtest"
    live_bot.credential.save()
    report = tick.tick_batch()
    assert report.errors == 1 and counts(live_bot) == (0, 0)
    live_bot.refresh_from_db()
    assert "no usable live key set for binance" in live_bot.last_error


def test_a_timeout_is_resolved_by_looking_the_order_up_never_by_resending(live_bot, fake_exchange, settings):
    settings.VENUE_TIMEOUT_SECONDS = 0.5
    from credentials import providers

    providers.reset_clients()
    # Markets, candles and the price loaded while the venue is quick (cached for the fleet) ...
    market.fetch_venue_candles("binance", "BTC/USDT", "1m")
    market.fresh_price("binance", "BTC/USDT", now=int(timezone.now().timestamp()))
    providers.client_for(live_bot.credential).fetch_markets()
    fake_exchange.delay = 1.0  # ... then the venue places the order but answers too late
    tick.tick_batch()
    order = Order.objects.get(bot=live_bot)
    assert order.status == "unknown"
    assert counts(live_bot) == (1, 0)
    fake_exchange.delay = 0
    wait_until(  # the venue finishes placing it late
        lambda: order.client_order_id in fake_exchange.orders, timeout=10, interval=0.05, what="the late order placed"
    )
    Bot.objects.filter(pk=live_bot.pk).update(next_tick_at=timezone.now() - timedelta(seconds=1))
    report = tick.tick_batch()
    assert report.reconciled == 1, report
    order.refresh_from_db()
    assert order.status == "filled"
    assert Trade.objects.filter(order=order).count() == 1  # the late order's fill, recorded once
    # The bot trades again only after reconciling, under its next slot's id; nothing was resent.
    assert list(fake_exchange.orders) == [f"bf-{live_bot.pk}-0", f"bf-{live_bot.pk}-1"]
    assert posted_orders(fake_exchange) == 2


def test_an_order_the_venue_never_got_is_closed_after_the_grace_period(live_bot, fake_exchange, settings):
    settings.ENGINE_UNKNOWN_GRACE_SECONDS = 0
    Order.objects.create(
        bot=live_bot,
        client_order_id="bf-lost-1",
        symbol="BTC/USDT",
        side="buy",
        quantity=Decimal("0.001"),
        status="unknown",
        is_paper=False,
    )
    tick.tick_batch()
    lost = Order.objects.get(client_order_id="bf-lost-1")
    assert (lost.status, lost.error) == ("canceled", "the venue never received the order (not found by client id)")
    assert "bf-lost-1" not in fake_exchange.orders


def test_housekeeping_reconciles_orders_of_bots_that_are_not_ticking(live_bot, fake_exchange, settings):
    from bots.tasks import engine_housekeeping_task

    Bot.objects.filter(pk=live_bot.pk).update(status="paused", next_tick_at=None)
    tick.tick_batch()  # nothing: paused
    placed_and_in_flight(live_bot, "bf-crashed-1", "buy", at=timezone.now() - timedelta(minutes=5), status="new")
    assert engine_housekeeping_task.delay().get()["reconciled"] == 1
    assert Order.objects.get(client_order_id="bf-crashed-1").status == "filled"
    assert Trade.objects.filter(bot=live_bot).count() == 1


def test_the_grace_period_runs_from_when_the_order_was_sent_not_from_the_batch_start(
    live_bot, fake_exchange, monkeypatch
):
    """Given a long batch: the bot's intent is written at the batch's start, 100 s ago, and the worker
    is killed while its order is on the wire; when the next tick cannot find the order on the venue
    yet, then it keeps waiting (the order left a moment ago) instead of declaring it never sent; and
    once the venue shows it, its fill is booked once and it is never sent again."""
    from credentials.providers import client_for
    from tests.engine.test_tick import Crash

    batch_start = timezone.now() - timedelta(seconds=100)

    def killed_on_the_wire(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(live, "place", killed_on_the_wire)
    with pytest.raises(Crash):
        tick.tick_bot(live_bot.pk, now=batch_start)
    monkeypatch.undo()
    order = Order.objects.get(bot=live_bot)
    assert (order.status, order.created_at) == ("new", batch_start)

    report = tick.tick_batch()  # the lease ran out; the venue has not shown the order yet

    assert report.refused[live_bot.pk] == f"order {order.client_order_id} still new"
    order.refresh_from_db()
    assert (order.status, order.error) == ("new", "")
    assert order.submitted_at > batch_start + timedelta(seconds=90)  # when it really left
    assert posted_orders(fake_exchange) == 0

    client_for(live_bot.credential).create_order(  # the venue processes the order that was on the wire
        symbol="BTC/USDT", side="buy", type="market", amount=order.quantity, client_order_id=order.client_order_id
    )
    Bot.objects.filter(pk=live_bot.pk).update(next_tick_at=timezone.now() - timedelta(seconds=1), claimed_until=None)
    report = tick.tick_batch()

    order.refresh_from_db()
    assert order.status == "filled"
    assert Trade.objects.filter(order=order).count() == 1
    # Reconciled, the bot trades again under its next slot; the first order was never resent.
    assert list(fake_exchange.orders) == [order.client_order_id, f"bf-{live_bot.pk}-1"]
    assert posted_orders(fake_exchange) == 2  # the one on the wire (posted by the test) and the next slot


def test_one_fill_the_books_refuse_does_not_stop_reconciliation_of_other_bots(live_bot, fake_exchange):
    """Given two paused live bots with orders left in flight, the first a sell the books refuse (its
    position holds nothing); when housekeeping reconciles, then the second bot's order is reconciled
    and booked, the bad order and its bot carry the error, and staff get one event for it."""
    from realtime.models import Event

    other = another_live_bot(live_bot)
    Bot.objects.filter(pk__in=[live_bot.pk, other.pk]).update(status="paused", next_tick_at=None)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    placed_and_in_flight(live_bot, "bf-bad-1", "sell", at=an_hour_ago)
    placed_and_in_flight(other, "bf-good-1", "buy", at=an_hour_ago)

    assert tick.reconcile_orders() == 2

    good = Order.objects.get(client_order_id="bf-good-1")
    assert (good.status, good.filled_quantity, good.error) == ("filled", Decimal("0.001"), "")
    assert Trade.objects.filter(order=good).count() == 1
    bad = Order.objects.get(client_order_id="bf-bad-1")
    assert bad.status == "submitted" and not Trade.objects.filter(order=bad).exists()
    assert bad.error.startswith("ValueError: BTC/USDT: cannot sell 0.001")
    live_bot.refresh_from_db()
    assert live_bot.last_error == f"order bf-bad-1 cannot be reconciled: {bad.error}"
    assert Bot.objects.get(pk=live_bot.pk).claimed_until is None  # the lease was released
    alert = Event.objects.get(type="order_reconcile_failed")
    assert (alert.user_id, alert.bot_id) == (None, live_bot.pk)  # staff only
    assert alert.payload["error"] == bad.error
    assert (alert.payload["bot_id"], alert.payload["order"]["client_order_id"]) == (live_bot.pk, "bf-bad-1")

    assert tick.reconcile_orders() == 1  # the next sweep tries again, and does not repeat the alert
    assert Event.objects.filter(type="order_reconcile_failed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_venues_markets_are_loaded_before_the_bots_row_is_locked(live_bot, fake_exchange, monkeypatch):
    """No network call while the bot's row lock (a transaction) is held: the markets of a
    real-money order are loaded before ``_order`` locks the bot."""
    from django.db import connection

    real = tick._live_rules
    seen = []

    def watched(credential, bot):
        seen.append(connection.in_atomic_block)
        return real(credential, bot)

    monkeypatch.setattr(tick, "_live_rules", watched)
    report = tick.tick_batch()

    assert (report.orders, report.errors) == (1, 0), report
    assert seen == [False]
    assert list(fake_exchange.orders) == [f"bf-{live_bot.pk}-0"]


def test_a_running_bot_whose_order_the_books_refuse_alerts_staff_from_its_tick(live_bot, fake_exchange):
    """The same refused fill met by the bot's own tick: the bot does not trade, the tick counts an
    error, the order carries it and staff are alerted once, not at every tick."""
    from realtime.models import Event

    placed_and_in_flight(live_bot, "bf-bad-2", "sell")

    for _ in range(2):
        Bot.objects.filter(pk=live_bot.pk).update(next_tick_at=timezone.now() - timedelta(seconds=1))
        report = tick.tick_batch()
        assert (report.errors, report.orders) == (1, 0)

    bad = Order.objects.get(client_order_id="bf-bad-2")
    assert bad.status == "submitted" and bad.error.startswith("ValueError: BTC/USDT: cannot sell 0.001")
    assert Event.objects.filter(type="order_reconcile_failed", bot_id=live_bot.pk).count() == 1
    live_bot.refresh_from_db()
    assert live_bot.consecutive_errors == 2
    assert list(fake_exchange.orders) == ["bf-bad-2"]  # nothing else was sent


def test_a_capital_cut_between_decision_and_order_sizes_the_real_order_on_the_new_capital(live_bot, fake_exchange):
    """Given a promoted live bot with 1,000 of capital whose strategy decides to spend it all; when
    its owner stops it, cuts the capital to 100 and starts it again before the order is placed (one
    long batch), then the order sent to the venue is sized on the 100 the bot now has, not the 1,000
    it had when the batch was claimed."""
    from bots import services
    from bots.engine import risk
    from bots.engine.strategies import BUY, Decision

    owner = live_bot.owner

    class AllInWhileTheOwnerCutsTheCapital:
        lookback = staticmethod(lambda params: 1)
        on_fill = staticmethod(strategies.default_on_fill)

        @staticmethod
        def decide(params, view):
            services.bot_stop(user=owner, bot_id=live_bot.pk)
            services.bot_update(user=owner, bot_id=live_bot.pk, data={"capital": Decimal("100")})
            services.bot_start(user=owner, bot_id=live_bot.pk)
            return Decision(BUY, quote=view.cash, reason="test")

    undo = strategies.override("dca", AllInWhileTheOwnerCutsTheCapital)
    try:
        report = tick.tick_batch()
    finally:
        undo()

    assert (report.orders, report.errors) == (1, 0), report
    order = Order.objects.get(bot=live_bot)
    bot = Bot.objects.get(pk=live_bot.pk)
    spend = Decimal("100") / (1 + Decimal("0.001"))
    expected = risk._round_quantity(spend / bot.last_price, market.market_rules("binance", "BTC/USDT"))
    assert order.quantity == expected
    assert list(fake_exchange.orders) == [order.client_order_id]


def test_a_long_housekeeping_sweep_still_holds_the_lease_of_the_bot_it_is_reconciling(
    live_bot, fake_exchange, monkeypatch
):
    """Given two live bots with orders left in flight, the second running; when the sweep spends more
    than a lease on the first bot (a venue timing out), then while it reconciles the second bot's
    order that bot is still leased to the sweep: a tick claiming it then gets nothing, so the two
    never book the same order at once."""
    from datetime import datetime

    from django.utils import timezone as real_timezone

    second = another_live_bot(live_bot)
    Bot.objects.filter(pk=live_bot.pk).update(status="paused", next_tick_at=None)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    placed_and_in_flight(live_bot, "bf-slow-1", "buy", at=an_hour_ago)
    placed_and_in_flight(second, "bf-next-1", "buy", at=an_hour_ago)

    skew = timedelta(0)

    class Clock:  # the sweep's wall clock, moved on by the slow venue
        @staticmethod
        def now() -> datetime:
            return real_timezone.now() + skew

    real_lookup = live.lookup
    claimed_meanwhile = []

    def lookup(client, *, symbol, client_order_id, **kwargs):
        nonlocal skew
        if client_order_id == "bf-slow-1":
            skew = timedelta(seconds=tick.lease_seconds() + 1)  # the venue took longer than a lease
        else:
            bots, _ = tick.claim(now=Clock.now(), limit=10, bot_ids=[second.pk], due=False)
            claimed_meanwhile.extend(b.pk for b in bots)
        return real_lookup(client, symbol=symbol, client_order_id=client_order_id, **kwargs)

    monkeypatch.setattr(tick, "timezone", Clock)
    monkeypatch.setattr(live, "lookup", lookup)

    assert tick.reconcile_orders() == 2

    assert claimed_meanwhile == []
    assert Order.objects.get(client_order_id="bf-next-1").status == "filled"
    assert Bot.objects.get(pk=second.pk).claimed_until is None  # released after the sweep


def test_a_bot_with_an_order_in_flight_cannot_move_to_another_venue_until_it_is_reconciled(
    live_bot, fake_exchange, owner_client
):
    """Given a stopped live bot whose last order's outcome is unknown (the venue has it); when its
    owner moves it to another venue, then the answer is 409 ORDER_IN_FLIGHT and nothing changed:
    reconciled on the new venue the order would be declared never sent and its fill lost. Once
    housekeeping has booked the fill, the move goes through."""
    Bot.objects.filter(pk=live_bot.pk).update(status="stopped", next_tick_at=None)
    order = placed_and_in_flight(live_bot, "bf-wire-1", "buy", at=timezone.now() - timedelta(hours=1))
    Order.objects.filter(pk=order.pk).update(status="unknown")
    move = {"exchange": "simulated", "credential_id": None}

    response = owner_client.patch(f"/api/bots/{live_bot.pk}", move, format="json")

    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert (error["code"], error["details"]) == (
        "ORDER_IN_FLIGHT",
        {"fields": ["credential_id", "exchange"], "order": "bf-wire-1"},
    )
    assert error["message"] == (
        "credential_id, exchange cannot change while order bf-wire-1 is still in flight on binance; "
        "it is being reconciled, try again in a minute"
    )
    bot = Bot.objects.get(pk=live_bot.pk)
    assert (bot.exchange, bot.credential_id, bot.in_training) == ("binance", live_bot.credential_id, False)

    assert tick.reconcile_orders() == 1
    assert Trade.objects.get(order__client_order_id="bf-wire-1").quantity == Decimal("0.001")
    moved = owner_client.patch(f"/api/bots/{live_bot.pk}", move, format="json")
    assert moved.status_code == 200, moved.content


# ---------------------------------------------------------------------------
# Fees and partial fills (issue 15, items 4 and 6)
# ---------------------------------------------------------------------------
def _seed_candles(venue: str, symbol: str, price: float) -> None:
    """Candles for a venue the fake does not serve market data for (as if fetched by the fleet)."""
    minute = int(timezone.now().timestamp()) // 60 * 60
    rows = [(minute - 60 * i, price, price, price, price, 1.0) for i in (2, 1, 0)]
    cache.set(market._cache_key(venue, symbol, "1m"), {"period": 10**12, "rows": rows})
    market._remember_price(venue, symbol, int(timezone.now().timestamp()), price)  # and its fresh ticker


def _due(bot: Bot) -> None:
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=timezone.now() - timedelta(seconds=1), claimed_until=None)


def _half_capital(bot: Bot) -> None:
    """Each DCA buy spends 500 of the 1,000 capital: 0.01 BTC at the fake's 50,000."""
    Bot.objects.filter(pk=bot.pk).update(params={**bot.params, "order_pct": 0.5})


def test_a_base_asset_fee_books_the_net_quantity_and_a_stop_loss_sells_what_the_account_holds(
    live_bot, fake_exchange, settings
):
    # Given Binance without BNB: a buy's 0.1 % fee is taken in BTC, a sell's in USDT; the
    # account holds no BTC but what the bot buys.
    settings.ENGINE_STOP_LOSS_PCT = "0.05"
    fake_exchange.set_fees("0.001", "received")
    fake_exchange.balances["BTC"] = Decimal(0)
    _half_capital(live_bot)
    # When the bot buys 0.01 BTC at 50,000 ...
    tick.tick_batch()
    buy = Trade.objects.get(bot=live_bot)
    position = Position.objects.get(bot=live_bot)
    live_bot.refresh_from_db()
    # ... the books hold what the account holds (0.01 − 0.00001) and cash pays the notional only.
    assert (buy.quantity, buy.fee, buy.fee_currency, buy.fee_quote) == (
        Decimal("0.01"),
        Decimal("0.00001"),
        "BTC",
        Decimal("0.5"),
    )
    assert position.quantity == Decimal("0.00999") == fake_exchange.balances["BTC"]
    assert live_bot.cash_balance == Decimal("500")  # 1,000 − 500, the fee was not charged twice
    assert abs(position.average_cost - Decimal("500") / Decimal("0.00999")) < Decimal("1e-6")
    # When the price falls 10 % the stop-loss sells the whole position, and the venue accepts it.
    fake_exchange.ledger.prices["BTC/USDT"] = Decimal("45000")
    cache.clear()
    _due(live_bot)
    tick.tick_batch()
    sell = Trade.objects.filter(bot=live_bot, side="sell").get()
    live_bot.refresh_from_db()
    assert (sell.quantity, sell.price, sell.fee, sell.fee_currency) == (
        Decimal("0.00999"),
        Decimal("45000"),
        Decimal("0.44955"),
        "USDT",
    )
    assert Order.objects.get(client_order_id=f"bf-{live_bot.pk}-1").status == "filled"
    assert Position.objects.get(bot=live_bot).quantity == 0 == fake_exchange.balances["BTC"]
    # 500 − 449.55 + 0.44955 lost: the BTC fee through the cost basis, the USDT fee directly.
    assert sell.realized_pnl == live_bot.realized_pnl == Decimal("-50.89955")
    assert live_bot.cash_balance == Decimal("949.10045") == fake_exchange.balances["USDT"] - Decimal("9000")
    assert live_bot.total_fees == Decimal("0.94955")


def _stop_loss_part_filled(bot, fake_exchange, settings) -> Order:
    """A live bot holding 0.01 BTC bought at 50,000 with a 5 % stop-loss; the price falls 10 % and
    the stop-loss's market sell fills 40 % on a thin book: that sell, still open on the venue."""
    settings.ENGINE_STOP_LOSS_PCT = "0.05"
    _half_capital(bot)
    tick.tick_batch()
    assert Position.objects.get(bot=bot).quantity == Decimal("0.01")
    fake_exchange.ledger.prices["BTC/USDT"] = Decimal("45000")
    fake_exchange.set_plan([("0.4", None), ("0.6", None)])
    cache.clear()
    _due(bot)
    tick.tick_batch()
    sell = Order.objects.get(bot=bot, side="sell")
    assert (sell.reason, sell.status, sell.filled_quantity) == ("stop_loss", "partially_filled", Decimal("0.004"))
    return sell


def test_a_stop_loss_the_venue_ends_short_protects_what_it_left_and_never_sells_more(live_bot, fake_exchange, settings):
    btc_before = fake_exchange.balances["BTC"]
    # Given a stop-loss whose market sell filled 40 % on a thin book ...
    first = _stop_loss_part_filled(live_bot, fake_exchange, settings)
    # ... and the venue then ends it (expired: the rest is never filled) ...
    fake_exchange.set_plan(None)
    fake_exchange.ledger.cancel(first.client_order_id)
    _due(live_bot)
    tick.tick_batch()
    # ... the stop-loss sells the 0.006 it left, at once, in its own order: 0.01 sold in all, not a satoshi more.
    first.refresh_from_db()
    assert (first.status, first.filled_quantity) == ("canceled", Decimal("0.004"))
    second = Order.objects.filter(bot=live_bot, side="sell").exclude(pk=first.pk).get()
    assert (second.reason, second.status, second.quantity) == ("stop_loss", "filled", Decimal("0.006"))
    assert Position.objects.get(bot=live_bot).quantity == 0 == fake_exchange.balances["BTC"] - btc_before
    assert sum(Trade.objects.filter(bot=live_bot, side="sell").values_list("quantity", flat=True)) == Decimal("0.01")
    # A flat book has nothing left to exit: the next tick sells nothing.
    _due(live_bot)
    tick.tick_batch()
    assert Order.objects.filter(bot=live_bot, side="sell").count() == 2


def test_an_exit_ended_short_while_its_bot_was_paused_protects_the_rest_when_it_resumes(
    live_bot, fake_exchange, settings
):
    first = _stop_loss_part_filled(live_bot, fake_exchange, settings)
    # Given the owner pausing the bot with its stop-loss part-filled, and the venue then ending it ...
    Bot.objects.filter(pk=live_bot.pk).update(status="paused", next_tick_at=None)
    fake_exchange.set_plan(None)
    fake_exchange.ledger.cancel(first.client_order_id)
    # ... housekeeping closes it (no tick runs for a paused bot) ...
    assert tick.reconcile_orders(older_than_seconds=0) == 1
    first.refresh_from_db()
    assert (first.status, first.filled_quantity) == ("canceled", Decimal("0.004"))
    # ... and once resumed, the stop-loss sells the 0.006 left.
    Bot.objects.filter(pk=live_bot.pk).update(status="running")
    _due(live_bot)
    tick.tick_batch()
    second = Order.objects.filter(bot=live_bot, side="sell").exclude(pk=first.pk).get()
    assert (second.reason, second.quantity, second.status) == ("stop_loss", Decimal("0.006"), "filled")
    assert Position.objects.get(bot=live_bot).quantity == 0


def test_a_stop_loss_filled_by_three_makers_counts_once_for_the_bodyguard(live_bot, fake_exchange, settings):
    # Given a live bot holding 0.01 BTC, a 5 % stop-loss, and the bodyguard's default of three stop-losses an hour.
    settings.ENGINE_STOP_LOSS_PCT = "0.05"
    _half_capital(live_bot)
    tick.tick_batch()
    # When the stop-loss sells on Binance in three trades (three makers matched) ...
    fake_exchange.ledger.prices["BTC/USDT"] = Decimal("45000")
    fake_exchange.set_plan([("0.3", None), ("0.3", None), ("0.4", None)])
    cache.clear()
    _due(live_bot)
    tick.tick_batch()
    sell = Order.objects.get(bot=live_bot, side="sell")
    fake_exchange.fill_next(sell.client_order_id)
    fake_exchange.fill_next(sell.client_order_id)
    _due(live_bot)
    tick.tick_batch()
    # ... three trades are booked, and the bodyguard saw one stop-loss: the bot runs on.
    assert Trade.objects.filter(order=sell).count() == 3
    live_bot.refresh_from_db()
    assert (live_bot.status, live_bot.paused_reason) == ("running", "")
    assert len(live_bot.state["engine"]["stop_losses"]) == 1


def test_partial_fills_are_booked_each_at_its_own_price_and_bnb_fee(live_bot, fake_exchange):
    # Given Binance paying fees in BNB (at 600 USDT) and an order that fills 40 % at 50,000, then 60 % at 50,100.
    fake_exchange.set_fees("0.001", "bnb")
    fake_exchange.set_plan([("0.4", "50000"), ("0.6", "50100")])
    _half_capital(live_bot)
    report = tick.tick_batch()
    cid = f"bf-{live_bot.pk}-0"
    assert report.refused == {}  # (the order stays open: the bot waits for it at its next tick)
    assert Order.objects.get(client_order_id=cid).status == "partially_filled"
    fake_exchange.fill_next(cid)
    _due(live_bot)
    tick.tick_batch()
    trades = list(
        Trade.objects.filter(order__client_order_id=cid)
        .order_by("pk")
        .values_list("quantity", "price", "fee", "fee_currency", "fee_quote")
    )
    # 0.004 × 50,000 × 0.1 % = 0.2 USDT = 0.00033333 BNB; 0.006 × 50,100 × 0.1 % = 0.3006 USDT = 0.000501 BNB.
    assert trades == [
        (Decimal("0.004"), Decimal("50000"), Decimal("0.00033333"), "BNB", Decimal("0.199998")),
        (Decimal("0.006"), Decimal("50100"), Decimal("0.000501"), "BNB", Decimal("0.3006")),
    ]
    order = Order.objects.get(client_order_id=cid)
    live_bot.refresh_from_db()
    assert (order.status, order.filled_quantity, order.fee) == ("filled", Decimal("0.01"), Decimal("0.00083433"))
    # BNB fees leave BTC and USDT alone; their value counts as fees (the next slot's order is the bot's next buy).
    assert [(t.quantity, t.fee_quote) for t in Trade.objects.filter(bot=live_bot).exclude(order=order)] == [
        (Decimal("0.003988"), Decimal("0.199398"))
    ]
    assert Position.objects.get(bot=live_bot).quantity == Decimal("0.01") + Decimal("0.003988")
    assert live_bot.cash_balance == Decimal("1000") - Decimal("200") - Decimal("300.6") - Decimal("199.4")
    assert live_bot.total_fees == Decimal("0.199998") + Decimal("0.3006") + Decimal("0.199398")


def test_an_order_resolved_by_reconciliation_on_binance_books_its_fee(live_bot, fake_exchange, settings):
    # Given an order the venue filled (0.1 % in BTC) while the worker died before recording it.
    fake_exchange.set_fees("0.001", "received")
    Bot.objects.filter(pk=live_bot.pk).update(status="paused", next_tick_at=None)
    an_earlier_try = timezone.now() - timedelta(minutes=5)
    placed_and_in_flight(live_bot, "bf-died-1", "buy", at=an_earlier_try, quantity=Decimal("0.002"), status="unknown")
    # When housekeeping reconciles it (Binance's order lookup carries no fee) ...
    assert tick.reconcile_orders() == 1
    # ... the fee comes from the venue's trades.
    trade = Trade.objects.get(bot=live_bot)
    assert (trade.quantity, trade.fee, trade.fee_currency, trade.fee_quote) == (
        Decimal("0.002"),
        Decimal("0.000002"),
        "BTC",
        Decimal("0.1"),
    )
    assert Position.objects.get(bot=live_bot).quantity == Decimal("0.001998")


# ---------------------------------------------------------------------------
# Reconciliation by client id on each venue (issue 15, item 5)
# ---------------------------------------------------------------------------
VENUE_KEYS = {"kraken": (KRAKEN_KEY, KRAKEN_SECRET), "bybit": (BYBIT_KEY, BYBIT_SECRET)}


def _venue_bot(owner, venue: str) -> Bot:
    key, secret = VENUE_KEYS[venue]
    credential = credential_save(
        user=owner, provider=venue, purpose="live", label="default", secrets={"api_key": key, "api_secret": secret}
    )
    return dca_bot(
        owner=owner,
        exchange=venue,
        symbol="BTC/USDT",
        trading_mode="live",
        in_training=False,
        credential=credential,
        next_tick_at=timezone.now() - timedelta(seconds=1),
    )


@pytest.mark.parametrize("venue", ["kraken", "bybit"])
def test_an_order_of_unknown_outcome_is_found_by_client_id_on_each_venue(venue, owner, fake_exchange, settings):
    # Given a live bot whose order reached the venue (filled) but whose answer was lost.
    settings.ENABLE_TRADING = True
    settings.ENGINE_UNKNOWN_GRACE_SECONDS = 0
    bot = _venue_bot(owner, venue)
    cid = f"bf-{bot.pk}-0"
    fake_exchange.ledger.place(venue=venue, symbol="BTC/USDT", side="buy", amount=Decimal("0.002"), client_id=cid)
    Order.objects.create(
        bot=bot,
        client_order_id=cid,
        symbol="BTC/USDT",
        side="buy",
        quantity=Decimal("0.002"),
        status="unknown",
        is_paper=False,
        submitted_at=timezone.now() - timedelta(minutes=1),
    )
    Bot.objects.filter(pk=bot.pk).update(tick_count=1)
    # When the bot ticks, it looks the order up by client id on that venue ...
    report = tick.tick_batch()
    order = Order.objects.get(client_order_id=cid)
    # ... books its fill, and only then trades again, under its next slot's id.
    assert (order.status, order.venue_order_id) == ("filled", fake_exchange.orders[cid].id)
    assert list(Trade.objects.filter(order=order).values_list("quantity", "price")) == [
        (Decimal("0.002"), Decimal("50000"))
    ]
    assert report.errors == 0
    assert list(fake_exchange.orders) == [cid, f"bf-{bot.pk}-1"]
    assert [o.status for o in fake_exchange.orders.values()] == ["closed", "closed"]


@pytest.mark.parametrize("venue", ["kraken", "bybit"])
def test_a_live_bot_trades_on_kraken_and_bybit_shapes(venue, owner, fake_exchange, settings):
    settings.ENABLE_TRADING = True
    fake_exchange.set_fees("0.001", "received")
    bot = _venue_bot(owner, venue)
    report = tick.tick_batch()
    assert (report.orders, report.fills, report.errors) == (1, 1, 0)
    order = Order.objects.get(bot=bot)
    venue_fill = fake_exchange.fills[0]
    trade = Trade.objects.get(order=order)
    assert (trade.quantity, trade.price, trade.fee, trade.fee_currency) == (
        venue_fill.quantity,
        venue_fill.price,
        venue_fill.fee,
        venue_fill.fee_asset,
    )
    assert Position.objects.get(bot=bot).quantity == venue_fill.quantity - venue_fill.fee


def test_partial_fills_from_cumulative_figures_on_kraken(owner, fake_exchange, settings):
    # Kraken reports cumulative vol_exec, average price and fee: increments are their differences.
    settings.ENABLE_TRADING = True
    fake_exchange.set_fees("0.002", "quote")
    fake_exchange.set_plan([("0.4", "50000"), ("0.6", "50100")])
    bot = _venue_bot(owner, "kraken")
    _half_capital(bot)
    tick.tick_batch()
    cid = f"bf-{bot.pk}-0"
    fake_exchange.fill_next(cid)
    _due(bot)
    tick.tick_batch()
    trades = list(
        Trade.objects.filter(order__client_order_id=cid)
        .order_by("pk")
        .values_list("quantity", "price", "fee", "fee_currency")
    )
    assert trades == [
        (Decimal("0.004"), Decimal("50000"), Decimal("0.4"), "USDT"),
        (Decimal("0.006"), Decimal("50100"), Decimal("0.6012"), "USDT"),
    ]
    order = Order.objects.get(client_order_id=cid)
    assert (order.status, order.filled_quantity, order.fee) == ("filled", Decimal("0.01"), Decimal("1.0012"))


def test_live_trading_is_refused_on_a_venue_whose_orders_cannot_be_found_by_client_id(owner, fake_exchange, settings):
    settings.ENABLE_TRADING = True
    credential = credential_save(
        user=owner,
        provider="okx",
        purpose="live",
        label="default",
        secrets={"api_key": "k" * 12, "api_secret": "s" * 12, "passphrase": "p1"},
    )
    bot = dca_bot(
        owner=owner,
        exchange="okx",
        symbol="BTC/USDT",
        trading_mode="live",
        in_training=False,
        credential=credential,
        next_tick_at=timezone.now() - timedelta(seconds=1),
    )
    _seed_candles("okx", "BTC/USDT", 50000.0)
    report = tick.tick_batch()
    assert report.refused[bot.pk] == (
        "live trading on okx is not supported: no way to look an order up by its client order id is declared "
        "for it, so an order whose outcome is unknown could never be resolved"
    )
    assert counts(bot) == (0, 0)


def test_creating_or_starting_a_live_bot_on_such_a_venue_is_refused_naming_why(owner_client, owner):
    body = {
        "name": "L",
        "exchange": "okx",
        "symbol": "BTC/USDT",
        "strategy": "dca",
        "trading_mode": "live",
        "capital": 1000,
    }
    response = owner_client.post("/api/bots", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert "live trading on okx is not supported" in error["message"] and "exchange" in error["details"]
    assert not Bot.objects.filter(owner=owner).exists()
    # A live bot saved before the venue was declared unsupported cannot be started either.
    bot = dca_bot(owner=owner, exchange="okx", symbol="BTC/USDT", trading_mode="live", status="stopped")
    response = owner_client.post(f"/api/bots/{bot.pk}/start")
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "LIVE_VENUE_UNSUPPORTED"
    bot.refresh_from_db()
    assert bot.status == "stopped"


# ---------------------------------------------------------------------------
# Angel One
# ---------------------------------------------------------------------------
@pytest.fixture
def angel_bot(owner, fake_exchange, settings):
    settings.ENABLE_TRADING = True
    settings.ENGINE_UNKNOWN_GRACE_SECONDS = 0
    credential = credential_save(
        user=owner,
        provider="angelone",
        purpose="live",
        label="default",
        secrets={"api_key": ANGEL_KEY, "client_code": ANGEL_CLIENT, "password": ANGEL_PIN, "totp_secret": ANGEL_TOTP},
    )
    _seed_candles("angelone", "NSE:SBIN-EQ", 600.5)
    # 10 % of 100,000 INR at 600.5: 16 shares.
    return dca_bot(
        owner=owner,
        exchange="angelone",
        symbol="NSE:SBIN-EQ",
        quote_currency="INR",
        capital=Decimal("100000"),
        trading_mode="live",
        in_training=False,
        credential=credential,
        next_tick_at=timezone.now() - timedelta(seconds=1),
    )


def test_angel_one_a_non_json_answer_is_an_unknown_outcome_and_fills_book_their_charges(angel_bot, fake_exchange):
    # Given Angel One places the order but answers with an HTML page.
    fake_exchange.angel_html_errors = True
    tick.tick_batch()
    order = Order.objects.get(bot=angel_bot)
    # Then the order is not taken for refused: its outcome is unknown ...
    assert order.status == "unknown" and len(fake_exchange.angel_orders) == 1
    # ... and the next tick finds it by its tag and books it with Angel One's charges
    # (16 × 600.5 = 9,608: STT 9.608 + exchange 0.2853576 + stamp 1.4412 + GST 0.05136437 = 11.39).
    fake_exchange.angel_html_errors = False
    _due(angel_bot)
    tick.tick_batch()
    order.refresh_from_db()
    trade = Trade.objects.get(order=order)
    assert (order.status, trade.quantity, trade.price, trade.fee, trade.fee_currency) == (
        "filled",
        Decimal("16"),
        Decimal("600.5"),
        Decimal("11.39"),
        "INR",
    )
    # The bot then bought again under its next slot (same size, same charges); nothing was resent.
    assert [o["ordertag"] for o in fake_exchange.angel_orders] == [f"bf-{angel_bot.pk}-0", f"bf-{angel_bot.pk}-1"]
    angel_bot.refresh_from_db()
    assert angel_bot.cash_balance == Decimal("100000") - 2 * (Decimal("9608") + Decimal("11.39"))


def test_angel_one_an_order_from_yesterday_is_not_declared_never_sent(angel_bot, fake_exchange):
    # Given an order sent yesterday whose outcome was never known; Angel One's book lists today only.
    yesterday = timezone.now() - timedelta(days=1)
    fake_exchange.angel_orders.append(
        {"ordertag": f"bf-{angel_bot.pk}-0", "status": "complete", "updatetime": "01-Jan-2020 10:00:00"}
    )
    Order.objects.create(
        bot=angel_bot,
        client_order_id=f"bf-{angel_bot.pk}-0",
        symbol="NSE:SBIN-EQ",
        side="buy",
        quantity=Decimal("16"),
        status="unknown",
        is_paper=False,
        created_at=yesterday,
        submitted_at=yesterday,
    )
    Bot.objects.filter(pk=angel_bot.pk).update(tick_count=1)
    report = tick.tick_batch()
    order = Order.objects.get(client_order_id=f"bf-{angel_bot.pk}-0")
    # Then it stays unknown, saying why, and the bot does not trade past it.
    assert order.status == "unknown"
    assert "order book lists today's orders only" in order.error
    assert report.refused[angel_bot.pk] == f"order bf-{angel_bot.pk}-0 still unknown"
    assert Order.objects.filter(bot=angel_bot).count() == 1 and len(fake_exchange.angel_orders) == 1


def test_angel_one_a_resting_limit_order_is_canceled_or_found_filled_before_the_cancel(angel_bot, fake_exchange):
    from bots.services.instructions import instruction_build, instruction_submit

    def submit(**fields):
        return instruction_submit(bot_id=angel_bot.pk, instruction=instruction_build(**fields), wait_seconds=0)

    Bot.objects.filter(pk=angel_bot.pk).update(strategy="rsi", params={"period": 14, "oversold": 1, "overbought": 99})
    # Given a limit buy of 10 shares at 590, under the market's 600.5: it rests on Angel One ...
    placed = submit(action="buy", price="590", quantity="10")
    assert placed.accepted, placed.reason
    [venue] = fake_exchange.angel_orders
    assert (venue["ordertype"], venue["price"], venue["status"]) == ("LIMIT", 590.0, "open")
    # ... and the owner's cancel cancels it there, nothing booked.
    canceled = submit(action="cancel", order_id=placed.order.pk)
    assert canceled.accepted, canceled.reason
    order = Order.objects.get(pk=placed.order.pk)
    assert (venue["status"], order.status, order.filled_quantity) == ("cancelled", "canceled", 0)
    assert not Trade.objects.filter(bot=angel_bot).exists()
    # A second one the market reached before the owner's cancel: the fill is booked, not lost.
    second = submit(action="buy", price="595", quantity="4")
    fake_exchange.fill_angel(second.order.client_order_id)
    late = submit(action="cancel", order_id=second.order.pk)
    assert (late.accepted, late.reason) == (
        False,
        f"order {second.order.pk} is filled: only a resting order can be canceled",
    )
    trade = Trade.objects.get(order=second.order)
    assert (trade.quantity, trade.price) == (Decimal("4"), Decimal("595"))
