"""Events as JSON, built once by the relay and forwarded verbatim by every stream.

Serialization never fails: orjson with ``core.renderers.json_default`` turns
datetimes, decimals, UUIDs, model instances (their ids), sets and bytes into JSON.
"""

from __future__ import annotations

import datetime

from core.renderers import dumps
from realtime import registry

# The channel-layer message type the consumers and the SSE stream handle.
EVENT_MESSAGE_TYPE = "realtime.event"


def event_json(*, type: str, seq: int, payload: dict, message: str, created_at: datetime.datetime) -> str:
    """The client-facing event: ``{type, seq, <payload keys>, message, timestamp}``.

    Raises ``Unserializable`` for a payload JSON can only carry by losing part of it;
    anything else a row may hold (integers beyond 64 bits included) is encoded exactly.
    """
    body = {"type": type, "seq": seq, **payload, "message": message, "timestamp": created_at}
    return dumps(body, exact=True).decode()


def category_of(type: str) -> str:
    try:
        return registry.get(type).category
    except registry.EventShapeError:
        # An event recorded by code that is no longer loaded still gets delivered.
        return registry.BOT_UPDATE


def layer_message(row: dict) -> dict:
    """What the relay sends to the groups: the JSON text once, plus what streams route by."""
    return {
        "type": EVENT_MESSAGE_TYPE,
        "seq": row["seq"],
        "category": category_of(row["type"]),
        "text": event_json(
            type=row["type"],
            seq=row["seq"],
            payload=row["payload"],
            message=row["message"],
            created_at=row["created_at"],
        ),
    }


def groups_for(*, user_id: int | None, bot_id: int | None) -> list[str]:
    """The channel-layer groups an event goes to: its user, its bot's followers, staff."""
    groups = []
    if user_id is not None:
        groups.append(user_group(user_id))
    if bot_id is not None:
        groups.append(bot_group(bot_id))
    groups.append(STAFF_GROUP)
    return groups


STAFF_GROUP = "staff"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def bot_group(bot_id: int) -> str:
    return f"bot.{bot_id}"
