"""The event-type registry: apps declare what they emit; realtime carries it blindly.

Each type has a payload shape (required and optional keys with their Python types)
and an SSE category. Recording an unregistered type, or a payload of the wrong
shape, raises ``EventShapeError`` — loudly, so tests catch it (STYLE.md, "Every event
type has a payload shape checked by a test").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# SSE categories (API.md "realtime").
BOT_UPDATE = "bot_update"
TRADE_UPDATE = "trade_update"
ADMIN_UPDATE = "admin_update"
CATEGORIES = frozenset({BOT_UPDATE, TRADE_UPDATE, ADMIN_UPDATE})


# Keys every event carries beside its payload (API.md "realtime"); a payload may not use them.
RESERVED_KEYS = frozenset({"type", "seq", "timestamp", "message"})


class EventShapeError(ValueError):
    pass


@dataclass(frozen=True)
class EventType:
    name: str
    category: str
    description: str
    required: dict[str, type | tuple[type, ...]] = field(default_factory=dict)
    optional: dict[str, type | tuple[type, ...]] = field(default_factory=dict)
    # Internal ingestion (POST internal/events) may push this type for a user.
    ingestible: bool = False

    def check(self, payload: dict) -> None:
        if not isinstance(payload, dict):
            raise EventShapeError(f"{self.name}: payload must be a dict, not {type(payload).__name__}")
        missing = sorted(set(self.required) - set(payload))
        if missing:
            raise EventShapeError(f"{self.name}: payload lacks {', '.join(missing)}")
        unknown = sorted(set(payload) - set(self.required) - set(self.optional))
        if unknown:
            raise EventShapeError(f"{self.name}: payload has undeclared keys {', '.join(unknown)}")
        for key, value in payload.items():
            expected = self.required.get(key) or self.optional.get(key)
            if value is not None and not isinstance(value, expected):
                raise EventShapeError(f"{self.name}: {key} must be {expected}, not {type(value).__name__}")


_types: dict[str, EventType] = {}
_overview_provider: Callable[[int], dict] | None = None
_bot_access_checker: Callable[[int, int], bool] | None = None


def register(event_type: EventType) -> EventType:
    if event_type.category not in CATEGORIES:
        raise EventShapeError(f"{event_type.name}: unknown category {event_type.category!r}")
    clashes = sorted(RESERVED_KEYS & (set(event_type.required) | set(event_type.optional)))
    if clashes:
        raise EventShapeError(f"{event_type.name}: payload keys {', '.join(clashes)} are reserved")
    existing = _types.get(event_type.name)
    if existing is not None and existing != event_type:
        raise EventShapeError(f"event type {event_type.name!r} registered twice with different shapes")
    _types[event_type.name] = event_type
    return event_type


def get(name: str) -> EventType:
    try:
        return _types[name]
    except KeyError:
        raise EventShapeError(f"unregistered event type {name!r}") from None


def all_types() -> list[EventType]:
    return sorted(_types.values(), key=lambda t: t.name)


def register_overview_provider(provider: Callable[[int], dict]) -> None:
    """``provider(user_id)`` returns ``{active_bots, total_bots, total_profit}`` for SSE."""
    global _overview_provider
    _overview_provider = provider


def overview_provider() -> Callable[[int], dict] | None:
    return _overview_provider


def register_bot_access_checker(checker: Callable[[int, int], bool]) -> None:
    """``checker(user_id, bot_id)`` says whether that user owns the bot (per-bot subscriptions).

    Filled by ``bots`` (realtime may not import it). Called from a worker thread, so it
    may use the ORM. Until one is registered, a user may follow a bot whose events the
    event table already holds for them; staff may follow any bot.
    """
    global _bot_access_checker
    _bot_access_checker = checker


def bot_access_checker() -> Callable[[int, int], bool] | None:
    return _bot_access_checker


# -- hooks for apps realtime may not import -------------------------------------------------
_engine_status_provider: Callable[[], dict] | None = None
_publish_listeners: list[Callable[[list[int]], None]] = []


def register_engine_status_provider(provider: Callable[[], dict]) -> None:
    """``provider()`` returns ``{last_heartbeat: datetime | None, running_owner_ids: [int]}``.

    Filled by ``bots`` (which owns the worker heartbeats); read by the engine watchdog
    in ``notifications``, which may import realtime but not bots.
    """
    global _engine_status_provider
    _engine_status_provider = provider


def engine_status_provider() -> Callable[[], dict] | None:
    return _engine_status_provider


def add_publish_listener(listener: Callable[[list[int]], None]) -> None:
    """``listener(seqs)`` runs after the relay confirmed a batch (on the relay's database
    thread): it must return at once (hand work to a thread or a queue) and never raise.
    Notifications use it to fan events out within milliseconds of their publication."""
    if listener not in _publish_listeners:
        _publish_listeners.append(listener)


def publish_listeners() -> list[Callable[[list[int]], None]]:
    return list(_publish_listeners)
