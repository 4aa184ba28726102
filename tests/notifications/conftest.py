from __future__ import annotations

import pytest
from django.db.models import Max
from django.utils import timezone

from realtime.models import Event
from realtime.services import event_record
from tests.fakes.notify import FakeTelegram, WebhookReceiver


@pytest.fixture
def receiver():
    fake = WebhookReceiver().start()
    yield fake
    fake.stop()


@pytest.fixture
def telegram(settings):
    fake = FakeTelegram().start()
    settings.TELEGRAM_API_URL = fake.url
    settings.TELEGRAM_BOT_TOKEN = fake.token
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _fast_notifications(settings):
    settings.NOTIFICATIONS_HTTP_TIMEOUT = 2.0
    settings.NOTIFICATIONS_ALLOW_PRIVATE_URLS = True  # the fakes listen on 127.0.0.1


def publish() -> list[int]:
    """What the relay does to committed events: number them in order (and confirm)."""
    top = Event.objects.aggregate(top=Max("seq"))["top"] or 0
    seqs = []
    for offset, event in enumerate(Event.objects.filter(seq__isnull=True).order_by("id"), start=1):
        Event.objects.filter(pk=event.pk).update(seq=top + offset, published_at=timezone.now())
        seqs.append(top + offset)
    return seqs


def record(user, type_="bot_paused", *, name="Bot-1", bot_id=7, message=None) -> int:
    """Record one event for ``user`` and publish it; returns its seq."""
    payloads = {
        "bot_paused": {"bot": {"id": bot_id, "name": name}, "reason": "bodyguard"},
        "trade_executed": {"trade": {"id": 1, "side": "buy"}, "bot_id": bot_id},
        "training_eligible": {"bot": {"id": bot_id}, "hours_elapsed": 25, "min_training_hours": 24},
    }
    event_record(
        type=type_,
        user_id=user.pk if user is not None else None,
        payload=payloads[type_],
        message=message or f"Bot '{name}' {type_}",
        bot_id=bot_id,
    )
    return publish()[-1]


@pytest.fixture
def start_cursor(db):
    """The fan-out starts at the newest seq on first run: make that run happen first."""
    from notifications.dispatch import fanout

    fanout()
