"""The bots domain speaks core.errors and is never handed a request (issue 17 items 2 and 5).

The API's statuses and codes for these refusals are pinned by test_lifecycle and
test_api; here: what the services themselves raise, that the audit trail still learns
the client's IP without a request, and that staff force-pause is the lifecycle's.
"""

from __future__ import annotations

import ast
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEntry
from bots import lifecycle, services
from bots.lifecycle import Action
from bots.models import Bot
from core import errors
from realtime.models import Event
from tests.bots.factories import BotFactory

pytestmark = pytest.mark.django_db

BOTS = Path(__file__).resolve().parents[2] / "bots"
HTTP = ("rest_framework", "django.http", "django.shortcuts")


def _http_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [f"{path.relative_to(BOTS.parent)}:{node.lineno} {n}" for n in names if n.startswith(HTTP)]
    return found


def test_the_bots_domain_imports_nothing_of_http():
    """Services, selectors, the engine and the commands: the layers issue 17 keeps free of HTTP."""
    paths = [BOTS / "selectors.py", *(BOTS / "services").glob("*.py"), *(BOTS / "engine").rglob("*.py")]
    paths += (BOTS / "management").rglob("*.py")
    assert len(paths) > 10
    wrong = [hit for path in sorted(paths) for hit in _http_imports(path)]
    assert not wrong, wrong


def test_a_refused_transition_is_a_domain_conflict(owner):
    bot = BotFactory(owner=owner)
    with pytest.raises(errors.Conflict) as caught:
        services.bot_pause(user=owner, bot_id=bot.pk)
    assert caught.value.code == "INVALID_TRANSITION"
    assert caught.value.details == {"status": "stopped", "action": "pause", "force_paused": False}
    assert "only a running bot can be paused" in caught.value.message


def test_another_users_bot_is_a_domain_not_found(owner, other_user):
    bot = BotFactory(owner=other_user)
    with pytest.raises(errors.NotFound, match="Bot not found."):
        services.bot_start(user=owner, bot_id=bot.pk)
    assert Bot.objects.get(pk=bot.pk).status == "stopped"


def test_a_force_paused_bot_is_locked_for_its_owner(owner, staff):
    bot = BotFactory(owner=owner, status="running")
    services.bot_force_pause(bot_id=bot.pk, actor=staff, reason="review")
    with pytest.raises(errors.Locked) as caught:
        services.bot_transition(bot_id=bot.pk, action=Action.RESUME, user=owner)
    assert caught.value.code == "BOT_FORCE_PAUSED"


def test_a_bad_field_is_invalid_naming_it(owner):
    data = {
        "name": "x",
        "exchange": "nowhere",
        "symbol": "BTC/USDT",
        "strategy": "sma_cross",
        "timeframe": "1m",
        "interval_seconds": 60,
        "trading_mode": "paper",
        "capital": 100,
    }
    with pytest.raises(errors.Invalid) as caught:
        services.bot_create(user=owner, data=data)
    assert isinstance(caught.value, services.InvalidBot)
    assert caught.value.code == "VALIDATION_ERROR"
    assert caught.value.message.startswith("exchange: unknown exchange 'nowhere'")
    assert list(caught.value.details) == ["exchange"]
    assert not Bot.objects.exists()


@pytest.mark.parametrize("action", ["start", "stop"])
def test_an_api_action_audits_the_clients_ip_from_the_request_context(owner_api, action):
    bot = BotFactory(owner=owner_api.user, status="running" if action == "stop" else "stopped")
    response = owner_api.post(f"/api/bots/{bot.pk}/{action}", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    entry = AuditEntry.objects.get(action=f"bot.{action}")
    assert (entry.ip_address, entry.request_id) == ("203.0.113.9", response["X-Request-ID"])


def test_a_command_acts_without_a_request_and_audits_no_ip(owner):
    bot = BotFactory(owner=owner, status="running")
    call_command("bots", "pause", str(bot.pk), "--reason", "ops", stdout=StringIO())
    entry = AuditEntry.objects.get(action="bot.pause")
    assert (entry.actor, entry.ip_address) == (None, None)


@pytest.mark.parametrize(
    ("status", "after"), [("running", "paused"), ("error", "paused"), ("paused", "paused"), ("stopped", "stopped")]
)
def test_staff_force_pause_follows_the_lifecycles_rule(owner, staff, status, after):
    bot = BotFactory(owner=owner, status=status)
    paused, changed = services.bot_force_pause(bot_id=bot.pk, actor=staff, reason="risk")
    assert changed and (paused.status, paused.force_paused, paused.next_tick_at) == (after, True, None)
    assert lifecycle.FORCE_PAUSED_STATUS.get(status, status) == after
    assert Bot.objects.get(pk=bot.pk).status == after
    event = Event.objects.get(type="bot_paused", bot_id=bot.pk)
    assert event.payload["previous_status"] == status and event.payload["actor_id"] == staff.pk
    # A second force-pause changes nothing and records nothing.
    _again, changed = services.bot_force_pause(bot_id=bot.pk, actor=staff, reason="again")
    assert not changed and Event.objects.filter(type="bot_paused", bot_id=bot.pk).count() == 1


def test_staff_release_keeps_the_status_and_lets_the_owner_resume(owner, staff):
    bot = BotFactory(owner=owner, status="running")
    services.bot_force_pause(bot_id=bot.pk, actor=staff)
    released = services.bot_release(bot_id=bot.pk, actor=staff)
    assert (released.status, released.force_paused) == ("paused", False)
    assert released.paused_reason == "released by staff; resume to trade"
    assert AuditEntry.objects.filter(action="admin.bot_released", actor=staff).count() == 1
    resumed, _message = services.bot_transition(bot_id=bot.pk, action=Action.RESUME, user=owner)
    assert resumed.status == "running"


@pytest.mark.parametrize("command", [("bots", "start"), ("training", "promote")])
def test_commands_name_a_missing_bot_from_the_domains_not_found(command):
    # bot_locked raises core.errors.NotFound: the commands still answer in their own words.
    with pytest.raises(CommandError, match="^no bot 999999$"):
        call_command(*command, "999999", stdout=StringIO())
