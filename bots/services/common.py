"""What every bot service shares: the locked row, one audit-and-event record, the field error."""

from __future__ import annotations

import logging

from accounts.services import audit_record
from bots.models import Bot
from bots.serializers import bot_to_dict
from core.errors import Invalid, NotFound
from realtime.services import event_record

logger = logging.getLogger("botfleet.bots")

# Fields PATCH may change while a bot is not stopped (API.md "bots").
RUNTIME_EDITABLE = frozenset(
    {"name", "params", "interval_seconds", "stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "trailing_arm_pct"}
)


class InvalidBot(Invalid):
    """A refused field, named in the message; ``details`` maps it to its messages."""

    default_code = "VALIDATION_ERROR"

    def __init__(self, field: str, message: str, *, details: dict | None = None):
        super().__init__(f"{field}: {message}", details=details or {field: [message]})


def bot_locked(*, bot_id: int, user=None) -> Bot:
    """The live (not deleted) bot, row-locked; scoped to ``user`` unless the caller is the system."""
    queryset = Bot.objects.alive().select_for_update(no_key=True)  # see bots/engine/tick.py's re-check
    if user is not None:
        queryset = queryset.filter(owner=user)
    bot = queryset.filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("Bot not found.")
    return bot


def record(bot: Bot, *, event: str, message: str, actor=None, action: str, data: dict | None = None, **payload):
    """The audit entry and the event of one change (the client's IP comes from the request context)."""
    audit_record(actor=actor, action=action, target=bot, data=data or {})
    event_record(
        type=event, user_id=bot.owner_id, bot_id=bot.pk, payload={"bot": bot_to_dict(bot), **payload}, message=message
    )
