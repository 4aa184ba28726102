"""The staff API (API.md "adminpanel"): auth on every endpoint, shapes, validation."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from accounts.models import AuditEntry, User
from bots.models import Bot, FleetHalt
from realtime.models import Event
from tests.bots.factories import BotFactory
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("post", "/api/admin/unlock", {"password": "x"}),
    ("get", "/api/admin/bots", None),
    ("post", "/api/admin/bots/{bot}/override", {"override_rules": {"max_daily_trades": 3}}),
    ("get", "/api/admin/resources/users", None),
    ("get", "/api/admin/users", None),
    ("post", "/api/admin/users", {"email": "new@example.com", "password": "a-long-password-1"}),
    ("put", "/api/admin/users/{user}", {"first_name": "X"}),
    ("delete", "/api/admin/users/{user}", None),
    ("get", "/api/admin/audit", None),
    ("get", "/api/admin/halt", None),
    ("post", "/api/admin/halt", {"halted": True, "reason": "drill"}),
]


def _call(client, method, path, body, *, bot, user):
    url = path.format(bot=bot.pk, user=user.pk)
    return getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_anonymous_gets_401_and_nothing_changes(api_client, owner, running_bot, method, path, body):
    response = _call(api_client, method, path, body, bot=running_bot, user=owner)
    assert response.status_code == 401
    assert response.json()["success"] is False
    running_bot.refresh_from_db()
    owner.refresh_from_db()
    assert running_bot.override_rules == {} and owner.is_active and not FleetHalt.is_halted()


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_non_staff_gets_403_and_nothing_changes(owner_client, owner, running_bot, method, path, body):
    response = _call(owner_client, method, path, body, bot=running_bot, user=owner)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    running_bot.refresh_from_db()
    owner.refresh_from_db()
    assert running_bot.override_rules == {} and owner.is_active and not FleetHalt.is_halted()
    assert not User.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize(("method", "path", "body"), [e for e in ENDPOINTS if e[1] != "/api/admin/unlock"])
def test_staff_gets_success(staff_client, owner, running_bot, method, path, body):
    response = _call(staff_client, method, path, body, bot=running_bot, user=owner)
    assert response.status_code in (200, 201), response.json()
    assert response.json()["success"] is True


# -- unlock ----------------------------------------------------------------
def test_unlock_with_own_password_gives_a_token(staff_client, password):
    response = staff_client.post("/api/admin/unlock", {"password": password}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 900 and body["unlock_token"]
    assert AuditEntry.objects.filter(action="admin.unlocked", actor=staff_client.user).count() == 1


def test_unlock_with_wrong_password_is_400(staff_client):
    response = staff_client.post("/api/admin/unlock", {"password": "wrong"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["details"]
    assert AuditEntry.objects.filter(action="admin.unlock_failed").count() == 1


def test_required_unlock_guards_mutations(staff_client, password, running_bot, settings):
    settings.ADMIN_REQUIRE_UNLOCK = True
    body = {"override_rules": {"max_daily_trades": 2}}
    url = f"/api/admin/bots/{running_bot.pk}/override"
    refused = staff_client.post(url, body, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ADMIN_UNLOCK_REQUIRED"
    bad = staff_client.post(url, body, format="json", HTTP_X_ADMIN_UNLOCK="forged")
    assert bad.status_code == 403
    running_bot.refresh_from_db()
    assert running_bot.override_rules == {}
    assert staff_client.get("/api/admin/bots").status_code == 200  # reads need no unlock
    token = staff_client.post("/api/admin/unlock", {"password": password}, format="json").json()["unlock_token"]
    ok = staff_client.post(url, body, format="json", HTTP_X_ADMIN_UNLOCK=token)
    assert ok.status_code == 200
    running_bot.refresh_from_db()
    assert running_bot.override_rules == {"max_daily_trades": 2}


def test_unlock_token_of_another_staff_member_is_refused(staff_client, running_bot, settings, password):
    settings.ADMIN_REQUIRE_UNLOCK = True
    other = bearer_client(User.objects.create_user(email="s2@example.com", password=password, is_staff=True))
    token = other.post("/api/admin/unlock", {"password": password}, format="json").json()["unlock_token"]
    response = staff_client.post("/api/admin/halt", {"halted": True}, format="json", HTTP_X_ADMIN_UNLOCK=token)
    assert response.status_code == 403
    assert not FleetHalt.is_halted()


# -- bots and overrides ----------------------------------------------------
def test_admin_bots_lists_every_users_bots(staff_client, owner, other_user):
    mine = BotFactory(owner=owner, override_rules={"max_daily_trades": 1})
    BotFactory(owner=other_user)
    BotFactory(owner=other_user, deleted_at=timezone.now())
    response = staff_client.get("/api/admin/bots")
    body = response.json()
    assert body["total"] == 2
    row = next(b for b in body["bots"] if b["id"] == mine.pk)
    assert {k: row[k] for k in ("name", "user_id", "exchange", "status", "trading_mode", "override_rules")} == {
        "name": mine.name,
        "user_id": owner.pk,
        "exchange": "simulated",
        "status": "stopped",
        "trading_mode": "paper",
        "override_rules": {"max_daily_trades": 1},
    }
    assert row["total_profit"] == 0


def test_admin_bots_filters(staff_client, owner, other_user):
    BotFactory(owner=owner, status="running")
    BotFactory(owner=other_user, status="stopped", trading_mode="live")
    assert staff_client.get("/api/admin/bots?status=running").json()["total"] == 1
    assert staff_client.get("/api/admin/bots?trading_mode=live").json()["total"] == 1
    assert staff_client.get(f"/api/admin/bots?user_id={owner.pk}").json()["total"] == 1
    assert staff_client.get("/api/admin/bots?status=bogus").status_code == 400


def test_admin_bots_query_count_is_constant(staff_client, owner, django_assert_max_num_queries):
    for _ in range(3):
        BotFactory(owner=owner)
    with django_assert_max_num_queries(4) as few:
        staff_client.get("/api/admin/bots")
    for _ in range(20):
        BotFactory()
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert staff_client.get("/api/admin/bots").json()["total"] == 23


def test_override_sets_rules_audits_and_records_event(staff_client, running_bot, owner):
    rules = {
        "max_daily_trades": 5,
        "position_size_pct": 0.5,
        "stop_loss_pct": 0.05,
        "take_profit_pct": 0.1,
        "max_open_positions": 0,
    }
    response = staff_client.post(f"/api/admin/bots/{running_bot.pk}/override", {"override_rules": rules}, format="json")
    assert response.status_code == 200
    assert response.json()["bot"]["override_rules"] == rules
    running_bot.refresh_from_db()
    assert running_bot.override_rules == rules and running_bot.status == "running"
    entry = AuditEntry.objects.get(action="admin.bot_override")
    assert entry.data == {"before": {"override_rules": {}}, "after": {"override_rules": rules}}
    assert entry.actor == staff_client.user and entry.target_id == str(running_bot.pk)
    event = Event.objects.get(type="override_updated")
    assert event.user_id == owner.pk and event.bot_id == running_bot.pk
    assert event.payload["rules"] == rules and event.payload["previous_rules"] == {}


@pytest.mark.parametrize(
    ("rules", "bad_key"),
    [
        ({"max_leverage": 3}, "max_leverage"),
        ({"position_size_pct": 0}, "position_size_pct"),
        ({"position_size_pct": 1.5}, "position_size_pct"),
        ({"stop_loss_pct": 1}, "stop_loss_pct"),
        ({"stop_loss_pct": -0.1}, "stop_loss_pct"),
        ({"take_profit_pct": 1}, "take_profit_pct"),
        ({"take_profit_pct": "abc"}, "take_profit_pct"),
        ({"max_daily_trades": -1}, "max_daily_trades"),
        ({"max_daily_trades": 2.5}, "max_daily_trades"),
        ({"max_open_positions": True}, "max_open_positions"),
        ({"max_open_positions": "x"}, "max_open_positions"),
    ],
)
def test_override_validation_names_the_rule_and_changes_nothing(staff_client, running_bot, rules, bad_key):
    response = staff_client.post(f"/api/admin/bots/{running_bot.pk}/override", {"override_rules": rules}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert bad_key in error["message"]
    assert bad_key in error["details"]["override_rules"]
    running_bot.refresh_from_db()
    assert running_bot.override_rules == {}
    assert not AuditEntry.objects.filter(action__startswith="admin.").exists()
    assert not Event.objects.filter(type="override_updated").exists()


def test_override_edges_are_accepted(staff_client, running_bot):
    rules = {"position_size_pct": 1, "max_daily_trades": 0, "stop_loss_pct": "0.02"}
    response = staff_client.post(f"/api/admin/bots/{running_bot.pk}/override", {"override_rules": rules}, format="json")
    assert response.status_code == 200
    running_bot.refresh_from_db()
    assert running_bot.override_rules == {"position_size_pct": 1.0, "stop_loss_pct": 0.02, "max_daily_trades": 0}


def test_override_needs_something_to_do(staff_client, running_bot):
    assert staff_client.post(f"/api/admin/bots/{running_bot.pk}/override", {}, format="json").status_code == 400
    assert staff_client.post("/api/admin/bots/999999/override", {"force_pause": True}, format="json").status_code == 404


def test_force_pause_pauses_at_once_and_blocks_the_owner(staff_client, owner_client, running_bot):
    response = staff_client.post(
        f"/api/admin/bots/{running_bot.pk}/override", {"force_pause": True, "reason": "risk review"}, format="json"
    )
    assert response.status_code == 200
    bot = response.json()["bot"]
    assert bot["status"] == "paused" and bot["force_paused"] is True
    running_bot.refresh_from_db()
    assert running_bot.next_tick_at is None and running_bot.paused_reason == "risk review"
    assert owner_client.post(f"/api/bots/{running_bot.pk}/resume").status_code == 423
    assert owner_client.post(f"/api/bots/{running_bot.pk}/start").status_code == 423
    event = Event.objects.get(type="bot_paused")
    assert event.user_id == running_bot.owner_id and event.payload["actor_id"] == staff_client.user.pk
    audit = AuditEntry.objects.get(action="admin.bot_force_paused")
    assert audit.data["before"]["status"] == "running" and audit.data["after"]["status"] == "paused"
    # Released: stays paused, the owner may resume.
    released = staff_client.post(f"/api/admin/bots/{running_bot.pk}/override", {"force_pause": False}, format="json")
    assert released.json()["bot"]["force_paused"] is False and released.json()["bot"]["status"] == "paused"
    assert Event.objects.filter(type="bot_released").count() == 1
    assert owner_client.post(f"/api/bots/{running_bot.pk}/resume").status_code == 200


def test_owner_may_stop_a_force_paused_bot(staff_client, owner_client, running_bot):
    staff_client.post(f"/api/admin/bots/{running_bot.pk}/override", {"force_pause": True}, format="json")
    assert owner_client.post(f"/api/bots/{running_bot.pk}/stop").status_code == 200
    running_bot.refresh_from_db()
    assert running_bot.status == "stopped" and running_bot.force_paused is True
    assert owner_client.post(f"/api/bots/{running_bot.pk}/start").status_code == 423


def test_override_accepts_form_data(staff_client, running_bot):
    response = staff_client.post(f"/api/admin/bots/{running_bot.pk}/override", {"force_pause": "true"})
    assert response.status_code == 200
    running_bot.refresh_from_db()
    assert running_bot.force_paused is True


# -- resources ---------------------------------------------------------------
def test_resources_shape_and_totals(staff_client, owner, other_user):
    from adminpanel.services import usage_reconcile

    BotFactory(owner=owner)
    BotFactory(owner=owner)
    BotFactory(owner=other_user)
    usage_reconcile()
    body = staff_client.get("/api/admin/resources/users").json()
    assert body["success"] is True and body["total"] == 3  # owner, other, staff
    first = body["users"][0]
    assert first["user_id"] == owner.pk and first["email"] == owner.email
    assert set(first["storage_breakdown"]) == {
        "bots",
        "orders",
        "trades",
        "events",
        "credentials",
        "audit_entries",
        "backtests",
    }
    assert first["storage_breakdown"]["bots"]["count"] == 2
    assert first["storage_breakdown"]["bots"]["size_mb"] > 0
    assert first["total_storage_mb"] >= first["storage_breakdown"]["bots"]["size_mb"]
    totals = body["system_totals"]
    assert totals["total_users"] == 3 and totals["total_bots"] == 3
    assert totals["total_storage_mb"] > 0


@pytest.mark.parametrize("sort", ["email", "-email", "user_id", "trades", "-bots_mb", "total_storage_mb"])
def test_resources_sort_by_any_column(staff_client, owner, other_user, sort):
    from adminpanel.services import usage_reconcile

    BotFactory(owner=other_user)
    usage_reconcile()
    users = staff_client.get(f"/api/admin/resources/users?sort={sort}").json()["users"]
    key = sort.lstrip("-")
    values = {
        "email": lambda u: u["email"],
        "user_id": lambda u: u["user_id"],
        "trades": lambda u: u["storage_breakdown"]["trades"]["count"],
        "bots_mb": lambda u: u["storage_breakdown"]["bots"]["size_mb"],
        "total_storage_mb": lambda u: u["total_storage_mb"],
    }[key]
    got = [values(u) for u in users]
    assert got == sorted(got, reverse=sort.startswith("-"))


def test_resources_unknown_sort_is_400(staff_client):
    from adminpanel.selectors import USAGE_SORT_FIELDS

    response = staff_client.get("/api/admin/resources/users?sort=password")
    assert response.status_code == 400
    problem = f"unknown column 'password'; sort by one of {', '.join(USAGE_SORT_FIELDS)}"
    error = response.json()["error"]
    assert (error["code"], error["message"], error["details"]) == (
        "VALIDATION_ERROR",
        f"sort: {problem}",
        {"sort": [problem]},
    )


def test_resources_query_count_is_constant(staff_client, django_assert_max_num_queries):
    from tests.factories import UserFactory

    UserFactory.create_batch(2)
    staff_client.get("/api/admin/resources/users")  # warm the row-size cache
    with django_assert_max_num_queries(6) as few:
        staff_client.get("/api/admin/resources/users")
    UserFactory.create_batch(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert staff_client.get("/api/admin/resources/users").json()["total"] == 33


# -- users --------------------------------------------------------------------
def test_users_list_and_create(staff_client, owner):
    body = staff_client.get("/api/admin/users?search=owner").json()
    assert body["total"] == 1 and body["users"][0]["email"] == owner.email
    created = staff_client.post(
        "/api/admin/users", {"email": "New@Example.com", "password": "a-long-password-1", "is_staff": True}
    )
    assert created.status_code == 201
    user = User.objects.get(email="new@example.com")
    assert user.is_staff and user.check_password("a-long-password-1")
    assert AuditEntry.objects.filter(action="admin.user_created", target_id=str(user.pk)).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "a-long-password-1"}, "email"),
        ({"email": "x@example.com"}, "password"),
        ({"email": "x@example.com", "password": "123"}, "password"),
    ],
)
def test_users_create_validation(staff_client, body, field):
    response = staff_client.post("/api/admin/users", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert not User.objects.filter(email="x@example.com").exists()


def test_users_create_duplicate_is_409(staff_client, owner):
    response = staff_client.post("/api/admin/users", {"email": owner.email, "password": "a-long-password-1"})
    assert response.status_code == 409


def test_disable_then_owner_gets_account_disabled(staff_client, owner_client, owner):
    response = staff_client.delete(f"/api/admin/users/{owner.pk}")
    assert response.status_code == 200 and response.json()["user"]["is_active"] is False
    assert User.objects.filter(pk=owner.pk).exists()  # history kept
    denied = owner_client.get("/api/bots")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ACCOUNT_DISABLED"
    enabled = staff_client.put(f"/api/admin/users/{owner.pk}", {"is_active": True}, format="json")
    assert enabled.json()["user"]["is_active"] is True
    assert owner_client.get("/api/bots").status_code == 200
    entries = AuditEntry.objects.filter(action="admin.user_updated", target_id=str(owner.pk)).order_by("id")
    assert [e.data["after"] for e in entries] == [{"is_active": False}, {"is_active": True}]


def test_put_with_form_body_does_not_clear_flags(staff_client, owner):
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    response = staff_client.put(
        f"/api/admin/users/{owner.pk}", "first_name=Ann", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.first_name == "Ann" and owner.is_staff is True and owner.is_active is True


def test_staff_cannot_disable_themselves(staff_client):
    response = staff_client.delete(f"/api/admin/users/{staff_client.user.pk}")
    assert response.status_code == 409
    staff_client.user.refresh_from_db()
    assert staff_client.user.is_active


def test_unlock_clears_a_lockout(staff_client, api_client, owner, password, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api_client.post("/api/auth/login", {"email": owner.email, "password": "wrong"}, format="json")
    assert (
        api_client.post("/api/auth/login", {"email": owner.email, "password": password}, format="json").status_code
        == 429
    )
    response = staff_client.put(f"/api/admin/users/{owner.pk}", {"unlock": True}, format="json")
    assert response.status_code == 200
    assert not AccessAttempt.objects.filter(username=owner.email).exists()
    # The IP lockout is separate (AXES_LOCKOUT_PARAMETERS); a fresh client address logs in.
    fresh = api_client.post(
        "/api/auth/login", {"email": owner.email, "password": password}, format="json", REMOTE_ADDR="10.9.9.9"
    )
    assert fresh.status_code == 200


def test_user_update_unknown_is_404(staff_client):
    assert staff_client.put("/api/admin/users/999999", {"first_name": "x"}, format="json").status_code == 404


# -- audit ----------------------------------------------------------------------
def test_audit_filters(staff_client, owner, running_bot):
    staff_client.post(f"/api/admin/bots/{running_bot.pk}/override", {"force_pause": True}, format="json")
    staff_client.post("/api/admin/halt", {"halted": True, "reason": "drill"}, format="json")
    body = staff_client.get("/api/admin/audit?action=admin.fleet_halted").json()
    assert body["total"] == 1 and body["entries"][0]["data"]["after"] == {"halted": True, "reason": "drill"}
    assert staff_client.get("/api/admin/audit?action=admin.").json()["total"] == 2
    by_target = staff_client.get(f"/api/admin/audit?target_type=bot&target_id={running_bot.pk}").json()
    assert [e["action"] for e in by_target["entries"]] == ["admin.bot_force_paused"]
    by_actor = staff_client.get(f"/api/admin/audit?actor={staff_client.user.email}").json()
    assert by_actor["total"] == 2
    assert staff_client.get(f"/api/admin/audit?actor_id={owner.pk}").json()["total"] == 0
    future = staff_client.get("/api/admin/audit", {"since": "2999-01-01T00:00:00Z"}).json()
    assert future["total"] == 0
    assert staff_client.get("/api/admin/audit?since=yesterday").status_code == 400


def test_audit_query_count_is_constant(staff_client, owner, django_assert_max_num_queries):
    from accounts.services import audit_record

    def add(n):
        from django.db import transaction

        with transaction.atomic():
            for _ in range(n):
                audit_record(actor=owner, action="user.logged_in", target=owner)

    add(2)
    with django_assert_max_num_queries(4) as few:
        staff_client.get("/api/admin/audit")
    add(40)
    with django_assert_max_num_queries(len(few.captured_queries)):
        staff_client.get("/api/admin/audit")


# -- halt ------------------------------------------------------------------------
def test_halt_toggles_audits_and_records_staff_events(staff_client):
    assert staff_client.get("/api/admin/halt").json() == {
        "success": True,
        "halted": False,
        "reason": "",
        "since": None,
        "by": None,
    }
    on = staff_client.post("/api/admin/halt", {"halted": True, "reason": "exchange incident"}, format="json").json()
    assert on["halted"] is True and on["reason"] == "exchange incident" and on["since"]
    assert FleetHalt.is_halted()
    again = staff_client.post("/api/admin/halt", {"halted": True}, format="json").json()
    assert again["since"] == on["since"]  # idempotent
    off = staff_client.post("/api/admin/halt", {"halted": False}, format="json").json()
    assert off["halted"] is False and not FleetHalt.is_halted()
    assert list(Event.objects.order_by("id").values_list("type", "user_id")) == [
        ("fleet_halted", None),
        ("fleet_resumed", None),
    ]
    assert list(AuditEntry.objects.filter(action__startswith="admin.fleet").values_list("action", flat=True)) == [
        "admin.fleet_resumed",
        "admin.fleet_halted",
    ]


def test_halt_validation(staff_client):
    response = staff_client.post("/api/admin/halt", {"reason": "x"}, format="json")
    assert response.status_code == 400 and "halted" in response.json()["error"]["details"]
    assert staff_client.post("/api/admin/halt", "{bad", content_type="application/json").status_code == 400
    assert not FleetHalt.is_halted()


def test_bot_status_unchanged_by_halt(staff_client, running_bot):
    staff_client.post("/api/admin/halt", {"halted": True}, format="json")
    assert Bot.objects.get(pk=running_bot.pk).status == "running"  # halt stops orders, not bots
