"""What a delivery says: the webhook's JSON document and the text of e-mails and Telegram."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from notifications.models import Delivery
from realtime.models import Event

TEXT_LINES = 10  # events listed in one grouped text message


MAX_EVENTS = 1000  # events one message carries in full (``count`` says how many there were)


def events_of(delivery: Delivery) -> list[dict]:
    """The events a delivery carries: its type, its channel's audience, its seq range."""
    if delivery.event_seq is None:
        return []
    channel = delivery.channel
    audience = Q(user_id=channel.user_id)
    if channel.is_ops or delivery.user.is_staff:
        audience |= Q(user_id__isnull=True)
    rows = (
        Event.objects.filter(audience, type=delivery.event_type, failed_at__isnull=True)
        .filter(seq__gte=delivery.event_seq, seq__lte=delivery.last_seq or delivery.event_seq)
        .order_by("seq")
        .values("seq", "type", "payload", "message", "created_at", "bot_id")
    )
    return list(rows[:MAX_EVENTS])


def _event_json(row: dict) -> dict:
    # The stream's shape (API.md "realtime"): type, seq, timestamp, message and the payload.
    return {
        **(row["payload"] or {}),
        "type": row["type"],
        "seq": row["seq"],
        "timestamp": row["created_at"].isoformat(),
        "message": row["message"],
        "bot_id": row["bot_id"],
    }


def webhook_document(delivery: Delivery, events: list[dict]) -> dict:
    return {
        "idempotency_key": delivery.key,
        "delivery_id": delivery.pk,
        "channel_id": delivery.channel_id,
        "type": delivery.event_type,
        "count": max(delivery.count, len(events)),
        "test": delivery.event_seq is None,
        "message": _summary(delivery, events),
        "events": [_event_json(e) for e in events],
        "sent_at": timezone.now().isoformat(),
    }


def _summary(delivery: Delivery, events: list[dict]) -> str:
    if delivery.event_seq is None:
        return "Test notification from Botfleet: this channel works."
    if len(events) == 1:
        return events[0]["message"] or events[0]["type"]
    return f"{len(events)} × {delivery.event_type} since {events[0]['created_at']:%H:%M:%S} UTC"


def text(delivery: Delivery, events: list[dict]) -> tuple[str, str]:
    """``(subject, body)`` for e-mail and Telegram."""
    summary = _summary(delivery, events)
    lines = [f"Botfleet: {summary}"]
    if len(events) > 1:
        lines += [f"• {e['message'] or e['type']}" for e in events[:TEXT_LINES]]
        if len(events) > TEXT_LINES:
            lines.append(f"… and {len(events) - TEXT_LINES} more")
    lines.append("")
    lines.append(f"Reference: {delivery.key}")
    return f"[Botfleet] {summary}"[:200], "\n".join(lines)
