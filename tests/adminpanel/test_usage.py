"""Usage counters: kept by the services with F() updates, and equal to a recount."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from accounts.models import UserUsage
from accounts.usage import KINDS, usage_add
from adminpanel.services import usage_reconcile
from adminpanel.tasks import usage_reconcile_task
from bots import services as bot_services
from config.schedule import beat_schedule
from credentials import services as credential_services
from realtime.models import Event
from tests.bots.factories import BotFactory, fill

pytestmark = pytest.mark.django_db


def _counters(user) -> dict:
    row = UserUsage.objects.filter(user=user).first()
    return {kind: getattr(row, kind) if row else 0 for kind in KINDS}


def _bot_data(**extra) -> dict:
    return {
        "name": "Counted",
        "exchange": "simulated",
        "symbol": "BTC/USDT",
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 30},
        "timeframe": "1m",
        "interval_seconds": 60,
        "trading_mode": "paper",
        "capital": Decimal("1000"),
        **extra,
    }


def test_services_keep_counters_equal_to_a_recount(owner, staff):
    bot = bot_services.bot_create(user=owner, data=_bot_data())
    fill(bot, "buy", "0.01", "100", with_order=True)  # a test-made order: not counted by a service
    fill(bot, "sell", "0.01", "110")
    bot_services.bot_start(user=owner, bot_id=bot.pk)
    bot_services.bot_stop(user=owner, bot_id=bot.pk)
    saved = credential_services.credential_save(
        user=owner,
        provider="binance",
        purpose="live",
        label="default",
        secrets={"api_key": "k" * 12, "api_secret": "s"},
    )
    credential_services.credential_save(
        user=owner,
        provider="binance",
        purpose="live",
        label="default",
        secrets={"api_key": "k" * 12, "api_secret": "t"},
    )  # replaced, not a second row
    credential_services.credential_save(
        user=owner, provider="kraken", purpose="live", label="default", secrets={"api_key": "k" * 12, "api_secret": "u"}
    )
    credential_services.credential_delete(user=owner, credential_id=saved.pk)
    counted = _counters(owner)
    assert counted["bots"] == 1 and counted["trades"] == 2 and counted["credentials"] == 1
    assert counted["events"] == Event.objects.filter(user=owner).count() > 0
    assert counted["orders"] == 0  # the order was made by the test, outside the services

    result = usage_reconcile()
    assert result["corrected"] >= 1  # the order
    assert _counters(owner) == {**counted, "orders": 1}
    assert usage_reconcile()["corrected"] == 0  # now in step


def test_stop_with_close_counts_the_closing_order(owner):
    bot = bot_services.bot_create(user=owner, data=_bot_data())
    bot_services.bot_start(user=owner, bot_id=bot.pk)
    fill(bot, "buy", "0.01", "100")
    bot_services.bot_stop(user=owner, bot_id=bot.pk, close_positions=True)
    before = _counters(owner)
    usage_reconcile()
    assert _counters(owner) == before and before["orders"] == 1 and before["trades"] == 2


def test_reconcile_fixes_drift_and_creates_missing_rows(owner, other_user):
    BotFactory(owner=other_user)  # bypasses the services
    usage_add(user_id=owner.pk, trades=5)  # drift
    assert not UserUsage.objects.filter(user=other_user).exists()
    usage_reconcile_task.delay()
    assert _counters(owner)["trades"] == 0
    assert _counters(other_user)["bots"] == 1
    assert UserUsage.objects.filter(reconciled_at__isnull=True).count() == 0


def test_purged_events_are_recounted(owner):
    bot = bot_services.bot_create(user=owner, data=_bot_data())
    with transaction.atomic():
        Event.objects.filter(bot_id=bot.pk).delete()  # as the retention purge does, in bulk
    usage_reconcile()
    assert _counters(owner)["events"] == Event.objects.filter(user=owner).count()


def test_usage_add_creates_then_increments_and_rejects_unknown_kinds(owner):
    usage_add(user_id=owner.pk, trades=2)
    usage_add(user_id=owner.pk, trades=3, events=1)
    usage_add(user_id=None, trades=1)  # nobody's
    usage_add(user_id=owner.pk)  # nothing to add
    assert _counters(owner)["trades"] == 5 and _counters(owner)["events"] == 1
    with pytest.raises(ValueError, match="secrets"):
        usage_add(user_id=owner.pk, secrets=1)


def test_staff_only_events_count_for_nobody(staff_client):
    staff_client.post("/api/admin/halt", {"halted": True}, format="json")
    assert Event.objects.filter(user__isnull=True).count() == 1
    assert _counters(staff_client.user)["events"] == 0
    assert _counters(staff_client.user)["audit_entries"] == 1


def test_reconciliation_is_scheduled():
    entry = beat_schedule()["adminpanel-usage-reconcile"]
    assert entry["task"] == "adminpanel.tasks.usage_reconcile_task"
