"""Recording events. Only services call this, inside their own transaction."""

from __future__ import annotations

import orjson
from django.db import transaction

from accounts.usage import usage_add
from core.errors import Invalid
from core.renderers import Unserializable, dumps
from realtime import registry
from realtime.models import Event


def event_record(
    *,
    type: str,
    user_id: int | None,
    payload: dict,
    message: str,
    bot_id: int | None = None,
) -> Event:
    """Record an event for ``user_id`` (``None``: staff only) in the caller's transaction.

    The payload is checked against the registered shape, then stored JSON-safe
    (decimals, datetimes, UUIDs, model instances become JSON). The relay publishes it
    after commit; a rolled-back transaction takes its events with it.
    """
    return events_insert([event_build(type=type, user_id=user_id, payload=payload, message=message, bot_id=bot_id)])[0]


def event_build(
    *,
    type: str,
    user_id: int | None,
    payload: dict,
    message: str,
    bot_id: int | None = None,
) -> Event:
    """An event checked against its registered shape and encoded, not yet saved (``events_insert``)."""
    event_type = registry.get(type)
    event_type.check(payload)
    try:
        stored = orjson.loads(dumps(payload, exact=True))
    except Unserializable as exc:
        raise registry.EventShapeError(f"{type}: the payload cannot be encoded ({exc})") from None
    return Event(user_id=user_id, type=type, payload=stored, message=message[:500], bot_id=bot_id)


def events_insert(events: list[Event], *, usage_counted: bool = False) -> list[Event]:
    """Insert built events with one statement, in the transaction of the change they report.

    Each user's usage counts them, unless the caller already did in its own usage write
    (``usage_counted``: one counter update for a whole change). The relay is woken after commit.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_record must run inside the transaction of the change it reports")
    if not events:
        return events
    events = Event.objects.bulk_create(events)
    if not usage_counted:
        per_user: dict[int, int] = {}
        for event in events:
            if event.user_id:  # staff-only events (user None) count for nobody
                per_user[event.user_id] = per_user.get(event.user_id, 0) + 1
        for user_id, count in per_user.items():
            usage_add(user_id=user_id, events=count)
    transaction.on_commit(_wake_relay)
    return events


def _wake_relay() -> None:
    """Nudge the relay so latency is not bounded by its poll (realtime.relay fills this)."""
    from realtime import relay_signal

    relay_signal.notify()


class UnknownTarget(Invalid):
    """The user, or the bot of that user, an ingested event names does not exist."""

    default_code = "VALIDATION_ERROR"

    def __init__(self, field: str, message: str):
        super().__init__(message, details={field: ["does not exist"]})
        self.field = field


class IngestRefused(Invalid):
    """An ingested event of a type that may not be ingested, or of the wrong shape."""

    default_code = "VALIDATION_ERROR"


def event_ingest(*, user_id: int, type: str, payload: dict, message: str = "", bot_id: int | None = None) -> Event:
    """Record an event pushed by an external engine (``POST internal/events``).

    Only types registered with ``ingestible=True``, only for an existing user and, with
    a ``bot_id``, only for a bot of that user: the event goes to that bot's followers, so
    another user's bot id would hand it to them. Raises ``IngestRefused`` (listing the
    types allowed) or ``UnknownTarget`` otherwise, and records nothing.
    """
    try:
        return _ingest(user_id=user_id, type=type, payload=payload, message=message, bot_id=bot_id)
    except registry.EventShapeError as exc:
        allowed = sorted(t.name for t in registry.all_types() if t.ingestible)
        raise IngestRefused(str(exc), details={"allowed_types": allowed}) from None


def _ingest(*, user_id: int, type: str, payload: dict, message: str, bot_id: int | None) -> Event:
    from django.contrib.auth import get_user_model

    event_type = registry.get(type)
    if not event_type.ingestible:
        raise registry.EventShapeError(f"event type {type!r} may not be ingested")
    with transaction.atomic():
        if not get_user_model().objects.filter(pk=user_id).exists():
            raise UnknownTarget("user_id", f"user {user_id} does not exist")
        if bot_id is not None and not _user_owns_bot(user_id, bot_id):
            raise UnknownTarget("bot_id", f"user {user_id} has no bot {bot_id}")
        return event_record(type=type, user_id=user_id, payload=payload, message=message, bot_id=bot_id)


def _user_owns_bot(user_id: int, bot_id: int) -> bool:
    checker = registry.bot_access_checker()
    if checker is not None:
        return bool(checker(user_id, bot_id))
    # No bots app loaded: a bot id already carried by another user's events is not theirs.
    return not Event.objects.filter(bot_id=bot_id).exclude(user_id=user_id).exclude(user_id=None).exists()


def events_purge(*, older_than_days: int | None = None, chunk: int = 5000) -> int:
    """Delete published events older than the retention; returns how many went.

    Raises ``RelayState.purged_through`` to the highest ``seq`` deleted first, in the
    same transaction as each chunk, so a client resuming from below it is told to
    resync instead of silently missing events. Unpublished rows are never purged.
    """
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import Max
    from django.utils import timezone

    from realtime.models import RelayState
    from realtime.relay import ensure_state

    days = settings.EVENT_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    ensure_state()
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Event.objects.filter(created_at__lt=cutoff, published_at__isnull=False)
                .order_by("seq")
                .values_list("id", flat=True)[:chunk]
            )
            if not ids:
                return deleted
            top = Event.objects.filter(id__in=ids).aggregate(top=Max("seq"))["top"] or 0
            state = RelayState.objects.select_for_update().get(pk=RelayState.SINGLETON_ID)
            if top > state.purged_through:
                state.purged_through = top
                state.save(update_fields=["purged_through"])
            deleted += Event.objects.filter(id__in=ids).delete()[0]
