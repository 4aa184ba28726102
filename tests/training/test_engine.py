"""End to end through the engine: a quarantined bot never places a real order; promotion switches it.

The outside world is the local fake exchange (HTTP); nothing in between is mocked, except
that the live adapter is made to fail loudly should a quarantined bot ever reach it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bots.engine import tick
from bots.engine.adapters import live
from bots.models import Bot, Order, Position, Trade
from credentials.services import credential_save
from tests.conftest import USING_POSTGRES
from tests.fakes.exchange import BINANCE_KEY, BINANCE_SECRET

pytestmark = pytest.mark.django_db


def posted_orders(fake) -> int:
    return sum(1 for method, path in fake.requests if method == "POST" and path == "/api/v3/order")


@pytest.fixture
def engine_settings(settings):
    settings.ENABLE_TRADING = True  # real money allowed on this server: only the quarantine holds the bot back
    settings.LIVE_MIN_TRAINING_HOURS = 0.05  # three minutes
    settings.ENGINE_MAX_DAILY_TRADES = 0
    settings.ENGINE_TRADE_COOLDOWN_SECONDS = 0
    return settings


def test_a_quarantined_bot_trades_only_on_paper_until_promoted(
    owner,
    owner_client,
    fake_exchange,
    engine_settings,
    clock,
    monkeypatch,
):
    credential_save(
        user=owner,
        provider="binance",
        purpose="live",
        label="default",
        secrets={"api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET},
    )
    created = owner_client.post(
        "/api/bots",
        {
            "name": "Trainee",
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "strategy": "dca",
            "params": {"order_pct": 0.1, "every_ticks": 1, "max_orders": 100, "take_profit_pct": 5},
            "trading_mode": "live",
            "capital": 1000,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    bot_id = created.json()["bot"]["id"]
    started = owner_client.post(f"/api/bots/{bot_id}/start")
    assert "in the training bay (paper fills until promotion)" in started.json()["message"]

    real_place = live.place

    def forbidden(*args, **kwargs):
        raise AssertionError("a quarantined bot reached the live adapter")

    monkeypatch.setattr(live, "place", forbidden)
    for minute in range(3):  # 0, 1 and 2 minutes into the three-minute quarantine
        if minute:
            clock.advance(seconds=60)
        report = tick.tick_batch()
        assert (report.orders, report.errors) == (1, 0)
    assert posted_orders(fake_exchange) == 0
    assert set(Order.objects.filter(bot_id=bot_id).values_list("is_paper", flat=True)) == {True}
    assert Position.objects.get(bot_id=bot_id).quantity > 0
    assert owner_client.post(f"/api/training/{bot_id}/promote").status_code == 409  # two minutes in

    clock.advance(seconds=60)
    promoted = owner_client.post(f"/api/training/{bot_id}/promote")
    assert promoted.status_code == 200, promoted.content
    assert posted_orders(fake_exchange) == 0  # the paper position was closed in the books, not on the venue
    assert Position.objects.get(bot_id=bot_id).quantity == 0
    assert not Trade.objects.filter(bot_id=bot_id, is_paper=False).exists()

    # Promoted: the next tick's order goes to the venue.
    monkeypatch.setattr(live, "place", real_place)
    Bot.objects.filter(pk=bot_id).update(next_tick_at=clock.now - timedelta(seconds=1))
    report = tick.tick_batch()
    assert (report.orders, report.errors) == (1, 0)
    real = Order.objects.get(bot_id=bot_id, is_paper=False)
    assert posted_orders(fake_exchange) == 1
    assert list(fake_exchange.orders) == [real.client_order_id]


def _promoting_strategy(bot, owner):
    """A strategy that, while it decides to sell the paper position, has its bot promoted."""
    from bots.engine import strategies
    from bots.engine.strategies import SELL, Decision
    from training.services import bot_promote

    class Module:
        lookback = staticmethod(lambda params: 1)
        on_fill = staticmethod(strategies.default_on_fill)

        @staticmethod
        def decide(params, view):
            assert view.position > 0 and view.state == {"orders": 3, "last_buy_tick": 7}
            assert bot_promote(bot_id=bot.pk, user=owner).promoted
            return Decision(SELL, quantity=view.position, reason="test_exit")

    return Module


def test_a_promotion_that_lands_during_a_tick_sends_nothing_to_the_venue(live_bot, fake_exchange, owner):
    """Given a live bot in the bay holding a paper position, its countdown complete; when it is
    promoted between the batch's claim and its order (the tick decided to sell that position),
    then no order reaches the venue, nothing fails, the position promotion closed stays closed,
    and the strategy memory promotion cleared stays cleared; the next tick trades for real."""
    from django.utils import timezone

    from bots.engine import strategies
    from tests.bots.factories import fill

    Bot.objects.filter(pk=live_bot.pk).update(
        in_training=True,
        training_started_at=timezone.now() - timedelta(hours=25),
        state={"strategy": {"orders": 3, "last_buy_tick": 7}, "engine": {"day": "2020-01-01", "trades": 1}},
    )
    fill(live_bot, "buy", "0.01", "50000")  # the paper position

    undo = strategies.override("dca", _promoting_strategy(live_bot, owner))
    try:
        report = tick.tick_batch()
    finally:
        undo()

    assert posted_orders(fake_exchange) == 0
    assert report.errors == 0 and report.orders == 0
    assert report.refused[live_bot.pk] == (
        "the bot changed during this tick (its lease was revoked); the next tick decides again"
    )
    assert not Order.objects.filter(bot=live_bot, is_paper=False).exists()
    bot = Bot.objects.get(pk=live_bot.pk)
    assert (bot.in_training, bot.last_error, bot.consecutive_errors) == (False, "", 0)
    assert bot.state == {"strategy": {}, "engine": {"day": "2020-01-01", "trades": 1}}
    assert Position.objects.get(bot=live_bot).quantity == 0
    assert bot.next_tick_at <= timezone.now() and bot.claimed_until is None  # due again at once

    report = tick.tick_batch()  # the promoted bot, flat, buys on the venue

    assert (report.orders, report.errors) == (1, 0), report
    assert list(fake_exchange.orders) == [Order.objects.get(bot=live_bot, is_paper=False).client_order_id]


def test_a_decision_made_in_the_bay_is_not_sent_once_the_mode_changed_under_the_lock(live_bot, fake_exchange):
    """Belt and braces: a bot leaving the bay by any path (here a bare update that keeps the lease)
    between claim and order has its paper-era decision refused under the row lock."""
    from django.utils import timezone

    from bots.engine import strategies
    from tests.engine.test_tick import _stops_the_world

    Bot.objects.filter(pk=live_bot.pk).update(in_training=True, training_started_at=timezone.now())
    undo = strategies.override(
        "dca", _stops_the_world(lambda: Bot.objects.filter(pk=live_bot.pk).update(in_training=False))
    )
    try:
        report = tick.tick_batch()
    finally:
        undo()

    assert report.refused[live_bot.pk] == "the bot's trading mode changed since the decision"
    assert posted_orders(fake_exchange) == 0 and not Order.objects.filter(bot=live_bot).exists()


@pytest.mark.skipif(not USING_POSTGRES, reason="two connections racing on one database need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_promotion_from_another_connection_mid_tick_sends_nothing_to_the_venue(live_bot, fake_exchange, owner):
    """The same race with real concurrency: the tick runs in one thread and connection, the
    promotion commits from another while the tick is deciding."""
    import threading

    from django.db import connection
    from django.utils import timezone

    from bots.engine import strategies
    from bots.engine.strategies import SELL, Decision
    from tests.bots.factories import fill
    from training.services import bot_promote

    Bot.objects.filter(pk=live_bot.pk).update(
        in_training=True,
        training_started_at=timezone.now() - timedelta(hours=25),
        state={"strategy": {"orders": 3}, "engine": {}},
    )
    fill(live_bot, "buy", "0.01", "50000")
    decided, promoted = threading.Event(), threading.Event()

    class WaitsForThePromotion:
        lookback = staticmethod(lambda params: 1)
        on_fill = staticmethod(strategies.default_on_fill)

        @staticmethod
        def decide(params, view):
            decided.set()
            assert promoted.wait(timeout=20), "the promotion did not commit"
            return Decision(SELL, quantity=view.position, reason="test_exit")

    def promote():
        try:
            assert decided.wait(timeout=20)
            bot_promote(bot_id=live_bot.pk, user=owner)
            promoted.set()
        finally:
            connection.close()

    reports = []

    def run_tick():
        try:
            reports.append(tick.tick_batch())
        finally:
            connection.close()

    undo = strategies.override("dca", WaitsForThePromotion)
    threads = [threading.Thread(target=promote), threading.Thread(target=run_tick)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        undo()

    assert promoted.is_set() and len(reports) == 1
    assert posted_orders(fake_exchange) == 0 and reports[0].errors == 0
    bot = Bot.objects.get(pk=live_bot.pk)
    assert (bot.in_training, bot.state["strategy"]) == (False, {})
    assert Position.objects.get(bot=live_bot).quantity == 0
