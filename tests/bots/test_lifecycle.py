"""The state table of API.md, pair by pair, through the API; force-pause; concurrency."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection

from accounts.models import AuditEntry
from bots import lifecycle, services
from bots.lifecycle import Action
from bots.models import Bot
from realtime.models import Event
from tests.bots.factories import BotFactory
from tests.conftest import USING_POSTGRES

pytestmark = pytest.mark.django_db

# (from, action) -> expected status, or the HTTP code of the refusal (API.md "bots").
TABLE = {
    ("stopped", "start"): "running",
    ("stopped", "pause"): 409,
    ("stopped", "resume"): 409,
    ("stopped", "stop"): 409,
    ("running", "start"): 409,
    ("running", "pause"): "paused",
    ("running", "resume"): 409,
    ("running", "stop"): "stopped",
    ("paused", "start"): 409,
    ("paused", "pause"): 409,
    ("paused", "resume"): "running",
    ("paused", "stop"): "stopped",
    ("error", "start"): "running",
    ("error", "pause"): 409,
    ("error", "resume"): 409,
    ("error", "stop"): "stopped",
}


@pytest.mark.parametrize(("status", "action"), sorted(TABLE))
def test_every_state_action_pair(owner, owner_client, status, action):
    bot = BotFactory(owner=owner, status=status, name="Bot-1")
    events_before = Event.objects.count()

    response = owner_client.post(f"/api/bots/{bot.pk}/{action}")

    expected = TABLE[(status, action)]
    bot.refresh_from_db()
    if isinstance(expected, int):
        assert response.status_code == expected
        body = response.json()
        assert body["error"]["code"] == "INVALID_TRANSITION"
        assert f"Cannot {action} bot 'Bot-1'" in body["error"]["message"]
        assert body["error"]["details"]["status"] == status
        assert bot.status == status  # nothing changed
        assert Event.objects.count() == events_before
        assert not AuditEntry.objects.filter(action=f"bot.{action}").exists()
    else:
        assert response.status_code == 200
        body = response.json()
        assert body["message"] == f"Bot 'Bot-1' {lifecycle.PAST[Action(action)]}"
        assert body["bot"]["status"] == expected
        assert bot.status == expected
        event = Event.objects.get(type=f"bot_{lifecycle.PAST[Action(action)]}")
        assert event.user_id == owner.pk and event.bot_id == bot.pk
        assert event.payload["previous_status"] == status
        assert AuditEntry.objects.get(action=f"bot.{action}").data == {"from": status, "to": expected}


def test_paused_start_says_use_resume(owner_client, owner):
    bot = BotFactory(owner=owner, status="paused")
    response = owner_client.post(f"/api/bots/{bot.pk}/start")
    assert response.status_code == 409
    assert "use resume" in response.json()["error"]["message"]


def test_table_matches_api_contract():
    for (status, action), expected in TABLE.items():
        assert lifecycle.allowed(status, action) == (not isinstance(expected, int))


@pytest.mark.parametrize("status", ["stopped", "running", "paused", "error"])
def test_can_flags_derive_from_the_table(owner_client, owner, status):
    bot = BotFactory(owner=owner, status=status)
    row = owner_client.get("/api/platforms/simulated/bots").json()["bots"][0]
    for action in Action:
        assert row[f"can_{action}"] == lifecycle.allowed(status, action), (bot.status, action)


# ---------------------------------------------------------------------------
# Force-pause (staff): the owner may stop, never start or resume (423)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["start", "resume"])
def test_force_paused_owner_cannot_start_or_resume(owner_client, owner, action):
    bot = BotFactory(owner=owner, status="paused", force_paused=True, paused_reason="staff: risk review")
    response = owner_client.post(f"/api/bots/{bot.pk}/{action}")
    assert response.status_code == 423
    assert response.json()["error"]["code"] == "BOT_FORCE_PAUSED"
    bot.refresh_from_db()
    assert bot.status == "paused" and bot.force_paused


def test_force_paused_owner_may_stop_and_still_cannot_start(owner_client, owner):
    bot = BotFactory(owner=owner, status="paused", force_paused=True)
    assert owner_client.post(f"/api/bots/{bot.pk}/stop").status_code == 200
    bot.refresh_from_db()
    assert (bot.status, bot.force_paused) == ("stopped", True)
    assert owner_client.post(f"/api/bots/{bot.pk}/start").status_code == 423


def test_force_paused_flags(owner_client, owner):
    BotFactory(owner=owner, status="paused", force_paused=True)
    row = owner_client.get("/api/platforms/simulated/bots").json()["bots"][0]
    assert (row["can_start"], row["can_pause"], row["can_resume"], row["can_stop"]) == (False, False, False, True)


def test_released_bot_stays_paused_and_can_resume(owner_client, owner):
    bot = BotFactory(owner=owner, status="paused", force_paused=True)
    Bot.objects.filter(pk=bot.pk).update(force_paused=False)  # staff release (adminpanel's service)
    bot.refresh_from_db()
    assert bot.status == "paused"
    assert owner_client.post(f"/api/bots/{bot.pk}/resume").status_code == 200


def test_pause_records_reason(owner_client, owner):
    bot = BotFactory(owner=owner, status="running")
    owner_client.post(f"/api/bots/{bot.pk}/pause", {"reason": "checking fees"}, format="json")
    bot.refresh_from_db()
    assert bot.paused_reason == "checking fees"
    assert Event.objects.get(type="bot_paused").payload["reason"] == "checking fees"


def test_system_pause_by_bodyguard_has_reason(owner):
    bot = BotFactory(owner=owner, status="running")
    services.bot_transition(bot_id=bot.pk, action="pause", reason="bodyguard: loss streak of 5")
    bot.refresh_from_db()
    assert bot.paused_reason == "bodyguard: loss streak of 5"
    assert AuditEntry.objects.get(action="bot.pause").actor is None


# ---------------------------------------------------------------------------
# Fleet actions of older clients
# ---------------------------------------------------------------------------
def test_start_all_and_stop_all(owner_client, owner, other_bot):
    stopped = BotFactory(owner=owner, status="stopped")
    errored = BotFactory(owner=owner, status="error")
    paused = BotFactory(owner=owner, status="paused")
    forced = BotFactory(owner=owner, status="stopped", force_paused=True)

    body = owner_client.post("/api/start").json()
    assert body["success"] is True and body["status"] == "started"
    statuses = dict(Bot.objects.filter(owner=owner).values_list("pk", "status"))
    assert statuses == {stopped.pk: "running", errored.pk: "running", paused.pk: "paused", forced.pk: "stopped"}

    body = owner_client.post("/api/stop").json()
    assert body["status"] == "stopped"
    assert set(Bot.objects.filter(owner=owner).values_list("status", flat=True)) == {"stopped"}
    other_bot.refresh_from_db()
    assert other_bot.status == "stopped" and Event.objects.filter(bot_id=other_bot.pk).count() == 0


# ---------------------------------------------------------------------------
# Concurrency: start and stop racing on one bot serialise on the row lock
# ---------------------------------------------------------------------------
@pytest.mark.skipif(not USING_POSTGRES, reason="real concurrency needs PostgreSQL; SQLite variant below")
@pytest.mark.django_db(transaction=True)
def test_concurrent_start_and_stop_serialise_on_postgres(owner):
    for _ in range(5):
        bot = BotFactory(owner=owner, status="running")
        barrier = threading.Barrier(2)
        results: dict[str, str] = {}

        def act(action, bot_id=bot.pk, barrier=barrier, results=results):
            close_old_connections()
            try:
                barrier.wait()
                services.bot_transition(bot_id=bot_id, action=action, user=owner)
                results[action] = "ok"
            except Exception as exc:
                results[action] = type(exc).__name__
            finally:
                connection.close()

        threads = [threading.Thread(target=act, args=(a,)) for a in ("pause", "stop")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        bot.refresh_from_db()
        # Either order is valid; the outcome is always consistent with one serial order.
        if results == {"pause": "ok", "stop": "ok"}:
            assert bot.status == "stopped"  # pause then stop
        else:
            assert results == {"stop": "ok", "pause": "Conflict"} and bot.status == "stopped"
        events = list(Event.objects.filter(bot_id=bot.pk).values_list("type", flat=True))
        assert events.count("bot_stopped") == 1


@pytest.mark.skipif(not USING_POSTGRES, reason="needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_start_and_stop_one_winner_per_state(owner):
    bot = BotFactory(owner=owner, status="stopped")
    barrier = threading.Barrier(2)
    results = {}

    def act(action):
        close_old_connections()
        try:
            barrier.wait()
            services.bot_transition(bot_id=bot.pk, action=action, user=owner)
            results[action] = "ok"
        except Exception as exc:
            results[action] = type(exc).__name__
        finally:
            connection.close()

    threads = [threading.Thread(target=act, args=(a,)) for a in ("start", "stop")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bot.refresh_from_db()
    # start then stop → stopped (both ok); stop first → 409, then start → running.
    assert (results, bot.status) in [
        ({"start": "ok", "stop": "ok"}, "stopped"),
        ({"stop": "Conflict", "start": "ok"}, "running"),
    ]


@pytest.mark.skipif(USING_POSTGRES, reason="the SQLite variant")
@pytest.mark.parametrize(
    ("order", "expected"),
    [(("start", "stop"), ("stopped", ["ok", "ok"])), (("stop", "start"), ("running", ["Conflict", "ok"]))],
)
def test_start_and_stop_serialise_on_sqlite(owner, order, expected):
    """SQLite serialises writers at BEGIN (``transaction_mode: IMMEDIATE``): a second
    transaction waits for the first and then sees its result, so the outcome is always
    one of the two serial orders, shown here. (The in-memory test database cannot
    host two real connections; the PostgreSQL run races them for real.)"""
    bot = BotFactory(owner=owner, status="stopped")
    outcomes = []
    for action in order:
        try:
            services.bot_transition(bot_id=bot.pk, action=action, user=owner)
            outcomes.append("ok")
        except Exception as exc:
            outcomes.append(type(exc).__name__)
    bot.refresh_from_db()
    assert (bot.status, outcomes) == expected
    assert Event.objects.filter(bot_id=bot.pk, type="bot_started").count() == 1
