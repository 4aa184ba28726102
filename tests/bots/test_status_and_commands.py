from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from bots import services
from bots.events import EVENT_TYPES
from bots.models import Bot, BotDailyPnl, FleetHalt, Position, Trade, WorkerHeartbeat
from realtime import registry
from tests.bots.factories import BotFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/status", "/status"])
def test_status_offline_without_fresh_heartbeat(staff_client, path):
    # The detail is for staff or a monitor's OPS_TOKEN (tests/security/test_ops_access.py).
    WorkerHeartbeat.objects.create(name="celery@old", last_seen=timezone.now() - timedelta(seconds=31))
    body = staff_client.get(path).json()
    assert body["success"] is True and body["status"] == "offline" and body["workers"] == 0
    assert body["last_heartbeat"] is not None


def test_status_online_with_a_fresh_heartbeat(api_client, owner, settings):
    settings.OPS_TOKEN = "monitor-token-" + "9" * 32
    BotFactory(owner=owner, status="running")
    services.worker_heartbeat(name="celery@a:1", hostname="a", pid=1)
    services.worker_heartbeat(name="celery@a:1", hostname="a", pid=1)
    body = api_client.get("/api/status", HTTP_AUTHORIZATION=f"Bearer {settings.OPS_TOKEN}").json()
    assert (body["status"], body["workers"], body["running_bots"]) == ("online", 1, 1)


def test_status_is_stalled_while_a_fresh_heartbeat_hides_an_overdue_bot(staff_client, owner, settings):
    """A wedged worker still beats (its heartbeat is a thread of the main process); staff see the counts."""
    settings.ENGINE_LEASE_SECONDS, settings.ENGINE_DISPATCH_SECONDS = 60, 5
    now = timezone.now()
    BotFactory(owner=owner, status="running", next_tick_at=now - timedelta(seconds=74))  # within 60 + 3 × 5
    late = BotFactory(owner=owner, status="running", next_tick_at=now - timedelta(seconds=90))
    services.worker_heartbeat(name="celery@a:1", hostname="a", pid=1)

    body = staff_client.get("/api/status").json()

    assert (body["status"], body["workers"], body["running_bots"], body["overdue_bots"]) == ("stalled", 1, 2, 1)
    Bot.objects.filter(pk=late.pk).update(next_tick_at=timezone.now() + timedelta(seconds=5))
    assert staff_client.get("/api/status").json()["status"] == "online"


def test_fleet_halt_singleton():
    assert FleetHalt.is_halted() is False
    halt = FleetHalt.current()
    assert halt.pk == 1 and FleetHalt.current().pk == 1
    FleetHalt.objects.filter(pk=1).update(halted=True)
    assert FleetHalt.is_halted() is True


def test_event_types_registered_with_shapes():
    names = {t.name for t in EVENT_TYPES}
    assert names == {
        "bot_created",
        "bot_updated",
        "bot_started",
        "bot_stopped",
        "bot_paused",
        "bot_resumed",
        "bot_deleted",
        "training_started",
        "trade_executed",
        "order_reconcile_failed",
        "order_placed",
        "order_canceled",
        "order_rejected",
        "exit_triggered",
    }
    for name in names:
        assert registry.get(name).category in ("bot_update", "trade_update", "admin_update")


def test_bots_command_list_and_transitions(owner):
    bot = BotFactory(owner=owner, name="Cmd")
    out = StringIO()
    call_command("bots", "start", str(bot.pk), stdout=out)
    assert "Bot 'Cmd' started" in out.getvalue()
    out = StringIO()
    call_command("bots", "list", "--user", owner.email, "--status", "running", stdout=out)
    assert "Cmd" in out.getvalue() and "1 bot(s)" in out.getvalue()
    with pytest.raises(CommandError, match="already running"):
        call_command("bots", "start", str(bot.pk))
    with pytest.raises(CommandError, match="no bot"):
        call_command("bots", "stop", "999999")
    call_command("bots", "pause", str(bot.pk), "--reason", "maintenance", stdout=StringIO())
    assert Bot.objects.get(pk=bot.pk).paused_reason == "maintenance"


def test_seed_bulk_is_consistent():
    call_command("seed_bulk", "--users", "3", "--bots", "6", "--trades", "61", "--days", "5", stdout=StringIO())
    assert Trade.objects.count() == 61 and Bot.objects.count() == 6
    for bot in Bot.objects.all():
        trades = Trade.objects.filter(bot=bot)
        assert bot.total_trades == trades.count()
        realized = sum((t.realized_pnl for t in trades if t.realized_pnl is not None), 0)
        assert bot.realized_pnl == realized
        assert sum(d.realized_pnl for d in BotDailyPnl.objects.filter(bot=bot)) == realized
        position = Position.objects.get(bot=bot)
        buys = sum(t.quantity for t in trades if t.side == "buy")
        sells = sum(t.quantity for t in trades if t.side == "sell")
        assert position.quantity == buys - sells


def test_admin_lists_render(client, staff, owner):
    from tests.bots.factories import fill

    bot = BotFactory(owner=owner)
    fill(bot, "buy", 1, 100, with_order=True)
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    for path in ("/admin/bots/bot/", "/admin/bots/order/", "/admin/bots/trade/", f"/admin/bots/bot/{bot.pk}/change/"):
        assert client.get(path).status_code == 200, path


def test_key_set_of_a_running_live_bot_cannot_be_deleted(owner, owner_client):
    from credentials.models import Credential

    credential = Credential.objects.create(owner=owner, provider="binance", purpose="live", api_key="k")
    bot = BotFactory(owner=owner, exchange="binance", trading_mode="live", credential=credential, status="running")
    response = owner_client.delete(f"/api/keys/{credential.pk}")
    assert response.status_code == 409
    assert f"#{bot.pk}" in response.json()["error"]["message"]
    assert Credential.objects.filter(pk=credential.pk).exists()


def test_realtime_bot_access_checker_is_the_owner_check(owner, other_user):
    checker = registry.bot_access_checker()
    bot = BotFactory(owner=owner)
    assert checker(owner.pk, bot.pk) is True
    assert checker(other_user.pk, bot.pk) is False
    assert checker(owner.pk, 999999) is False
