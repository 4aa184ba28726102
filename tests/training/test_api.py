"""GET training/live-bay and POST training/{bot_id}/promote (API.md "training"), on a controlled clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from accounts.models import AuditEntry
from bots.models import Bot, FleetHalt, Order, Position, Trade
from credentials import services as credential_services
from realtime.models import Event
from tests.bots.factories import BotFactory, fill
from tests.fakes.exchange import BINANCE_KEY, BINANCE_SECRET
from training.serializers import LiveBaySerializer, QuarantineBotSerializer

pytestmark = pytest.mark.django_db

BAY = "/api/training/live-bay"


def promote_path(bot) -> str:
    return f"/api/training/{bot.pk}/promote"


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    return body["error"]


def _snapshot(bot: Bot) -> tuple:
    bot.refresh_from_db()
    return (bot.in_training, bot.training_started_at, bot.promoted_at, bot.status, bot.trading_mode)


# ---------------------------------------------------------------------------
# live-bay
# ---------------------------------------------------------------------------
def test_live_bay_lists_the_callers_quarantined_bots_with_countdowns(
    owner_client, owner, other_user, clock, make_bay_bot
):
    now = clock.now
    ready = make_bay_bot(owner, name="Ready", started_at=now - timedelta(hours=30))
    at_limit = make_bay_bot(owner, name="AtLimit", exchange="replay", started_at=now - timedelta(hours=24))
    waiting = make_bay_bot(owner, name="Waiting", started_at=now - timedelta(hours=2, minutes=30))
    # Not in the bay: paper, promoted, deleted, another user's.
    BotFactory(owner=owner, name="Paper")
    BotFactory(owner=owner, name="Promoted", trading_mode="live", promoted_at=now)
    make_bay_bot(owner, name="Deleted", started_at=now, deleted_at=now)
    make_bay_bot(other_user, name="Theirs", started_at=now - timedelta(hours=30))

    response = owner_client.get(BAY)

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "live_mode_active": False,  # ENABLE_TRADING is off by default
        "quarantine_bots": [
            {
                "id": ready.pk,
                "name": "Ready",
                "exchange": "simulated",
                "hours_elapsed": 30.0,
                "hours_remaining": 0.0,
                "seconds_remaining": 0.0,
                "eligible_for_promotion": True,
            },
            {
                "id": at_limit.pk,
                "name": "AtLimit",
                "exchange": "replay",
                "hours_elapsed": 24.0,
                "hours_remaining": 0.0,
                "seconds_remaining": 0.0,
                "eligible_for_promotion": True,
            },
            {
                "id": waiting.pk,
                "name": "Waiting",
                "exchange": "simulated",
                "hours_elapsed": 2.5,
                "hours_remaining": 21.5,
                "seconds_remaining": 21.5 * 3600,
                "eligible_for_promotion": False,
            },
        ],
        "total": 3,
        "ready_for_promotion": 2,
        "min_training_hours": 24.0,
    }


def test_live_bay_gives_the_exact_seconds_a_countdown_ticks_from(owner_client, owner, clock, make_bay_bot):
    # hours_remaining rounds 23 h 59 min 58.5 s up to 24.0; a countdown started from it
    # would run a second and a half slow, then jump whenever the page reloads.
    make_bay_bot(owner, started_at=clock.now - timedelta(seconds=1, microseconds=500_000))
    row = owner_client.get(BAY).json()["quarantine_bots"][0]
    assert (row["hours_remaining"], row["seconds_remaining"]) == (24.0, 24 * 3600 - 1.5)


def test_live_bay_follows_a_changed_setting(owner_client, owner, clock, make_bay_bot):
    make_bay_bot(owner, started_at=clock.now - timedelta(hours=6))
    with override_settings(LIVE_MIN_TRAINING_HOURS=4.5):
        body = owner_client.get(BAY).json()
    assert (body["min_training_hours"], body["ready_for_promotion"]) == (4.5, 1)
    assert body["quarantine_bots"][0]["hours_remaining"] == 0.0
    with override_settings(LIVE_MIN_TRAINING_HOURS=48):
        body = owner_client.get(BAY).json()
    assert (body["min_training_hours"], body["ready_for_promotion"]) == (48.0, 0)
    assert body["quarantine_bots"][0]["hours_remaining"] == 42.0


def test_live_mode_active_needs_trading_on_and_no_fleet_halt(owner_client, owner, clock, make_bay_bot):
    make_bay_bot(owner, started_at=clock.now)
    assert owner_client.get(BAY).json()["live_mode_active"] is False
    with override_settings(ENABLE_TRADING=True):
        assert owner_client.get(BAY).json()["live_mode_active"] is True
        FleetHalt.objects.update_or_create(pk=1, defaults={"halted": True, "reason": "drill"})
        assert owner_client.get(BAY).json()["live_mode_active"] is False
        Bot.objects.all().delete()  # an empty bay still reports the switch
        body = owner_client.get(BAY).json()
        assert (body["live_mode_active"], body["total"], body["quarantine_bots"]) == (False, 0, [])


def test_live_bay_shape_matches_its_schema(owner_client, owner, clock, make_bay_bot):
    make_bay_bot(owner, started_at=clock.now)
    body = owner_client.get(BAY).json()
    assert set(body) == set(LiveBaySerializer().fields)
    assert set(body["quarantine_bots"][0]) == set(QuarantineBotSerializer().fields)


@pytest.mark.parametrize("trading", [False, True])
def test_live_bay_costs_at_most_two_queries_for_a_thousand_bots(
    owner_client, owner, clock, trading, django_assert_max_num_queries
):
    Bot.objects.bulk_create(
        BotFactory.build(
            owner=owner, trading_mode="live", in_training=True, training_started_at=clock.now - timedelta(minutes=3 * i)
        )
        for i in range(1000)
    )
    with override_settings(ENABLE_TRADING=trading), django_assert_max_num_queries(2):  # auth + the bay
        response = owner_client.get(BAY)
    body = response.json()
    assert (body["total"], len(body["quarantine_bots"])) == (1000, 1000)
    assert body["ready_for_promotion"] == 520  # started 24 h (480 × 3 min) ago or earlier
    assert body["live_mode_active"] is trading


def test_live_bay_needs_authentication(api_client):
    assert _error(api_client.get(BAY), 401)


# ---------------------------------------------------------------------------
# The bot's own representation and the start path
# ---------------------------------------------------------------------------
def test_bot_representation_carries_the_countdown(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=10))
    shown = owner_client.get(f"/api/bots/{bot.pk}").json()["bot"]
    assert (shown["in_training"], shown["training_hours_elapsed"], shown["training_hours_remaining"]) == (
        True,
        10.0,
        14.0,
    )


def test_starting_a_bot_in_training_says_so(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now)
    response = owner_client.post(f"/api/bots/{bot.pk}/start")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == f"Bot '{bot.name}' started in the training bay (paper fills until promotion)"
    assert (body["bot"]["status"], body["bot"]["in_training"]) == ("running", True)


def test_switching_paper_then_live_again_restarts_the_countdown(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=23))
    assert owner_client.patch(f"/api/bots/{bot.pk}", {"trading_mode": "paper"}, format="json").status_code == 200
    assert owner_client.get(BAY).json()["total"] == 0
    clock.advance(hours=2)
    assert owner_client.patch(f"/api/bots/{bot.pk}", {"trading_mode": "live"}, format="json").status_code == 200

    row = owner_client.get(BAY).json()["quarantine_bots"][0]
    assert (row["id"], row["hours_elapsed"], row["hours_remaining"], row["eligible_for_promotion"]) == (
        bot.pk,
        0.0,
        24.0,
        False,
    )
    bot.refresh_from_db()
    assert bot.training_started_at == clock.now


# ---------------------------------------------------------------------------
# promote
# ---------------------------------------------------------------------------
def test_promote_before_the_limit_is_409_with_hours_remaining(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=23, minutes=54))
    before = _snapshot(bot)

    error = _error(owner_client.post(promote_path(bot)), 409)

    assert error["code"] == "TRAINING_INCOMPLETE"
    assert error["details"] == {
        "reasons": ["TRAINING_INCOMPLETE"],
        "hours_elapsed": 23.9,
        "hours_remaining": 0.1,
        "min_training_hours": 24.0,
    }
    assert "0.1 h of its 24 h training remain" in error["message"]
    assert _snapshot(bot) == before
    assert not Event.objects.filter(type="bot_promoted").exists()
    assert not AuditEntry.objects.filter(action__startswith="training.").exists()


def test_promote_at_the_limit_leaves_the_bay_and_starts_flat(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=24), status="running")
    fill(bot, "buy", "0.01", "50000", at=clock.now - timedelta(hours=1))  # a paper position to close
    bot.state = {"strategy": {"orders": 1}, "engine": {"day": "2025-01-01", "trades": 3}}
    bot.save(update_fields=["state"])
    orders_before = Order.objects.count()

    response = owner_client.post(promote_path(bot))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["promoted"] is True
    assert body["message"].startswith(f"Bot '{bot.name}' promoted to live trading after 24 h of training")
    assert (body["bot"]["in_training"], body["bot"]["status"]) == (False, "running")
    bot.refresh_from_db()
    assert (bot.in_training, bot.promoted_at, bot.trading_mode) == (False, clock.now, "live")
    # The strategy forgets the paper position; the engine's limiter memory is kept.
    assert bot.state == {"strategy": {}, "engine": {"day": "2025-01-01", "trades": 3}}
    assert bot.is_live_real_money
    # Flat: the paper position was closed in the books, on paper; nothing went to a venue.
    assert Position.objects.get(bot=bot).quantity == 0
    close = Order.objects.exclude(pk__in=Order.objects.order_by("pk")[:orders_before]).get()
    assert (close.side, close.reason, close.is_paper, close.status) == ("sell", "promotion", True, "filled")
    assert Trade.objects.filter(bot=bot, is_paper=False).count() == 0
    event = Event.objects.get(type="bot_promoted")
    assert (event.user_id, event.bot_id) == (owner.pk, bot.pk)
    assert event.payload["source"] == "owner" and event.payload["forced"] is False
    assert event.payload["actor_id"] == owner.pk and len(event.payload["closed_positions"]) == 1
    audit = AuditEntry.objects.get(action="training.promote")
    assert (audit.actor, audit.target_id, audit.data["hours_elapsed"]) == (owner, str(bot.pk), 24.0)
    assert bot.pk not in [row["id"] for row in owner_client.get(BAY).json()["quarantine_bots"]]


def test_promote_twice_is_harmless(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=25))
    assert owner_client.post(promote_path(bot)).status_code == 200
    promoted_at = _snapshot(bot)[2]
    clock.advance(hours=1)

    response = owner_client.post(promote_path(bot))

    assert response.status_code == 200
    body = response.json()
    assert body["promoted"] is False
    assert body["message"] == f"Bot '{bot.name}' was already promoted on {promoted_at.isoformat()}"
    assert _snapshot(bot)[2] == promoted_at
    assert Event.objects.filter(type="bot_promoted").count() == 1
    assert AuditEntry.objects.filter(action="training.promote").count() == 1


def test_promote_another_users_bot_is_404_and_changes_nothing(owner_client, other_user, clock, make_bay_bot):
    theirs = make_bay_bot(other_user, started_at=clock.now - timedelta(hours=48))
    before = _snapshot(theirs)

    error = _error(owner_client.post(promote_path(theirs)), 404)

    assert (error["code"], error["message"]) == ("NOT_FOUND", "Bot not found.")
    assert _snapshot(theirs) == before
    assert not Event.objects.filter(type="bot_promoted").exists()
    assert _error(owner_client.post("/api/training/999999/promote"), 404)


def test_promote_a_bot_in_error_is_409_naming_it(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=30), status="error", last_error="venue said no")
    error = _error(owner_client.post(promote_path(bot)), 409)
    assert error["code"] == "BOT_IN_ERROR"
    assert "in error: venue said no" in error["message"]
    assert _snapshot(bot)[0] is True


def test_promote_without_a_live_key_set_is_409_naming_it(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, exchange="binance", started_at=clock.now - timedelta(hours=30))
    credential_services.credential_save(
        user=owner,
        provider="binance",
        purpose="backtest",
        label="default",
        secrets={"api_key": "k1", "api_secret": "s"},
    )

    error = _error(owner_client.post(promote_path(bot)), 409)

    assert error["code"] == "LIVE_KEYS_MISSING"
    assert "no usable live key set for binance" in error["message"]
    assert error["details"]["hours_remaining"] == 0.0
    assert _snapshot(bot)[0] is True

    live = credential_services.credential_save(
        user=owner, provider="binance", purpose="live", label="default", secrets={"api_key": "k2", "api_secret": "s"}
    )
    Bot.objects.filter(pk=bot.pk).update(credential=live)
    assert owner_client.post(promote_path(bot)).status_code == 200


def test_promote_names_every_reason_while_several_apply(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, exchange="kraken", status="error", started_at=clock.now - timedelta(hours=1))
    error = _error(owner_client.post(promote_path(bot)), 409)
    assert error["details"]["reasons"] == ["BOT_IN_ERROR", "LIVE_KEYS_MISSING", "TRAINING_INCOMPLETE"]
    assert error["details"]["hours_remaining"] == 23.0


def test_local_venues_need_no_keys(owner_client, owner, clock, make_bay_bot):
    for exchange in ("simulated", "replay"):
        bot = make_bay_bot(owner, exchange=exchange, started_at=clock.now - timedelta(hours=24))
        assert owner_client.post(promote_path(bot)).status_code == 200


def test_promote_a_paper_bot_is_409(owner_client, owner):
    bot = BotFactory(owner=owner)
    error = _error(owner_client.post(promote_path(bot)), 409)
    assert error["code"] == "NOT_IN_TRAINING"


def test_promote_needs_authentication(api_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=30))
    assert _error(api_client.post(promote_path(bot)), 401)
    assert _snapshot(bot)[0] is True


def test_promote_waits_for_a_paper_order_in_flight(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=30), status="running")
    order = Order.objects.create(bot=bot, client_order_id=f"bf-{bot.pk}-7", symbol="BTC/USDT", side="buy", quantity=1)

    error = _error(owner_client.post(promote_path(bot)), 409)

    assert error["code"] == "ORDER_IN_FLIGHT"
    assert f"paper order bf-{bot.pk}-7 is still being filled" in error["message"]
    assert _snapshot(bot)[0] is True
    Order.objects.filter(pk=order.pk).update(status="filled")
    assert owner_client.post(promote_path(bot)).status_code == 200


# ---------------------------------------------------------------------------
# back to the bay
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [
        {"exchange": "binance"},
        {"symbol": "ETH/USDT"},
        {"strategy": "rsi"},
    ],
    ids=["venue", "symbol", "strategy"],
)
def test_a_promoted_live_bot_whose_market_or_strategy_changes_goes_back_to_the_bay(
    owner_client, owner, clock, fake_exchange, settings, change
):
    """Given the demo's promoted live bot on `simulated`, stopped; when its venue, symbol or strategy
    changes, then it is in the bay again with a fresh countdown, the answer says so, and its next
    tick fills on paper: nothing reaches the (fake) real venue."""
    from bots.engine import tick
    from tests.engine.factories import posted_orders

    settings.ENABLE_TRADING = True
    credential_services.credential_save(
        user=owner,
        provider="binance",
        purpose="live",
        label="default",
        secrets={"api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET},
    )
    bot = BotFactory(
        owner=owner,
        exchange="simulated",
        symbol="BTC/USDT",
        strategy="dca",
        params={"order_pct": 0.1, "every_ticks": 1, "max_orders": 100, "take_profit_pct": 5},
        trading_mode="live",
        in_training=False,
        training_started_at=clock.now - timedelta(hours=48),
        promoted_at=clock.now - timedelta(hours=24),
    )
    clock.advance(hours=1)

    response = owner_client.patch(f"/api/bots/{bot.pk}", change, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    field = next(iter(change))
    assert body["message"] == (
        f"Bot '{bot.name}' updated; it went back to the training bay (its {field} changed; a live bot trains "
        "again on what it will trade) and trades on paper for 24 hours before it can be promoted again"
    )
    shown = body["bot"]
    assert (shown["in_training"], shown["training_started_at"], shown["promoted_at"]) == (
        True,
        clock.now.isoformat(),
        None,
    )
    assert (shown["training_hours_elapsed"], shown["training_hours_remaining"]) == (0.0, 24.0)
    assert _snapshot(bot) == (True, clock.now, None, "stopped", "live")
    event = Event.objects.get(type="training_started", bot_id=bot.pk)
    assert event.payload["reason"] == f"its {field} changed; a live bot trains again on what it will trade"
    assert event.payload["min_training_hours"] == 24.0
    assert owner_client.post(promote_path(bot)).status_code == 409  # the countdown runs again

    assert owner_client.post(f"/api/bots/{bot.pk}/start").status_code == 200
    report = tick.tick_bot(bot.pk)
    assert (report.claimed, report.errors) == (1, 0), report
    if field != "strategy":  # DCA buys at once; RSI may rightly wait for its signal
        assert report.orders == 1
    assert not Order.objects.filter(bot=bot, is_paper=False).exists()
    assert posted_orders(fake_exchange) == 0


def test_a_bot_in_the_bay_whose_venue_changes_restarts_its_countdown(owner_client, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=23), exchange="simulated")

    response = owner_client.patch(
        f"/api/bots/{bot.pk}", {"exchange": "replay", "symbol": "ETH/BTC", "timeframe": "5m"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["bot"]["training_hours_remaining"] == 24.0
    assert _snapshot(bot) == (True, clock.now, None, "stopped", "live")


def test_renaming_a_promoted_bot_keeps_it_out_of_the_bay(owner_client, owner, clock):
    bot = BotFactory(
        owner=owner, trading_mode="live", in_training=False, training_started_at=clock.now - timedelta(hours=48)
    )
    bot.promoted_at = clock.now - timedelta(hours=24)
    bot.save(update_fields=["promoted_at"])
    before = _snapshot(bot)

    response = owner_client.patch(f"/api/bots/{bot.pk}", {"name": "Renamed", "interval_seconds": 30}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["message"] == "Bot 'Renamed' updated"
    assert _snapshot(bot) == before
    assert not Event.objects.filter(type="training_started").exists()
