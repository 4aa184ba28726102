"""Staff bot actions go through the bots lifecycle (issue 17 item 5): its refusals are
domain errors, which the admin reports per row and the staff API answers as before."""

from __future__ import annotations

import pytest

from adminpanel import services
from bots.models import Bot
from core import errors
from tests.bots.factories import BotFactory

pytestmark = pytest.mark.django_db


def test_a_refused_staff_stop_in_the_admin_is_reported_not_a_crash(site_client, owner):
    idle = BotFactory(owner=owner, status="stopped", name="Idle")
    busy = BotFactory(owner=owner, status="running", name="Busy")
    response = site_client.post(
        "/admin/bots/bot/", {"action": "stop_selected", "_selected_action": [str(idle.pk), str(busy.pk)]}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Cannot stop bot &#x27;Idle&#x27;: the bot is already stopped" in page
    assert "1 bot(s) stopped" in page
    assert Bot.objects.get(pk=busy.pk).status == "stopped"


def test_a_deleted_bot_cannot_be_force_paused(site_client, running_bot):
    running_bot.deleted_at = running_bot.updated_at
    running_bot.save(update_fields=["deleted_at"])
    with pytest.raises(errors.NotFound, match="Bot not found."):
        services.bot_force_pause(actor=site_client.user, bot_id=running_bot.pk, reason="x")


def test_a_force_pause_of_a_missing_bot_is_a_404_envelope(staff_client):
    response = staff_client.post("/api/admin/bots/999999/override", {"force_pause": True}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert response.json()["error"]["message"] == "Bot not found."
