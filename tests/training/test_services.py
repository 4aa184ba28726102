"""The periodic checks (eligibility events, autopilot), forced promotion, events, schedule, tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from accounts.models import AuditEntry
from bots import services as bot_services
from bots.models import Bot
from core.errors import Forbidden
from realtime import registry
from realtime.models import Event
from tests.bots.factories import fill
from training import schedule, services, tasks
from training.models import TrainingReview

pytestmark = pytest.mark.django_db


def _events(type_: str, bot=None) -> list[Event]:
    queryset = Event.objects.filter(type=type_)
    if bot is not None:
        queryset = queryset.filter(bot_id=bot.pk)
    return list(queryset.order_by("id"))


# ---------------------------------------------------------------------------
# training_eligible
# ---------------------------------------------------------------------------
def test_training_eligible_exactly_once_per_bot_across_repeated_checks(owner, other_user, clock, make_bay_bot):
    early = make_bay_bot(owner, started_at=clock.now - timedelta(hours=23, minutes=30))
    late = make_bay_bot(other_user, started_at=clock.now - timedelta(hours=20))

    assert services.training_eligibility_check() == 0  # before the limit: nothing
    clock.advance(minutes=30)  # early is exactly at the limit
    assert services.training_eligibility_check() == 1
    assert services.training_eligibility_check() == 0
    clock.advance(hours=4)
    assert services.training_eligibility_check() == 1
    for _ in range(3):
        clock.advance(minutes=1)
        assert services.training_eligibility_check() == 0

    assert [e.bot_id for e in _events("training_eligible")] == [early.pk, late.pk]
    event = _events("training_eligible", early)[0]
    assert event.user_id == owner.pk
    assert (event.payload["hours_elapsed"], event.payload["min_training_hours"]) == (24.0, 24.0)
    assert event.payload["bot"]["training_hours_remaining"] == 0.0
    assert event.message == f"Bot '{early.name}' completed its 24 h training and may be promoted"
    assert _events("training_eligible", late)[0].user_id == other_user.pk


def test_a_longer_setting_later_does_not_repeat_the_event(owner, clock, make_bay_bot):
    make_bay_bot(owner, started_at=clock.now - timedelta(hours=25))
    assert services.training_eligibility_check() == 1
    with override_settings(LIVE_MIN_TRAINING_HOURS=30):
        assert services.training_eligibility_check() == 0
        clock.advance(hours=6)
        assert services.training_eligibility_check() == 0
    assert len(_events("training_eligible")) == 1


def test_a_new_quarantine_period_gets_its_own_event(owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=25))
    assert services.training_eligibility_check() == 1
    bot_services.bot_update(user=owner, bot_id=bot.pk, data={"trading_mode": "paper"})
    bot_services.bot_update(user=owner, bot_id=bot.pk, data={"trading_mode": "live"})
    assert services.training_eligibility_check() == 0  # the countdown restarted
    clock.advance(hours=24)
    assert services.training_eligibility_check() == 1
    assert len(_events("training_eligible", bot)) == 2
    assert TrainingReview.objects.filter(bot=bot).count() == 2


def test_promoted_paper_and_deleted_bots_get_no_event(owner, clock, make_bay_bot):
    make_bay_bot(owner, started_at=clock.now - timedelta(hours=30), deleted_at=clock.now)
    make_bay_bot(owner, started_at=clock.now - timedelta(hours=30), trading_mode="paper")
    promoted = make_bay_bot(owner, started_at=clock.now - timedelta(hours=30))
    services.bot_promote(bot_id=promoted.pk, user=owner)
    assert services.training_eligibility_check() == 0
    assert _events("training_eligible") == []


def test_the_eligibility_task_runs_the_check(owner, clock, make_bay_bot):
    make_bay_bot(owner, started_at=clock.now - timedelta(hours=25))
    tasks.training_eligibility_check_task.delay()
    tasks.training_eligibility_check_task.delay()
    assert len(_events("training_eligible")) == 1


# ---------------------------------------------------------------------------
# Autopilot
# ---------------------------------------------------------------------------
def _trade_well(bot, clock, *, rounds: int = 3, sell_price: str = "110") -> None:
    """``rounds`` buy/sell pairs during training (2 fills each)."""
    for i in range(rounds):
        at = clock.now - timedelta(hours=20 - i)
        fill(bot, "buy", "1", "100", at=at)
        fill(bot, "sell", "1", sell_price, at=at + timedelta(minutes=5))


@override_settings(ENABLE_AUTOPILOT=True)
def test_autopilot_promotes_an_eligible_bot_that_passes(owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=24), status="running")
    fill(bot, "buy", "1", "100", at=clock.now - timedelta(hours=30))  # before training: does not count
    fill(bot, "sell", "1", "50", at=clock.now - timedelta(hours=29))
    _trade_well(bot, clock)  # 6 fills, +30 USDT
    waiting = make_bay_bot(owner, started_at=clock.now - timedelta(hours=2))
    _trade_well(waiting, clock)

    assert services.autopilot_run() == {"promoted": 1, "skipped": 0, "unchanged": 0, "not_due": 0}

    bot.refresh_from_db()
    waiting.refresh_from_db()
    assert (bot.in_training, bot.promoted_at) == (False, clock.now)
    assert waiting.in_training is True
    event = _events("bot_promoted", bot)[0]
    assert (event.payload["source"], event.payload["forced"]) == ("autopilot", False)
    assert event.payload["metrics"]["trades"] == 6 and event.payload["metrics"]["pnl"] == 30
    assert event.message.startswith(f"Bot '{bot.name}' promoted to live trading after 24 h of training (by autopilot)")
    audit = AuditEntry.objects.get(action="training.autopilot_promote")
    assert (audit.actor, audit.target_id, audit.data["metrics"]["max_drawdown"]) == (None, str(bot.pk), 0.0)
    assert _events("autopilot_skipped") == []


@override_settings(ENABLE_AUTOPILOT=True)
def test_autopilot_skips_with_reasons_and_records_each_verdict_once(owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=25))
    _trade_well(bot, clock, rounds=1)  # 2 fills

    assert services.autopilot_run()["skipped"] == 1
    assert services.autopilot_run() == {"promoted": 0, "skipped": 0, "unchanged": 1, "not_due": 0}

    bot.refresh_from_db()
    assert bot.in_training is True
    (event,) = _events("autopilot_skipped", bot)
    assert event.payload["reasons"] == ["TOO_FEW_TRADES"]
    assert event.payload["reason"] == "2 trades in training; autopilot needs at least 5"
    assert event.message == f"Autopilot did not promote bot '{bot.name}': {event.payload['reason']}"
    audit = AuditEntry.objects.get(action="training.autopilot_skip")
    assert (audit.data["reasons"], audit.data["metrics"]["trades"]) == (["TOO_FEW_TRADES"], 2)

    # The verdict changes (now losing money too): recorded again, once.
    fill(bot, "buy", "2", "100", at=clock.now - timedelta(hours=3))
    fill(bot, "sell", "2", "30", at=clock.now - timedelta(hours=2))  # −140 from a 1,010 peak: 13.9 %
    assert services.autopilot_run()["skipped"] == 1
    assert services.autopilot_run()["unchanged"] == 1
    assert [e.payload["reasons"] for e in _events("autopilot_skipped", bot)] == [
        ["TOO_FEW_TRADES"],
        ["TOO_FEW_TRADES", "DRAWDOWN_TOO_DEEP", "NEGATIVE_PNL"],
    ]
    assert AuditEntry.objects.filter(action="training.autopilot_skip").count() == 2


@override_settings(ENABLE_AUTOPILOT=True)
def test_autopilot_skips_deep_drawdown_even_when_pnl_recovers(owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=25))
    fill(bot, "buy", "1", "1000", at=clock.now - timedelta(hours=20))  # capital 1000
    fill(bot, "sell", "1", "850", at=clock.now - timedelta(hours=19))  # −150: 15 % down
    fill(bot, "buy", "1", "100", at=clock.now - timedelta(hours=18))
    fill(bot, "sell", "1", "300", at=clock.now - timedelta(hours=17))  # +200: net +50
    fill(bot, "buy", "1", "100", at=clock.now - timedelta(hours=16))
    fill(bot, "sell", "1", "100", at=clock.now - timedelta(hours=15))

    assert services.autopilot_run()["skipped"] == 1
    (event,) = _events("autopilot_skipped", bot)
    assert event.payload["reasons"] == ["DRAWDOWN_TOO_DEEP"]
    assert event.payload["metrics"]["max_drawdown"] == 15.0
    assert event.payload["reason"] == "max drawdown 15.00 % exceeds the 10 % autopilot allows"


@override_settings(
    ENABLE_AUTOPILOT=True, AUTOPILOT_MIN_TRADES=1, AUTOPILOT_MAX_DRAWDOWN_PCT=0.5, AUTOPILOT_MIN_PNL=-100
)
def test_autopilot_thresholds_are_settings(owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=25))
    fill(bot, "buy", "1", "100", at=clock.now - timedelta(hours=3))
    fill(bot, "sell", "1", "50", at=clock.now - timedelta(hours=2))  # −50, 5 % drawdown
    assert services.autopilot_run()["promoted"] == 1


@override_settings(ENABLE_AUTOPILOT=True)
def test_autopilot_skips_a_bot_in_error_or_without_keys(owner, clock, make_bay_bot):
    broken = make_bay_bot(owner, started_at=clock.now - timedelta(hours=25), status="error")
    keyless = make_bay_bot(owner, exchange="binance", started_at=clock.now - timedelta(hours=25))
    for bot in (broken, keyless):
        _trade_well(bot, clock)
    assert services.autopilot_run()["skipped"] == 2
    assert _events("autopilot_skipped", broken)[0].payload["reasons"] == ["BOT_IN_ERROR"]
    assert _events("autopilot_skipped", keyless)[0].payload["reasons"] == ["LIVE_KEYS_MISSING"]
    assert Bot.objects.filter(in_training=True).count() == 2


def test_autopilot_does_nothing_when_disabled(owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=25))
    _trade_well(bot, clock)
    assert services.autopilot_run() == {"promoted": 0, "skipped": 0, "unchanged": 0, "not_due": 0}
    tasks.autopilot_run_task.delay()
    bot.refresh_from_db()
    assert bot.in_training is True
    assert not AuditEntry.objects.filter(action__startswith="training.").exists()


@override_settings(ENABLE_AUTOPILOT=True)
def test_the_autopilot_task_runs_autopilot(owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=25))
    _trade_well(bot, clock)
    tasks.autopilot_run_task.delay()
    bot.refresh_from_db()
    assert bot.in_training is False


# ---------------------------------------------------------------------------
# Forced promotion
# ---------------------------------------------------------------------------
def test_staff_force_promote_waives_the_countdown_and_audits_the_reason(owner, staff, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=3))

    result = services.bot_force_promote(staff=staff, bot_id=bot.pk, reason="  vetted strategy, owner asked  ")

    assert result.promoted is True
    bot.refresh_from_db()
    assert bot.in_training is False
    audit = AuditEntry.objects.get(action="training.force_promote")
    assert audit.actor == staff
    assert audit.data == {
        "source": "staff",
        "forced": True,
        "hours_elapsed": 3.0,
        "hours_remaining_waived": 21.0,
        "reason": "vetted strategy, owner asked",
    }
    event = _events("bot_promoted", bot)[0]
    assert (event.payload["forced"], event.payload["reason"], event.payload["actor_id"]) == (
        True,
        "vetted strategy, owner asked",
        staff.pk,
    )
    assert "(forced by staff)" in event.message


def test_force_promote_needs_staff_and_a_reason_and_keeps_the_other_rules(owner, staff, clock, make_bay_bot):
    bot = make_bay_bot(owner, started_at=clock.now - timedelta(hours=3), status="error")
    with pytest.raises(Forbidden):
        services.bot_force_promote(staff=owner, bot_id=bot.pk, reason="mine")
    with pytest.raises(services.InvalidPromotion):
        services.bot_force_promote(staff=staff, bot_id=bot.pk, reason="  ")
    with pytest.raises(services.Conflict) as refused:
        services.bot_force_promote(staff=staff, bot_id=bot.pk, reason="go")
    assert refused.value.details["reasons"] == ["BOT_IN_ERROR"]
    bot.refresh_from_db()
    assert bot.in_training is True
    assert not AuditEntry.objects.filter(action__startswith="training.").exists()


# ---------------------------------------------------------------------------
# Events, schedule
# ---------------------------------------------------------------------------
def test_training_event_types_are_registered_as_bot_updates():
    for name in ("training_eligible", "bot_promoted", "autopilot_skipped", "training_started"):
        assert registry.get(name).category == registry.BOT_UPDATE


def test_autopilot_skipped_payload_shape_is_enforced():
    with pytest.raises(registry.EventShapeError):
        registry.get("autopilot_skipped").check({"bot": {}, "reasons": []})  # no reason


def test_schedule_always_checks_eligibility_and_runs_autopilot_only_when_enabled():
    assert set(schedule.entries()) == {"training-eligibility-check"}
    with override_settings(ENABLE_SCHEDULERS=True):
        assert set(schedule.entries()) == {"training-eligibility-check"}
    with override_settings(ENABLE_AUTOPILOT=True):
        assert set(schedule.entries()) == {"training-eligibility-check"}
    with override_settings(ENABLE_SCHEDULERS=True, ENABLE_AUTOPILOT=True):
        assert schedule.entries()["training-autopilot"]["task"] == "training.tasks.autopilot_run_task"
    from config.schedule import beat_schedule

    assert beat_schedule()["training-eligibility-check"]["task"] == "training.tasks.training_eligibility_check_task"
