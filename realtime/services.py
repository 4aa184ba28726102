"""Recording events. Only services call this, inside their own transaction."""

from __future__ import annotations

import orjson
from django.db import transaction

from accounts.api.renderers import dumps
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
    event_type = registry.get(type)
    event_type.check(payload)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_record must run inside the transaction of the change it reports")
    event = Event.objects.create(
        user_id=user_id, type=type, payload=orjson.loads(dumps(payload)), message=message[:500], bot_id=bot_id
    )
    transaction.on_commit(_wake_relay)
    return event


def _wake_relay() -> None:
    """Nudge the relay so latency is not bounded by its poll (realtime.relay fills this)."""
    from realtime import relay_signal

    relay_signal.notify()
