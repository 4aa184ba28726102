"""The admin site: pages render for staff, and their actions go through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.utils import timezone

from accounts.models import AuditEntry, User
from adminpanel.sites import BotfleetAdminSite
from bots.models import Bot, FleetHalt, WorkerHeartbeat
from realtime.models import Event
from tests.bots.factories import BotFactory, fill
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_default_site_is_botfleets_and_keeps_every_admin():
    assert isinstance(admin.site, BotfleetAdminSite)
    registered = {model._meta.label for model in admin.site._registry}
    assert {"accounts.User", "accounts.AuditEntry", "bots.Bot", "bots.Trade", "credentials.Credential"} <= registered


def test_dashboard_shows_the_fleet(site_client, owner, settings):
    settings.LIVE_MIN_TRAINING_HOURS = 24
    BotFactory(owner=owner, status="running")
    BotFactory(owner=owner, status="paused", force_paused=True)
    BotFactory(
        owner=owner,
        name="Trainee",
        trading_mode="live",
        in_training=True,
        training_started_at=timezone.now() - timedelta(hours=6),
    )
    bot = BotFactory(owner=owner, status="running", name="Filler")
    fill(bot, "buy", "0.01", "100")
    WorkerHeartbeat.objects.create(name="celery@w1", last_seen=timezone.now())
    response = site_client.get("/admin/")
    assert response.status_code == 200
    fleet = response.context["fleet"]
    assert fleet["total_bots"] == 4 and fleet["force_paused"] == 1 and fleet["trades_today"] == 1
    assert fleet["engine"]["online"] is True and fleet["engine"]["workers"] == 1
    bay = fleet["training_bay"]
    assert [row["bot"].name for row in bay] == ["Trainee"]
    assert bay[0]["hours_remaining"] == pytest.approx(18.0, abs=0.1)
    html = response.content.decode()
    for section in ("fleet-bots", "fleet-engine", "fleet-flags", "fleet-halt", "fleet-training-bay", "fleet-audit"):
        assert f'id="{section}"' in html
    assert "Trainee" in html and "live_min_training_hours" in html


def test_dashboard_says_stalled_while_a_beating_worker_leaves_bots_overdue(site_client, owner, settings):
    settings.ENGINE_LEASE_SECONDS, settings.ENGINE_DISPATCH_SECONDS = 60, 5
    BotFactory(owner=owner, status="running", next_tick_at=timezone.now() - timedelta(seconds=90))
    WorkerHeartbeat.objects.create(name="celery@w1", last_seen=timezone.now())

    response = site_client.get("/admin/")

    engine = response.context["fleet"]["engine"]
    assert (engine["status"], engine["online"], engine["overdue_bots"], engine["workers"]) == ("stalled", False, 1, 1)
    assert '<span class="fleet-warn">stalled</span> (1 running bot overdue)' in response.content.decode()


def test_dashboard_query_count_is_bounded(site_client, owner, django_assert_max_num_queries):
    for _ in range(5):
        BotFactory(owner=owner, trading_mode="live", in_training=True, training_started_at=timezone.now())
    with django_assert_max_num_queries(20) as few:
        site_client.get("/admin/")
    for _ in range(20):
        BotFactory(trading_mode="live", in_training=True, training_started_at=timezone.now())
    with django_assert_max_num_queries(len(few.captured_queries)):
        site_client.get("/admin/")


def test_dashboard_needs_staff(client, owner):
    client.force_login(owner)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.post("/admin/fleet-halt/", {"halted": "1"}).status_code == 302
    assert not FleetHalt.is_halted()


def test_fleet_halt_switch_from_the_dashboard(site_client):
    response = site_client.post("/admin/fleet-halt/", {"halted": "1", "reason": "venue outage"})
    assert response.status_code == 302
    halt = FleetHalt.current()
    assert halt.halted and halt.reason == "venue outage" and halt.by == site_client.user
    page = site_client.get("/admin/").content.decode()
    assert "FLEET HALTED" in page and "venue outage" in page
    site_client.post("/admin/fleet-halt/", {"halted": "0"})
    assert not FleetHalt.is_halted()
    assert Event.objects.filter(type__in=["fleet_halted", "fleet_resumed"]).count() == 2
    assert site_client.get("/admin/fleet-halt/").status_code == 405


def test_bots_changelist_columns_and_filters(site_client, owner):
    bot = BotFactory(owner=owner, status="running", name="Alpha")
    fill(bot, "buy", "0.01", "100")
    BotFactory(owner=owner, status="stopped", name="Beta")
    response = site_client.get("/admin/bots/bot/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Alpha" in html and "Beta" in html and owner.email in html
    for header in ("trades today", "profit", "in training", "force paused"):
        assert header in html.lower().replace("_", " ")
    filtered = site_client.get("/admin/bots/bot/?status__exact=running").content.decode()
    assert "Alpha" in filtered and "Beta" not in filtered
    searched = site_client.get("/admin/bots/bot/?q=Beta").content.decode()
    assert "Beta" in searched and ">Alpha<" not in searched


def test_bots_changelist_query_count_is_constant(site_client, owner, django_assert_max_num_queries):
    for _ in range(3):
        fill(BotFactory(owner=owner), "buy", "0.01", "100")
    with django_assert_max_num_queries(30) as few:
        site_client.get("/admin/bots/bot/")
    for _ in range(25):
        fill(BotFactory(owner=UserFactory()), "buy", "0.01", "100")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert site_client.get("/admin/bots/bot/").status_code == 200


def _action(client, url, action, ids):
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids]})


def test_bot_actions_go_through_services(site_client, owner):
    running = BotFactory(owner=owner, status="running")
    stopped = BotFactory(owner=owner, status="stopped")
    response = _action(site_client, "/admin/bots/bot/", "force_pause_selected", [running.pk])
    assert response.status_code == 302
    running.refresh_from_db()
    assert running.force_paused and running.status == "paused"
    assert AuditEntry.objects.filter(action="admin.bot_force_paused", target_id=str(running.pk)).exists()
    _action(site_client, "/admin/bots/bot/", "release_selected", [running.pk])
    running.refresh_from_db()
    assert not running.force_paused and running.status == "paused"
    _action(site_client, "/admin/bots/bot/", "stop_selected", [running.pk, stopped.pk])
    running.refresh_from_db()
    assert running.status == "stopped"
    assert Event.objects.filter(type="bot_stopped", bot_id=running.pk).count() == 1
    assert not Event.objects.filter(type="bot_stopped", bot_id=stopped.pk).exists()  # refused, reported


def test_override_form_renders_validates_and_saves(site_client, owner):
    bot = BotFactory(owner=owner, status="running", override_rules={"max_daily_trades": 4})
    url = f"/admin/bots/bot/{bot.pk}/override/"
    page = site_client.get(url)
    assert page.status_code == 200 and 'id="override-form"' in page.content.decode()
    assert page.context["form"].initial == {"max_daily_trades": 4}
    bad = site_client.post(url, {"position_size_pct": "1.5", "stop_loss_pct": "1", "max_daily_trades": "-2"})
    assert bad.status_code == 200
    errors = bad.context["form"].errors
    assert set(errors) == {"position_size_pct", "stop_loss_pct", "max_daily_trades"}
    bot.refresh_from_db()
    assert bot.override_rules == {"max_daily_trades": 4}
    ok = site_client.post(url, {"position_size_pct": "0.25", "take_profit_pct": "0.1", "force_pause": "pause"})
    assert ok.status_code == 302
    bot.refresh_from_db()
    assert bot.override_rules == {"position_size_pct": 0.25, "take_profit_pct": 0.1}
    assert bot.force_paused and bot.status == "paused"
    assert Event.objects.filter(type="override_updated", bot_id=bot.pk).count() == 1
    assert site_client.get("/admin/bots/bot/999999/override/").status_code == 404


def test_audit_page_is_read_only_and_filters(site_client, owner, other_user):
    from accounts.services import audit_record

    audit_record(actor=owner, action="bot.start", target_type="bot", target_id=7)
    audit_record(actor=other_user, action="bot.stop", target_type="bot", target_id=8)
    response = site_client.get("/admin/accounts/auditentry/")
    assert response.status_code == 200

    def actions(query: str) -> list[str]:
        response = site_client.get(f"/admin/accounts/auditentry/?{query}")
        assert response.status_code == 200
        return [entry.action for entry in response.context["cl"].result_list]

    assert actions(f"actor={owner.email}") == ["bot.start"]
    assert actions(f"actor={other_user.pk}") == ["bot.stop"]
    assert actions("target=bot%238") == ["bot.stop"]
    assert actions("target=bot") == ["bot.stop", "bot.start"]
    assert actions("action__exact=bot.start") == ["bot.start"]
    today = timezone.now()
    by_date = site_client.get(
        f"/admin/accounts/auditentry/?created_at__year={today.year}&created_at__month={today.month}"
    )
    assert by_date.status_code == 200
    entry = AuditEntry.objects.get(action="bot.start")
    assert site_client.get(f"/admin/accounts/auditentry/{entry.pk}/change/").status_code == 200
    site_client.post(f"/admin/accounts/auditentry/{entry.pk}/change/", {"action": "forged"})
    site_client.post(f"/admin/accounts/auditentry/{entry.pk}/delete/", {"post": "yes"})
    entry.refresh_from_db()
    assert entry.action == "bot.start"
    assert site_client.get("/admin/accounts/auditentry/add/").status_code == 403


def test_users_page_usage_columns_and_actions(site_client, owner, client, password):
    from adminpanel.services import usage_reconcile

    BotFactory(owner=owner)
    usage_reconcile()
    page = site_client.get("/admin/accounts/user/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "storage mb" in html.lower() and owner.email in html
    _action(site_client, "/admin/accounts/user/", "disable_selected", [owner.pk])
    owner.refresh_from_db()
    assert owner.is_active is False
    _action(site_client, "/admin/accounts/user/", "enable_selected", [owner.pk])
    _action(site_client, "/admin/accounts/user/", "make_staff", [owner.pk])
    owner.refresh_from_db()
    assert owner.is_active and owner.is_staff
    _action(site_client, "/admin/accounts/user/", "remove_staff", [owner.pk, site_client.user.pk])
    owner.refresh_from_db()
    site_client.user.refresh_from_db()
    assert not owner.is_staff and site_client.user.is_staff  # never oneself
    _action(site_client, "/admin/accounts/user/", "unlock_selected", [owner.pk])
    actions = set(AuditEntry.objects.filter(target_id=str(owner.pk)).values_list("action", flat=True))
    assert actions == {"admin.user_updated"}
    assert site_client.get(f"/admin/accounts/user/{owner.pk}/change/").status_code == 200


def test_users_changelist_query_count_is_constant(site_client, django_assert_max_num_queries):
    from adminpanel.services import usage_reconcile

    UserFactory.create_batch(3)
    usage_reconcile()
    with django_assert_max_num_queries(30) as few:
        site_client.get("/admin/accounts/user/")
    UserFactory.create_batch(30)
    usage_reconcile()
    with django_assert_max_num_queries(len(few.captured_queries)):
        site_client.get("/admin/accounts/user/")


def test_resource_page_sorts_and_totals(site_client, owner, other_user, django_assert_max_num_queries):
    from adminpanel.services import usage_reconcile

    BotFactory(owner=other_user)
    BotFactory(owner=other_user)
    usage_reconcile()
    response = site_client.get("/admin/resources/")
    assert response.status_code == 200
    rows = response.context["rows"]
    assert rows[0]["user_id"] == other_user.pk  # default: most storage first
    assert response.context["totals"]["total_bots"] == 2
    by_email = site_client.get("/admin/resources/?o=email").context["rows"]
    assert [r["email"] for r in by_email] == sorted(r["email"] for r in by_email)
    assert site_client.get("/admin/resources/?o=nonsense").status_code == 200  # falls back to the default
    with django_assert_max_num_queries(12) as few:
        site_client.get("/admin/resources/")
    UserFactory.create_batch(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        site_client.get("/admin/resources/")


@pytest.mark.parametrize(
    "url",
    ["/admin/bots/order/", "/admin/bots/trade/", "/admin/bots/fleethalt/", "/admin/credentials/credential/"],
)
def test_other_admin_pages_render(site_client, url):
    assert site_client.get(url).status_code == 200


def test_user_is_not_deleted_by_the_api_delete(staff_client, owner):
    staff_client.delete(f"/api/admin/users/{owner.pk}")
    assert User.objects.filter(pk=owner.pk, is_active=False).exists()
    assert Bot.objects.count() == 0
