"""Market data the tick judges on: a fresh price on real venues, no look-ahead on replay, venue limits."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from bots.engine import market, risk, tick
from bots.models import Bot, Order, Trade
from credentials.providers import ccxt_exchange
from tests.engine.factories import T0, dca_bot, make_due, posted_orders, running_bot
from tests.fakes.bitfinex import fake_bitfinex  # noqa: F401

pytestmark = pytest.mark.django_db


def _hour_start_now() -> datetime:
    """A minute into the current hour: the next 30 minutes stay inside one 1h candle period."""
    now = timezone.now()
    return now.replace(minute=1, second=0, microsecond=0)


def _ticker_requests(fake) -> int:
    return sum(1 for method, path in fake.requests if method == "GET" and path == "/api/v3/ticker/24hr")


# ---------------------------------------------------------------------------
# 3. Exits, sizing and paper fills on real venues use a fresh price
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("training", [False, True], ids=["live", "training-bay"])
def test_a_1h_bot_hits_its_stop_loss_on_the_next_tick_when_the_ticker_falls_within_the_candle(
    live_bot, fake_exchange, settings, monkeypatch, training
):
    # Given a 1h bot with a 5 % stop-loss that bought at 50,000 (the venue's ticker) ...
    settings.ENGINE_STOP_LOSS_PCT = "0.05"
    Bot.objects.filter(pk=live_bot.pk).update(timeframe="1h", in_training=training)
    t0 = _hour_start_now()
    make_due(live_bot, t0)
    tick.tick_batch(now=t0)
    buy = Order.objects.get(bot=live_bot)
    assert (buy.side, buy.status, buy.is_paper) == ("buy", "filled", training)
    assert Trade.objects.get(order=buy).price == Decimal("50000")
    # ... when the venue falls 20 % half an hour later, inside the same 1h candle,
    fake_exchange.ledger.prices["BTC/USDT"] = Decimal("40000.00")
    t1 = t0 + timedelta(minutes=30)
    make_due(live_bot, t1)
    tick.tick_batch(now=t1)
    # then the next tick sells the whole position on the stop-loss, judged (and, on paper, filled) at 40,000.
    sell = Order.objects.filter(bot=live_bot).exclude(pk=buy.pk).get()
    assert (sell.side, sell.reason, sell.quantity, sell.status) == ("sell", "stop_loss", buy.quantity, "filled")
    live_bot.refresh_from_db()
    assert live_bot.last_price == Decimal("40000")
    assert posted_orders(fake_exchange) == (0 if training else 2)
    if training:
        assert Trade.objects.get(order=sell).price == Decimal("40000")


def test_the_price_is_fetched_once_per_venue_and_symbol_for_its_max_age(owner, fake_exchange, settings):
    settings.ENGINE_PRICE_MAX_AGE_SECONDS = 5
    bots = [running_bot(owner=owner, exchange="binance", symbol="BTC/USDT", timeframe=tf) for tf in ("1m", "1h", "1m")]
    t0 = timezone.now()
    for bot in bots:
        make_due(bot, t0)
    tick.tick_batch(now=t0)
    assert _ticker_requests(fake_exchange) == 1
    for bot in bots:  # a batch 4 s later still judges on the same ticker
        make_due(bot, t0 + timedelta(seconds=4))
    tick.tick_batch(now=t0 + timedelta(seconds=4))
    assert _ticker_requests(fake_exchange) == 1
    for bot in bots:  # ... and one older than the max age is fetched again, once
        make_due(bot, t0 + timedelta(seconds=6))
    tick.tick_batch(now=t0 + timedelta(seconds=6))
    assert _ticker_requests(fake_exchange) == 2
    assert set(Bot.objects.filter(pk__in=[b.pk for b in bots]).values_list("last_price", flat=True)) == {
        Decimal("50000")
    }


def test_a_worker_waits_for_the_ticker_another_worker_is_fetching_instead_of_asking_again(fake_exchange):
    now = int(timezone.now().timestamp())
    lock = market._price_key("binance", "BTC/USDT") + ":lock"
    assert cache.add(lock, 1, timeout=30)  # another worker is fetching the ticker
    answer: dict = {}
    waiter = threading.Thread(target=lambda: answer.update(p=market.fresh_price("binance", "BTC/USDT", now=now)))
    waiter.start()
    market._remember_price("binance", "BTC/USDT", now, 49990.0)  # ... and its price lands
    cache.delete(lock)
    waiter.join(timeout=10)
    assert answer == {"p": 49990.0}
    assert _ticker_requests(fake_exchange) == 0


def test_without_a_fresh_price_a_real_venue_bot_does_not_trade(live_bot, fake_exchange, settings):
    market.fetch_venue_candles("binance", "BTC/USDT", "1m")  # candles are there, the ticker is not
    fake_exchange.delay = 1.0
    settings.VENUE_TIMEOUT_SECONDS = 0.3
    from credentials import providers

    providers.reset_clients()
    report = tick.tick_batch()
    live_bot.refresh_from_db()
    assert report.errors == 1 and posted_orders(fake_exchange) == 0
    assert Order.objects.filter(bot=live_bot).count() == 0
    assert live_bot.last_error == "TickError: no market data for BTC/USDT on binance"


# ---------------------------------------------------------------------------
# 10. Replay uses only what was known at t
# ---------------------------------------------------------------------------
def _recorded_candle_containing(symbol: str, ts: int) -> market.Candle:
    rows = market.load_recorded(next(market.REPLAY_DIR.glob(symbol.replace("/", "_") + "-*")))
    step = rows[1].time - rows[0].time
    span = rows[-1].time - rows[0].time + step
    offset = (ts - rows[0].time) % span
    start = rows[0].time + offset - offset % step
    return next(r for r in rows if r.time == start)


def test_a_replay_bot_fills_at_the_price_known_at_t_never_the_close_of_the_candle_containing_t(owner):
    # Given a 5m replay bot ticking 2.5 minutes into a recorded candle whose open and close differ ...
    at = T0 + timedelta(seconds=150)
    recorded = _recorded_candle_containing("ETH/BTC", int(at.timestamp()))
    assert recorded.open != recorded.close
    bot = dca_bot(owner=owner, exchange="replay", symbol="ETH/BTC", timeframe="5m", capital=Decimal("0.05"))
    make_due(bot, at)
    # when it buys,
    tick.tick_batch(now=at)
    # then it fills at the candle's open (known at t), not its close (known 2.5 minutes later).
    trade = Trade.objects.get(bot=bot)
    assert trade.price == Decimal(str(recorded.open))
    bot.refresh_from_db()
    assert bot.last_price == Decimal(str(recorded.open))


def test_the_forming_candle_shows_what_was_known_then_and_closed_ones_stay_whole():
    at = T0 + timedelta(seconds=150)
    recorded = _recorded_candle_containing("ETH/BTC", int(at.timestamp()))
    before = _recorded_candle_containing("ETH/BTC", int(at.timestamp()) - 300)
    *_, closed, forming = market.candles("replay", "ETH/BTC", "5m", limit=3, end=at)
    assert (closed.open, closed.high, closed.low, closed.close) == (before.open, before.high, before.low, before.close)
    price = recorded.open
    assert (forming.time, forming.open, forming.high, forming.low, forming.close, forming.volume) == (
        int(T0.timestamp()),
        price,
        price,
        price,
        price,
        0.0,
    )
    # A 15m candle ten minutes in: its two closed 5m candles and the price now.
    fifteen = market.candles("replay", "ETH/BTC", "15m", limit=1, end=T0 + timedelta(minutes=10, seconds=30))[-1]
    first = _recorded_candle_containing("ETH/BTC", int(T0.timestamp()))
    second = _recorded_candle_containing("ETH/BTC", int(T0.timestamp()) + 300)
    third = _recorded_candle_containing("ETH/BTC", int(T0.timestamp()) + 600)
    assert (fifteen.open, fifteen.close, fifteen.volume) == (first.open, third.open, first.volume + second.volume)
    assert fifteen.high == max(first.high, second.high, third.open)
    # Simulated: the forming hour closes at the price now.
    hour = market.candles("simulated", "BTC/USDT", "1h", limit=1, end=T0 + timedelta(minutes=30))[-1]
    assert hour.close == market.price_at("simulated", "BTC/USDT", int((T0 + timedelta(minutes=30)).timestamp()))


def test_a_replay_bot_finer_than_its_recording_gets_no_candles_and_places_no_order(owner):
    # A bot created before the API refused it: 1m candles cannot be made from a 5m recording.
    bot = dca_bot(owner=owner, exchange="replay", symbol="ETH/BTC", timeframe="1m", capital=Decimal("0.05"))
    report = tick.tick_batch(now=T0)
    bot.refresh_from_db()
    assert (report.errors, report.orders) == (1, 0)
    assert bot.last_error == (
        "MarketDataError: timeframe 1m is finer than the replay recording of ETH/BTC (5m candles); "
        "use 5m or a multiple of it"
    )
    assert market.candles("replay", "ETH/BTC", "1m", end=T0) == []
    assert Order.objects.filter(bot=bot).count() == 0


def test_creating_a_1m_replay_bot_on_a_5m_recording_is_refused_naming_the_timeframe(owner_client):
    body = {"name": "r", "exchange": "replay", "symbol": "ETH/BTC", "timeframe": "1m", "capital": "1"}
    response = owner_client.post("/api/bots", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["details"] == {
        "timeframe": [
            "timeframe 1m is finer than the replay recording of ETH/BTC (5m candles); use 5m or a multiple of it"
        ]
    }
    assert not Bot.objects.exists()
    # Without a timeframe, a replay bot runs on its recording's.
    del body["timeframe"]
    response = owner_client.post("/api/bots", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["bot"]["timeframe"] == "5m"


def test_patching_a_replay_bot_to_a_finer_timeframe_is_refused(owner_client, owner):
    bot = running_bot(owner=owner, exchange="replay", symbol="ETH/BTC", timeframe="5m", status="stopped")
    response = owner_client.patch(f"/api/bots/{bot.pk}", {"timeframe": "3m"}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["details"]) == ["timeframe"]
    bot.refresh_from_db()
    assert bot.timeframe == "5m"
    assert owner_client.patch(f"/api/bots/{bot.pk}", {"timeframe": "15m"}, format="json").status_code == 200


# ---------------------------------------------------------------------------
# 14. Venue limits: minimum notional and precision modes
# ---------------------------------------------------------------------------
def test_a_live_order_under_the_venue_minimum_notional_is_refused_before_it_is_sent(live_bot, fake_exchange):
    # The fake venue (like Binance) refuses orders under 5 USDT; a 10 % DCA buy of 40 USDT is 4.
    Bot.objects.filter(pk=live_bot.pk).update(capital=Decimal("40"), cash_balance=Decimal("40"))
    report = tick.tick_batch()
    assert report.refused[live_bot.pk] == "below the venue's minimum notional 5"
    assert posted_orders(fake_exchange) == 0 and fake_exchange.orders == {}
    assert Order.objects.filter(bot=live_bot).count() == 0
    assert market.market_rules("binance", "BTC/USDT") == market.MarketRules(
        amount_step=Decimal("0.00001"), min_amount=Decimal("0.00001"), min_notional=Decimal("5")
    )


def test_a_training_bay_bot_obeys_the_live_venue_limits_on_paper(live_bot, fake_exchange):
    Bot.objects.filter(pk=live_bot.pk).update(in_training=True, capital=Decimal("40"), cash_balance=Decimal("40"))
    report = tick.tick_batch()
    assert report.refused[live_bot.pk] == "below the venue's minimum notional 5"
    assert Order.objects.filter(bot=live_bot).count() == 0


def _bitfinex_market(symbol="BTC/USD") -> dict:
    """A market as ccxt's bitfinex parses it: amounts to 8 decimals, prices to 5 significant digits."""
    base, quote = symbol.split("/")
    return {
        "id": f"t{base}{quote}",
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "baseId": base,
        "quoteId": quote,
        "type": "spot",
        "spot": True,
        "active": True,
        "precision": {"amount": 8, "price": 5},
        "limits": {"amount": {"min": 0.00004, "max": 2000.0}, "cost": {"min": None}, "price": {}},
    }


def _client_with_markets(exchange_id: str, *markets: dict):
    client = ccxt_exchange.provider(exchange_id).client(None)
    client._exchange.set_markets(list(markets))  # loaded: fetch_markets makes no request
    return client


def test_a_digit_count_precision_is_a_step_of_that_many_decimals_never_a_multiple_of_it():
    client = _client_with_markets("bitfinex", _bitfinex_market())
    (btc,) = client.fetch_markets()
    assert (btc.amount_step, btc.price_step, btc.min_amount) == (Decimal("1e-8"), None, Decimal("0.00004"))
    market.load_market_rules("bitfinex", client)
    rules = market.market_rules("bitfinex", "BTC/USD")
    sized = risk.size_buy(
        risk.effective_rules(position_size_pct=Decimal("1"), override_rules={}),
        quote=Decimal("0.123456789"),
        price=Decimal("1"),
        cash=Decimal("1000"),
        capital=Decimal("1000"),
        position_cost=Decimal("0"),
        open_positions=0,
        opens_new_position=True,
        fee_pct=Decimal("0"),
        market=rules,
    )
    # Floored to 8 decimals (a market buy never rounds up past its budget), as ccxt truncates for Bitfinex.
    assert sized == risk.Sized(quantity=Decimal("0.12345678"))
    assert client._exchange.amount_to_precision("BTC/USD", 0.123456789) == "0.12345678"


@pytest.mark.usefixtures("fake_bitfinex")
def test_a_bot_on_a_digit_count_precision_venue_buys_to_eight_decimals(owner):
    # Bitfinex (through ccxt): precisionMode SIGNIFICANT_DIGITS, amount precision 8 = eight decimals.
    bot = dca_bot(owner=owner, exchange="bitfinex", symbol="BTC/USD", in_training=True, trading_mode="live")
    tick.tick_batch(now=timezone.now())
    order = Order.objects.get(bot=bot)
    trade = Trade.objects.get(order=order)
    # 100 USD at 30,000 is 0.00333333333…: floored to 8 decimals, not to a multiple of 8 (0), nor left at 12.
    assert (order.quantity, trade.quantity, trade.price) == (Decimal("0.00333333"), Decimal("0.00333333"), 30000)
    assert market.market_rules("bitfinex", "BTC/USD").amount_step == Decimal("1e-8")


def test_precision_modes_convert_to_steps():
    import ccxt

    assert ccxt_exchange._step(8, ccxt.DECIMAL_PLACES) == Decimal("1e-8")
    assert ccxt_exchange._step(0, ccxt.DECIMAL_PLACES) == Decimal("1")
    assert ccxt_exchange._step("0.001", ccxt.TICK_SIZE) == Decimal("0.001")
    assert ccxt_exchange._step(5, ccxt.SIGNIFICANT_DIGITS) is None
    tick_size = dict(_bitfinex_market(), precision={"amount": 0.0001, "price": 0.01})
    tick_size["limits"] = {"amount": {"min": 0.0001}, "cost": {"min": 10.0}}
    (kraken_like,) = _client_with_markets("kraken", tick_size).fetch_markets()
    assert (kraken_like.amount_step, kraken_like.price_step, kraken_like.min_notional) == (
        Decimal("0.0001"),
        Decimal("0.01"),
        Decimal("10.0"),
    )


def test_a_paper_intent_re_executed_after_a_crash_fills_at_its_decision_price_once_the_ticker_moved_on(
    live_bot, fake_exchange, monkeypatch
):
    # Given a training-bay bot on a real venue whose buy intent (judged and sized on the 50,000
    # ticker) was written without its fill (a worker of an earlier release killed between them) ...
    from django.db import transaction

    from bots import services

    Bot.objects.filter(pk=live_bot.pk).update(in_training=True)
    t0 = timezone.now()
    with transaction.atomic():
        intent = services.order_intent_record(
            bot=live_bot,
            client_order_id=f"bf-{live_bot.pk}-0",
            side="buy",
            quantity=Decimal("0.002"),
            is_paper=True,
            reason="dca_buy",
            reference_price=Decimal("50000"),
            created_at=t0,
            state=live_bot.state,
        )
    # ... when another worker re-executes it after the lease expired, the venue's price has
    # moved to 40,000 and the remembered tickers are gone (expired, evicted, a cache restart),
    monkeypatch.setitem(fake_exchange.ledger.prices, "BTC/USDT", Decimal("40000.00"))
    cache.delete(market._price_key("binance", "BTC/USDT"))
    later = t0 + timedelta(seconds=tick.lease_seconds() + 1)
    make_due(live_bot, later)
    report = tick.tick_batch(now=later)
    # then the intent fills exactly as it would have: at 50,000 (no slippage in tests), its quantity unchanged.
    assert (report.reconciled, report.fills) == (1, 1)
    trade = Trade.objects.get(order=intent)
    assert trade.price == Decimal("50000")
    assert (trade.quantity, trade.executed_at) == (intent.quantity, intent.created_at)
    assert posted_orders(fake_exchange) == 0


def _held(bot: Bot, quantity: str, average_cost: str = "50000") -> None:
    from bots.models import Position

    Position.objects.create(
        bot=bot, symbol=bot.symbol, quantity=Decimal(quantity), average_cost=Decimal(average_cost), opened_at=T0
    )


def test_a_live_stop_loss_sends_the_position_floored_to_the_lot_size_and_books_the_dust_left(
    live_bot, fake_exchange, settings, monkeypatch
):
    # Given a live position of 0.0012345 BTC (not a multiple of the venue's 0.00001 lot) bought at 50,000 ...
    settings.ENGINE_STOP_LOSS_PCT = "0.05"
    _held(live_bot, "0.0012345")
    # ... when the venue falls to 40,000,
    monkeypatch.setitem(fake_exchange.ledger.prices, "BTC/USDT", Decimal("40000.00"))
    report = tick.tick_batch()
    # then the stop-loss sells 0.00123, what the venue can take, and the order is settled, not left in flight.
    sell = Order.objects.get(bot=live_bot)
    assert (sell.side, sell.reason, sell.quantity, sell.status) == ("sell", "stop_loss", Decimal("0.00123"), "filled")
    assert fake_exchange.orders[sell.client_order_id].amount == Decimal("0.00123")
    assert (report.fills, report.refused) == (1, {})
    assert live_bot.positions.get().quantity == Decimal("0.0000045")


def test_a_live_position_under_the_venue_minimum_notional_is_dust_no_exit_is_sent_and_the_bot_trades_on(
    live_bot, fake_exchange, settings, monkeypatch
):
    # Given a live position of 0.0001 BTC bought at 50,000 (5 USDT, the venue's minimum notional) ...
    settings.ENGINE_STOP_LOSS_PCT = "0.05"
    _held(live_bot, "0.0001")
    # ... when the venue falls to 40,000 (the whole position is worth 4 USDT: no order can sell it),
    monkeypatch.setitem(fake_exchange.ledger.prices, "BTC/USDT", Decimal("40000.00"))
    report = tick.tick_batch()
    # then no stop-loss is sent (the venue would refuse it on every tick): the dust stays in the
    # books and the strategy trades as if flat (the DCA buys its 100 USDT, 0.0025 BTC).
    order = Order.objects.get(bot=live_bot)
    assert (order.side, order.reason, order.quantity, order.status) == ("buy", "dca_buy", Decimal("0.0025"), "filled")
    assert posted_orders(fake_exchange) == 1 and fake_exchange.orders[order.client_order_id].side == "buy"
    assert (report.fills, report.refused) == (1, {})
    assert live_bot.positions.get().quantity == Decimal("0.0026")
