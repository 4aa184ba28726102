"""The training-bay admin page (countdowns, promote, force-promote) and ``manage.py training``."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import AuditEntry
from realtime.models import Event
from tests.factories import StaffFactory
from training.models import TrainingBot

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/training/trainingbot/"


@pytest.fixture
def admin_client_():
    client = Client()
    client.force_login(StaffFactory(is_superuser=True))
    return client


def test_the_page_is_registered_on_the_custom_admin_site():
    from adminpanel.sites import BotfleetAdminSite

    assert isinstance(admin.site, BotfleetAdminSite)
    assert admin.site.is_registered(TrainingBot)


def test_the_page_lists_the_bay_with_countdowns(admin_client_, owner, clock, make_bay_bot):
    make_bay_bot(owner, name="Waiting-bot", started_at=clock.now - timedelta(hours=6, minutes=30))
    make_bay_bot(owner, name="Promoted-bot", started_at=clock.now - timedelta(hours=30), in_training=False)

    response = admin_client_.get(CHANGELIST)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Waiting-bot" in page and "Promoted-bot" not in page
    assert '<td class="field-hours_elapsed">6.5</td>' in page
    assert '<td class="field-hours_remaining">17.5</td>' in page


def test_promote_action_promotes_the_eligible_and_reports_the_rest(admin_client_, owner, clock, make_bay_bot):
    ready = make_bay_bot(owner, name="Ready", started_at=clock.now - timedelta(hours=25))
    waiting = make_bay_bot(owner, name="Waiting", started_at=clock.now - timedelta(hours=1))

    response = admin_client_.post(
        CHANGELIST, {"action": "promote", "_selected_action": [ready.pk, waiting.pk]}, follow=True
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Bot &#x27;Ready&#x27; promoted to live trading" in page
    assert "Cannot promote bot &#x27;Waiting&#x27;: 23 h of its 24 h training remain" in page
    ready.refresh_from_db()
    waiting.refresh_from_db()
    assert (ready.in_training, waiting.in_training) == (False, True)
    assert AuditEntry.objects.get(action="training.promote").data["source"] == "staff"


def test_force_promote_asks_for_a_reason_then_audits_it(admin_client_, owner, clock, make_bay_bot):
    bot = make_bay_bot(owner, name="Early", started_at=clock.now - timedelta(hours=2))
    form = {"action": "force_promote", "_selected_action": [bot.pk]}

    asked = admin_client_.post(CHANGELIST, form)
    assert asked.status_code == 200
    assert "Force promotion" in asked.content.decode() and "22.0 h of training left" in asked.content.decode()
    bot.refresh_from_db()
    assert bot.in_training is True

    blank = admin_client_.post(CHANGELIST, {**form, "apply": "1", "reason": "  "})
    assert blank.status_code == 200  # the form again, nothing done
    bot.refresh_from_db()
    assert bot.in_training is True

    done = admin_client_.post(CHANGELIST, {**form, "apply": "1", "reason": "incident 42: owner vetted"}, follow=True)
    assert done.status_code == 200
    bot.refresh_from_db()
    assert bot.in_training is False
    audit = AuditEntry.objects.get(action="training.force_promote")
    assert (audit.data["reason"], audit.data["hours_remaining_waived"]) == ("incident 42: owner vetted", 22.0)
    assert Event.objects.get(type="bot_promoted").payload["reason"] == "incident 42: owner vetted"


def test_non_staff_cannot_see_the_page(owner, make_bay_bot, clock):
    client = Client()
    client.force_login(owner)
    assert client.get(CHANGELIST).status_code == 302  # to the admin login


def _call(*args) -> str:
    out = StringIO()
    call_command("training", *args, stdout=out)
    return out.getvalue()


def test_command_lists_the_bay(owner, other_user, clock, make_bay_bot):
    mine = make_bay_bot(owner, name="Mine", started_at=clock.now - timedelta(hours=25))
    make_bay_bot(other_user, name="Theirs", started_at=clock.now - timedelta(hours=1))

    everything = _call("list")
    assert "Mine" in everything and "Theirs" in everything
    assert "2 bot(s) in the training bay; minimum 24 h" in everything
    only_mine = _call("list", "--user", owner.email)
    assert f"{mine.pk:>6}  Mine" in only_mine and "Theirs" not in only_mine
    assert "  25.0h    0.0h  yes" in only_mine


def test_command_promotes_by_id(owner, clock, make_bay_bot):
    ready = make_bay_bot(owner, name="Ready", started_at=clock.now - timedelta(hours=25))
    early = make_bay_bot(owner, name="Early", started_at=clock.now - timedelta(hours=1))

    assert _call("promote", str(ready.pk)).startswith("Bot 'Ready' promoted to live trading after 25 h")
    assert _call("promote", str(ready.pk)).startswith("Bot 'Ready' was already promoted")
    with pytest.raises(CommandError, match="23 h of its 24 h training remain"):
        _call("promote", str(early.pk))
    with pytest.raises(CommandError, match="--force needs --reason"):
        _call("promote", str(early.pk), "--force")
    assert "(forced by an operator)" in _call("promote", str(early.pk), "--force", "--reason", "ops ticket 7")
    with pytest.raises(CommandError, match="no bot 999999"):
        _call("promote", "999999")
    assert AuditEntry.objects.get(action="training.force_promote").data["reason"] == "ops ticket 7"
    assert _call("check").startswith("0 bot(s)")
