"""Acting on signals: a signal bot trades only on signals, each acted on at once by its task
(eager here, on commit), through the same rules as any order of the bot.

Every test goes through HTTP (``POST signals/{token}``, ``POST signals/import``) and reads
the outcome from the signal's history and the bot's books.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from bots.engine import tick
from bots.models import Bot, FleetHalt, Order, Position
from realtime.models import Event
from signals import services
from signals.models import Signal
from signals.tasks import signal_execute
from tests.bots.factories import BotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _engine(settings):
    settings.ENABLE_TRADING = False
    settings.ENGINE_MAX_DAILY_TRADES = 0
    settings.ENGINE_TRADE_COOLDOWN_SECONDS = 0
    settings.PAPER_FEE_PCT = "0"
    settings.PAPER_SLIPPAGE_PCT = "0"


@pytest.fixture
def send(api_client, django_capture_on_commit_callbacks):
    """POST a signal to a webhook path and run what its commit hands on (the task), as a worker would."""

    def post(url: str, body: dict) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(url, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 202, response.content
        return response.json()["signal"]

    return post


def _history(client, signal_id: int) -> dict:
    rows = client.get("/api/signals/history").json()["signals"]
    return next(row for row in rows if row["id"] == signal_id)


def _position(bot) -> Decimal:
    return Position.objects.filter(bot=bot).values_list("quantity", flat=True).first() or Decimal(0)


def _webhook(client, bot) -> str:
    url = client.get(f"/api/bots/{bot.pk}/webhook").json()["webhook"]["url"]
    return url[url.index("/api/") :]


# ---------------------------------------------------------------------------
# the strategy
# ---------------------------------------------------------------------------
def test_an_api_user_creates_a_signal_bot_which_never_trades_on_its_own(owner_client, send):
    assert "signal" in {s["id"] for s in owner_client.get("/api/strategies").json()["strategies"]}
    created = owner_client.post(
        "/api/bots", {"name": "TV", "symbol": "BTC/USDT", "strategy": "signal", "capital": 1000}, format="json"
    )
    assert created.status_code == 201, created.content
    bot_id = created.json()["bot"]["id"]
    assert owner_client.post(f"/api/bots/{bot_id}/start").status_code == 200

    for _ in range(3):
        report = tick.tick_bot(bot_id)
        assert (report.claimed, report.orders, report.errors) == (1, 0, 0)
        Bot.objects.filter(pk=bot_id).update(claimed_until=None)
    assert not Order.objects.filter(bot_id=bot_id).exists()

    signal = send(_webhook(owner_client, Bot.objects.get(pk=bot_id)), {"action": "buy", "quote_amount": 100})
    row = _history(owner_client, signal["id"])
    assert row["status"] == "executed" and row["order"]["status"] == "filled"
    assert Order.objects.filter(bot_id=bot_id).count() == 1


def test_a_signal_strategy_has_nothing_to_backtest(owner_client):
    response = owner_client.post(
        "/api/backtests",
        {
            "strategy": "signal",
            "exchange": "simulated",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "capital": 1000,
            "start": "2024-01-01T00:00:00Z",
            "end": "2024-01-02T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "NOT_BACKTESTABLE"


# ---------------------------------------------------------------------------
# sizing
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "spent"),
    [
        ({"action": "buy", "quote_amount": "250"}, Decimal(250)),
        ({"action": "buy", "percent": 10}, Decimal(100)),  # of capital (1000)
        ({"action": "buy"}, Decimal(1000)),  # the bot's own entry size: position_size_pct (1) of capital
    ],
)
def test_a_buy_spends_what_the_signal_says(owner_client, signal_bot, webhook_url, send, body, spent):
    signal = send(webhook_url, body)

    row = _history(owner_client, signal["id"])
    assert row["status"] == "executed", row
    order = Order.objects.get(pk=row["order_id"])
    assert (order.side, order.status, order.reason, order.client_order_id) == (
        "buy",
        "filled",
        "signal",
        f"bf-{signal_bot.pk}-s{signal['id']}",
    )
    cost = order.filled_quantity * order.average_price
    assert spent * Decimal("0.99") <= cost <= spent  # lot-size rounding only, never more than asked


def test_a_buy_by_quantity_buys_that_quantity(owner_client, signal_bot, webhook_url, send):
    tick.tick_bot(signal_bot.pk)  # the bot's price is known from its tick
    signal = send(webhook_url, {"action": "buy", "quantity": "0.001"})
    order = Order.objects.get(pk=_history(owner_client, signal["id"])["order_id"])
    assert Decimal("0.00099") <= order.filled_quantity <= Decimal("0.001")


def test_sell_percent_then_close_sell_the_position_and_nothing_more(owner_client, signal_bot, webhook_url, send):
    send(webhook_url, {"action": "buy", "quote_amount": 400})
    held = _position(signal_bot)
    assert held > 0

    half = send(webhook_url, {"action": "sell", "percent": 50})
    sold = Order.objects.get(pk=_history(owner_client, half["id"])["order_id"]).filled_quantity
    assert held / 2 - Decimal("0.000001") <= sold <= held / 2  # the venue's lot size rounds down
    assert _position(signal_bot) == held - sold

    closed = send(webhook_url, {"action": "close"})
    row = _history(owner_client, closed["id"])
    assert row["status"] == "executed" and row["order"]["side"] == "sell"
    assert _position(signal_bot) == 0

    again = send(webhook_url, {"action": "close"})
    row = _history(owner_client, again["id"])
    assert (row["status"], row["reason"], row["order"]) == ("failed", "no_position", None)
    assert Order.objects.filter(bot=signal_bot).count() == 3


def test_a_sell_when_flat_fails_with_the_reason_and_places_nothing(owner_client, webhook_url, send):
    signal = send(webhook_url, {"action": "sell"})
    row = _history(owner_client, signal["id"])
    assert (row["status"], row["reason"]) == ("failed", "no_position")
    assert not Order.objects.exists()
    assert Event.objects.get(type="signal_failed").payload["signal"]["reason"] == "no_position"


# ---------------------------------------------------------------------------
# the bot's rules
# ---------------------------------------------------------------------------
def test_a_signal_bot_in_the_training_bay_trades_on_paper(owner, owner_client, fake_exchange, settings, send):
    settings.ENABLE_TRADING = True
    bot = BotFactory(
        owner=owner,
        strategy="signal",
        params={},
        status=Bot.Status.RUNNING,
        exchange="binance",
        trading_mode=Bot.Mode.LIVE,
        in_training=True,
    )
    signal = send(_webhook(owner_client, bot), {"action": "buy", "quote_amount": 100})

    row = _history(owner_client, signal["id"])
    assert row["status"] == "executed" and row["order"]["is_paper"] is True
    assert not [path for method, path in fake_exchange.requests if method == "POST"]


def test_live_orders_wait_for_the_trading_flag(owner, owner_client, live_bot, settings, send):
    Bot.objects.filter(pk=live_bot.pk).update(strategy="signal", params={})
    settings.ENABLE_TRADING = False

    signal = send(_webhook(owner_client, live_bot), {"action": "buy", "quote_amount": 100})

    row = _history(owner_client, signal["id"])
    assert (row["status"], row["reason"]) == ("failed", "order_refused")
    assert "ENABLE_TRADING" in row["message"]
    assert not Order.objects.filter(bot=live_bot).exists()


def test_the_limiter_holds_a_signal_back_as_it_holds_the_bots_own_orders(owner_client, signal_bot, webhook_url, send):
    Bot.objects.filter(pk=signal_bot.pk).update(override_rules={"max_daily_trades": 1})
    first = send(webhook_url, {"action": "buy", "quote_amount": 100})
    second = send(webhook_url, {"action": "buy", "quote_amount": 100})

    assert _history(owner_client, first["id"])["status"] == "executed"
    row = _history(owner_client, second["id"])
    assert (row["status"], row["reason"]) == ("failed", "order_refused")
    assert row["message"]  # the limiter's own sentence
    assert Order.objects.filter(bot=signal_bot).count() == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": Bot.Status.STOPPED}, "bot_not_running"),
        ({"status": Bot.Status.PAUSED, "force_paused": True}, "bot_locked"),
        ({"trading_mode": Bot.Mode.LIVE, "halted": True}, "fleet_halted"),
    ],
)
def test_what_happens_between_receipt_and_action_is_honoured(
    api_client, owner_client, signal_bot, webhook_url, django_capture_on_commit_callbacks, change, reason
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_client.post(webhook_url, data=json.dumps({"action": "buy"}), content_type="application/json")
    assert response.json()["signal"]["status"] == "accepted"
    if change.pop("halted", False):
        FleetHalt.objects.update_or_create(pk=FleetHalt.SINGLETON_ID, defaults={"halted": True})
    Bot.objects.filter(pk=signal_bot.pk).update(**change)
    for callback in callbacks:
        callback()

    row = _history(owner_client, response.json()["signal"]["id"])
    assert (row["status"], row["reason"], row["order"]) == ("rejected", reason, None)
    assert not Order.objects.exists()


def test_a_staff_stop_loss_still_wins_over_a_signal(owner_client, signal_bot, webhook_url, send):
    """Staff overrides apply: a buy signal while the position is past the staff stop-loss is refused; the exit sells."""
    send(webhook_url, {"action": "buy", "quote_amount": 500})
    position = Position.objects.get(bot=signal_bot)
    Position.objects.filter(pk=position.pk).update(average_cost=position.average_cost * 2)
    Bot.objects.filter(pk=signal_bot.pk).update(override_rules={"stop_loss_pct": "0.05"})

    signal = send(webhook_url, {"action": "buy", "quote_amount": 100})

    row = _history(owner_client, signal["id"])
    assert (row["status"], row["reason"], row["order"]) == ("failed", "order_refused", None)
    assert "stop-loss" in row["message"]
    exit_order = Order.objects.filter(bot=signal_bot).latest("pk")
    assert (exit_order.side, exit_order.reason) == ("sell", "stop_loss")
    assert _position(signal_bot) == 0


# ---------------------------------------------------------------------------
# once, and only for its own bot
# ---------------------------------------------------------------------------
def test_a_signal_is_acted_on_once_however_often_its_task_runs(owner_client, webhook_url, send, signal_bot):
    signal = send(webhook_url, {"action": "buy", "quote_amount": 100})
    for _ in range(2):
        signal_execute.delay(signal["id"])

    assert _history(owner_client, signal["id"])["status"] == "executed"
    assert Order.objects.filter(bot=signal_bot).count() == 1


def test_a_task_cut_off_after_placing_its_order_settles_with_that_order(owner_client, webhook_url, send, signal_bot):
    signal = send(webhook_url, {"action": "buy", "quote_amount": 100})
    order = Order.objects.get(bot=signal_bot)
    # As if the worker died after placing the order, before recording it (acks_late redelivers the task):
    Signal.objects.filter(pk=signal["id"]).update(status="accepted", reason="executing", order=None)

    signal_execute.delay(signal["id"])

    row = _history(owner_client, signal["id"])
    assert (row["status"], row["order_id"]) == ("executed", order.pk)
    assert Order.objects.filter(bot=signal_bot).count() == 1


def test_a_task_cut_off_before_its_order_acts_again(
    api_client, owner_client, webhook_url, signal_bot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(webhook_url, data=json.dumps({"action": "buy"}), content_type="application/json")
    signal_id = response.json()["signal"]["id"]
    Signal.objects.filter(pk=signal_id).update(reason="executing")

    signal_execute.delay(signal_id)

    assert _history(owner_client, signal_id)["status"] == "executed"
    assert Order.objects.filter(bot=signal_bot).count() == 1


def test_a_bot_busy_with_a_tick_is_tried_again_then_refused(
    api_client, owner_client, webhook_url, signal_bot, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(webhook_url, data=json.dumps({"action": "buy"}), content_type="application/json")
    signal_id = response.json()["signal"]["id"]
    real = tick.claim
    monkeypatch.setattr(services, "BUSY_WAIT", 0.1)
    monkeypatch.setattr(tick, "claim", lambda **kwargs: ([], None))  # a long tick batch holds the bot

    with pytest.raises(services.BotBusy):  # the task retries on this
        services.signal_execute(signal_id=signal_id, last_attempt=False)
    row = _history(owner_client, signal_id)
    assert (row["status"], row["reason"]) == ("accepted", None)  # handed back, not executing

    monkeypatch.setattr(tick, "claim", real)
    services.signal_execute(signal_id=signal_id, last_attempt=False)
    assert _history(owner_client, signal_id)["status"] == "executed"

    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(webhook_url, data=json.dumps({"action": "buy"}), content_type="application/json")
    monkeypatch.setattr(tick, "claim", lambda **kwargs: ([], None))
    services.signal_execute(signal_id=response.json()["signal"]["id"], last_attempt=True)
    row = _history(owner_client, response.json()["signal"]["id"])
    assert (row["status"], row["reason"]) == ("failed", "order_refused") and "busy" in row["message"]


def test_a_signal_moves_only_its_own_bot(owner, other_user, owner_client, signal_bot, webhook_url, send):
    mine = BotFactory(owner=owner, strategy="signal", params={}, status=Bot.Status.RUNNING)
    theirs = BotFactory(owner=other_user, strategy="signal", params={}, status=Bot.Status.RUNNING)

    send(webhook_url, {"action": "buy", "quote_amount": 100})

    assert set(Order.objects.values_list("bot_id", flat=True)) == {signal_bot.pk}
    for bot in (mine, theirs):
        bot.refresh_from_db()
        assert bot.cash_balance == bot.capital


def test_an_imported_signal_buys_and_keeps_its_levels(owner, owner_client, django_capture_on_commit_callbacks):
    bot = BotFactory(owner=owner, strategy="signal", params={}, status=Bot.Status.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/api/signals/import", {"bot_id": bot.pk, "text": "BUY BTCUSDT now TP 1000000 SL 1"}, format="json"
        )
    assert response.status_code == 202, response.content
    row = _history(owner_client, response.json()["signal"]["id"])
    assert row["status"] == "executed" and row["order"]["side"] == "buy"
    assert row["payload"]["parsed"]["take_profit"] == ["1000000"] and row["payload"]["parsed"]["stop_loss"] == "1"


def test_a_losing_signal_trade_counts_for_the_bodyguard(owner_client, signal_bot, webhook_url, send, settings):
    settings.DISABLE_AI_BODYGUARD = False
    settings.BODYGUARD_LOSS_STREAK = 1
    send(webhook_url, {"action": "buy", "quote_amount": 500})
    position = Position.objects.get(bot=signal_bot)
    Position.objects.filter(pk=position.pk).update(average_cost=position.average_cost * Decimal("1.01"))

    send(webhook_url, {"action": "close"})  # sold 1 % under cost: a losing trade

    signal_bot.refresh_from_db()
    assert signal_bot.status == Bot.Status.PAUSED and "losing trades" in signal_bot.paused_reason
    refused = send(webhook_url, {"action": "buy", "quote_amount": 100})
    assert (refused["status"], refused["reason"]) == ("rejected", "bot_not_running")


# ---------------------------------------------------------------------------
# limit orders and imported levels
# ---------------------------------------------------------------------------
def test_a_signal_with_a_price_is_a_limit_order_that_rests(owner_client, signal_bot, webhook_url, send):
    signal = send(webhook_url, {"action": "buy", "quote_amount": 100, "price": "1"})  # far under the market

    row = _history(owner_client, signal["id"])
    assert row["status"] == "executed"
    assert (row["order"]["type"], row["order"]["status"], row["order"]["price"]) == ("limit", "open", 1)
    assert _position(signal_bot) == 0


def test_a_marketable_limit_signal_fills_at_once(owner_client, signal_bot, webhook_url, send):
    signal = send(webhook_url, {"action": "buy", "quote_amount": 100, "price": "100000000"})

    order = _history(owner_client, signal["id"])["order"]
    assert (order["type"], order["status"]) == ("limit", "filled")
    assert _position(signal_bot) > 0


def test_an_imported_buy_makes_its_levels_the_bots_exits(owner, owner_client, django_capture_on_commit_callbacks):
    bot = BotFactory(owner=owner, strategy="signal", params={}, status=Bot.Status.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/api/signals/import", {"bot_id": bot.pk, "text": "BUY BTCUSDT TP 1000000 / 2000000 SL 1"}, format="json"
        )
    assert response.status_code == 202, response.content
    row = _history(owner_client, response.json()["signal"]["id"])
    assert row["status"] == "executed" and row["order"]["side"] == "buy"

    bot.refresh_from_db()
    cost = Position.objects.get(bot=bot).average_cost
    quantum = Decimal("0.000001")
    assert bot.stop_loss_pct == ((cost - 1) / cost).quantize(quantum)
    assert bot.take_profit_pct == min(((1000000 - cost) / cost).quantize(quantum), Decimal(100))  # the nearest TP
    assert row["payload"]["exits"] == {
        "stop_loss_pct": format(bot.stop_loss_pct.normalize(), "f"),
        "take_profit_pct": format(bot.take_profit_pct.normalize(), "f"),
    }
    assert "exits are now" in row["message"]
    shown = owner_client.get(f"/api/bots/{bot.pk}").json()["bot"]
    assert shown["stop_loss_pct"] == float(bot.stop_loss_pct)


BUY_HALF_CLOSE = ({"action": "buy", "quote_amount": 100}, {"action": "sell", "percent": 50}, {"action": "close"})


def _received(api_client, webhook_url, django_capture_on_commit_callbacks, *bodies) -> list[int]:
    """Signals recorded ``accepted`` whose tasks have not run (queued, or on another worker)."""
    ids = []
    for body in bodies:
        with django_capture_on_commit_callbacks(execute=False):
            response = api_client.post(webhook_url, data=json.dumps(body), content_type="application/json")
        assert response.json()["signal"]["status"] == "accepted", response.content
        ids.append(response.json()["signal"]["id"])
    return ids


def _orders(bot) -> list[tuple[str, str]]:
    """The bot's orders in the order placed: (side, the signal it acted on)."""
    orders = Order.objects.filter(bot=bot).order_by("pk")
    return [(order.side, order.client_order_id.rsplit("-s", 1)[1]) for order in orders]


def test_any_signals_task_acts_on_its_bots_signals_in_the_order_received(
    api_client, owner_client, webhook_url, signal_bot, django_capture_on_commit_callbacks
):
    # Given a buy, a half sell and a close received, none acted on yet
    buy, half, close = _received(api_client, webhook_url, django_capture_on_commit_callbacks, *BUY_HALF_CLOSE)

    # When the close's task runs first (another worker took the buy's)
    services.signal_execute(signal_id=close, last_attempt=False)

    # Then all three were acted on, in the order received: the close saw the buy's position
    assert [_history(owner_client, pk)["status"] for pk in (buy, half, close)] == ["executed"] * 3
    assert _orders(signal_bot) == [("buy", str(buy)), ("sell", str(half)), ("sell", str(close))]
    assert _position(signal_bot) == 0
    # And the other tasks, when they run, find nothing left to do
    for pk in (buy, half):
        signal_execute.delay(pk)
    assert Order.objects.filter(bot=signal_bot).count() == 3


def test_a_task_that_finds_its_bot_drained_elsewhere_leaves_its_signal_to_that_drain(
    api_client, owner_client, webhook_url, signal_bot, django_capture_on_commit_callbacks
):
    # Given another worker draining the bot (its lock is taken)
    cache.add(f"signals:drain:{signal_bot.pk}", "another worker", timeout=60)

    # When a signal's task runs
    (signal_id,) = _received(api_client, webhook_url, django_capture_on_commit_callbacks, {"action": "buy"})
    signal_execute.delay(signal_id)

    # Then it leaves the signal to that drain
    assert _history(owner_client, signal_id)["status"] == "accepted"
    assert not Order.objects.exists()


def test_a_signal_received_while_its_bot_is_drained_is_left_to_that_drain(
    api_client, owner_client, webhook_url, signal_bot, django_capture_on_commit_callbacks, monkeypatch
):
    cache.add(f"signals:drain:{signal_bot.pk}", "another worker", timeout=60)
    sent = []
    monkeypatch.setattr(signal_execute, "delay", sent.append)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(webhook_url, data=json.dumps({"action": "buy"}), content_type="application/json")

    assert response.json()["signal"]["status"] == "accepted"
    assert sent == []  # no task: the drain looks again after releasing its lock
    cache.delete(f"signals:drain:{signal_bot.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(webhook_url, data=json.dumps({"action": "buy"}), content_type="application/json")
    assert sent == [response.json()["signal"]["id"]]


def test_a_signal_committed_while_a_drain_releases_its_lock_is_acted_on(
    api_client, owner_client, webhook_url, signal_bot, django_capture_on_commit_callbacks, monkeypatch
):
    (first,) = _received(api_client, webhook_url, django_capture_on_commit_callbacks, {"action": "buy"})
    late = []
    release = services._lock_release

    def release_after_a_late_signal(key, token):
        if not late:
            # The drain found nothing left; before it releases its lock, a signal commits: its
            # receipt finds the bot being drained and leaves the signal to this drain.
            with django_capture_on_commit_callbacks(execute=True):
                body = json.dumps({"action": "close"})
                response = api_client.post(webhook_url, data=body, content_type="application/json")
            late.append(response.json()["signal"]["id"])
            assert _history(owner_client, late[0])["status"] == "accepted"
        release(key, token)

    monkeypatch.setattr(services, "_lock_release", release_after_a_late_signal)
    services.signal_execute(signal_id=first)

    # The drain looked again after releasing its lock, and acted on the late signal too
    assert [_history(owner_client, pk)["status"] for pk in (first, late[0])] == ["executed", "executed"]
    assert _orders(signal_bot) == [("buy", str(first)), ("sell", str(late[0]))]
    assert cache.get(f"signals:drain:{signal_bot.pk}") is None


def test_the_sweep_acts_on_what_a_killed_worker_left_and_leaves_a_live_drain_alone(
    api_client, owner, owner_client, webhook_url, signal_bot, django_capture_on_commit_callbacks
):
    from config.schedule import beat_schedule
    from signals.tasks import signals_sweep_task

    # Given a signal whose task was lost with its worker, and another bot's, being drained, both old
    (lost,) = _received(api_client, webhook_url, django_capture_on_commit_callbacks, {"action": "buy"})
    drained = BotFactory(owner=owner, strategy="signal", params={}, status=Bot.Status.RUNNING)
    drained_url = _webhook(owner_client, drained)
    (waiting,) = _received(api_client, drained_url, django_capture_on_commit_callbacks, {"action": "buy"})
    Signal.objects.update(received_at=timezone.now() - timedelta(seconds=services.DRAIN_LOCK_SECONDS + 1))
    cache.add(f"signals:drain:{drained.pk}", "a live drain", timeout=60)

    # When beat's sweep runs
    assert beat_schedule()["signals-sweep"]["task"] == "signals.tasks.signals_sweep_task"
    with django_capture_on_commit_callbacks(execute=True):
        swept = signals_sweep_task.delay().get()

    # Then the lost one is acted on; the drained bot's is left to its drain
    assert swept == 2
    assert _history(owner_client, lost)["status"] == "executed"
    assert _history(owner_client, waiting)["status"] == "accepted"


def test_a_long_drain_hands_the_rest_over_to_a_new_task(
    api_client, owner_client, webhook_url, signal_bot, django_capture_on_commit_callbacks, monkeypatch
):
    ids = _received(api_client, webhook_url, django_capture_on_commit_callbacks, *BUY_HALF_CLOSE)
    monkeypatch.setattr(services, "DRAIN_SECONDS", 0)  # each drain acts on one signal, then hands over
    handed = []
    real_delay = signal_execute.delay
    monkeypatch.setattr(signal_execute, "delay", lambda pk: handed.append(pk) or real_delay(pk))

    with django_capture_on_commit_callbacks(execute=True):  # the handed-over tasks run (eager)
        services.signal_execute(signal_id=ids[0])

    assert handed == ids[1:]  # one new task per signal left, each for the next in line
    assert [_history(owner_client, pk)["status"] for pk in ids] == ["executed"] * 3
    assert _orders(signal_bot) == [("buy", str(ids[0])), ("sell", str(ids[1])), ("sell", str(ids[2]))]
    assert _position(signal_bot) == 0


def test_a_drain_goes_on_without_its_lock_when_the_cache_is_down(
    api_client, owner_client, webhook_url, signal_bot, django_capture_on_commit_callbacks, monkeypatch
):
    import redis.exceptions

    (signal_id,) = _received(api_client, webhook_url, django_capture_on_commit_callbacks, {"action": "buy"})

    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("down")

    monkeypatch.setattr(services.cache, "add", down)
    signal_execute.delay(signal_id)

    assert _history(owner_client, signal_id)["status"] == "executed"
