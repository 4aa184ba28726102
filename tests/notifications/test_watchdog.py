"""The engine watchdog: 60 s without a worker heartbeat → engine_offline to staff and to
owners of running bots; engine_online once a worker beats again; alerts delivered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bots.models import Bot, WorkerHeartbeat
from notifications import watchdog
from realtime.models import Event
from tests.bots.factories import BotFactory
from tests.notifications.conftest import publish

pytestmark = pytest.mark.django_db


def _beat(at) -> None:
    WorkerHeartbeat.objects.update_or_create(name="worker@test", defaults={"last_seen": at})


def test_offline_after_sixty_silent_seconds_then_online_when_work_resumes(owner, other_user, staff):
    BotFactory(owner=owner, status=Bot.Status.RUNNING)
    BotFactory(owner=other_user, status=Bot.Status.STOPPED)
    now = timezone.now()
    _beat(now - timedelta(seconds=30))
    assert watchdog.engine_watch(now=now) is None  # 30 s: still online
    assert watchdog.engine_watch(now=now + timedelta(seconds=29)) is None  # 59 s
    assert watchdog.engine_watch(now=now + timedelta(seconds=31)) == "offline"  # 61 s
    offline = list(Event.objects.filter(type="engine_offline").values_list("user_id", flat=True))
    assert sorted(offline, key=str) == sorted([None, owner.pk], key=str)  # staff, and the running bot's owner
    assert watchdog.engine_watch(now=now + timedelta(seconds=45)) is None  # told once, not every look
    _beat(now + timedelta(seconds=50))
    assert watchdog.engine_watch(now=now + timedelta(seconds=51)) == "online"
    online = Event.objects.get(type="engine_online", user_id=None)
    assert online.payload["offline_seconds"] == pytest.approx(20, abs=1)
    assert Event.objects.filter(type="engine_online", user_id=owner.pk).exists()


def test_a_worker_that_stopped_cleanly_counts_from_its_last_beat_seen(owner):
    now = timezone.now()
    _beat(now)
    watchdog.engine_watch(now=now)
    WorkerHeartbeat.objects.all().delete()  # a clean shutdown removes the row
    assert watchdog.engine_watch(now=now + timedelta(seconds=30)) is None
    assert watchdog.engine_watch(now=now + timedelta(seconds=61)) == "offline"


def test_the_watchdog_delivers_the_alert_itself_while_no_worker_runs(staff_api, receiver):
    from notifications.dispatch import fanout

    fanout()  # the cursor starts here
    body = staff_api.post(
        "/api/notifications/channels", {"kind": "webhook", "url": receiver.url, "ops": True}, format="json"
    ).json()
    receiver.secret = body["secret"]
    _beat(timezone.now() - timedelta(seconds=120))
    watchdog.engine_watch()
    publish()  # the relay runs in its own process: it numbers the alert
    watchdog.watch_and_rescue()  # beat's thread: fans out and sends, no worker needed
    [got] = receiver.wait_for(1)
    assert got["body"]["type"] == "engine_offline"
