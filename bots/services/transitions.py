"""Start, stop, pause and resume, one bot or all of a user's, by the state table of bots.lifecycle;
staff force-pause and release."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.services import audit_record
from bots import analytics, lifecycle, venues
from bots.lifecycle import Action
from bots.models import Bot
from bots.serializers import bot_to_dict
from bots.services.books import positions_close_in_books
from bots.services.bots import live_venue_refusal
from bots.services.common import bot_locked, record
from core.errors import ApplicationError, Conflict, Locked
from realtime.services import event_record


def _apply_transition(
    bot: Bot,
    action: Action,
    *,
    actor,
    reason: str = "",
    close_positions: bool = False,
) -> str:
    """Move a locked bot along the state table; returns the message. Raises Conflict/Locked."""
    to = _target(bot, action)
    previous = bot.status
    _move(bot, action, to, reason=reason)
    past = lifecycle.PAST[action]
    message = f"Bot '{bot.name}' {past}"
    if action in (Action.START, Action.RESUME) and bot.in_training:
        message += " in the training bay (paper fills until promotion)"
    extra: dict = {"previous_status": previous}
    if reason:
        extra["reason"] = reason[:300]
    if actor is not None and actor.pk:
        extra["actor_id"] = actor.pk
    if action == Action.STOP:
        closed = positions_close_in_books(bot=bot, reason="close_on_stop") if close_positions else []
        if close_positions:
            extra["closed_positions"] = closed
            if closed:
                message += f" and closed {len(closed)} position{'s' if len(closed) > 1 else ''}"
        bot.refresh_from_db()
    record(
        bot,
        event=f"bot_{past}",
        message=message,
        actor=actor,
        action=f"bot.{action}",
        data={"from": previous, "to": to, **({"reason": reason} if reason else {})},
        **extra,
    )
    return message


def _target(bot: Bot, action: Action) -> str:
    """The status ``action`` leads to, or the refusal: the state table (``Conflict``, or
    ``Locked`` for a force-paused bot), then a live bot's venue and keys on start and resume."""
    try:
        to = lifecycle.target(bot.status, action, force_paused=bot.force_paused)
    except lifecycle.TransitionRefused as exc:
        error = Locked if exc.locked else Conflict
        raise error(
            f"Cannot {action} bot '{bot.name}': {exc.reason}",
            code="BOT_FORCE_PAUSED" if exc.locked else "INVALID_TRANSITION",
            details={"status": bot.status, "action": str(action), "force_paused": bot.force_paused},
        ) from None
    if action not in (Action.START, Action.RESUME):
        return to
    live_real = bot.trading_mode == Bot.Mode.LIVE and venues.is_real(bot.exchange)
    unsupported = live_venue_refusal(bot.exchange) if live_real else ""
    if unsupported:
        raise Conflict(f"Cannot {action} bot '{bot.name}': {unsupported}", code="LIVE_VENUE_UNSUPPORTED")
    if action == Action.START and live_real and not bot.credential_id:
        raise Conflict(
            f"Cannot start bot '{bot.name}': live trading on {bot.exchange} needs a live key set",
            code="LIVE_KEYS_MISSING",
        )
    return to


def _move(bot: Bot, action: Action, to: str, *, reason: str) -> None:
    """Write the new status and what goes with it (the next tick, the pause reason)."""
    fields = ["status", "updated_at"]
    if action in (Action.START, Action.RESUME):
        bot.next_tick_at, bot.paused_reason = timezone.now(), ""
        fields += ["next_tick_at", "paused_reason"]
        if action == Action.START:
            bot.last_error, bot.consecutive_errors = "", 0
            fields += ["last_error", "consecutive_errors"]
    elif action == Action.PAUSE:
        bot.paused_reason = (reason or "paused by its owner")[:300]
        bot.next_tick_at = None
        fields += ["paused_reason", "next_tick_at"]
    elif action == Action.STOP:
        bot.paused_reason, bot.next_tick_at = "", None
        fields += ["paused_reason", "next_tick_at"]
    bot.status = to
    bot.save(update_fields=fields)
    analytics.summary_invalidate(bot.owner_id)


def bot_transition(
    *,
    bot_id: int,
    action: Action | str,
    user=None,
    actor=None,
    reason: str = "",
    close_positions: bool = False,
) -> tuple[Bot, str]:
    """start / pause / resume / stop one bot. ``user`` scopes the lookup (owner actions);
    ``None`` is a system caller (engine, bodyguard, staff tools) who acts as ``actor``."""
    with transaction.atomic():
        bot = bot_locked(bot_id=bot_id, user=user)
        message = _apply_transition(
            bot,
            Action(action),
            actor=actor if actor is not None else user,
            reason=reason,
            close_positions=close_positions,
        )
    return bot, message


def bot_start(*, user, bot_id: int) -> tuple[Bot, str]:
    return bot_transition(bot_id=bot_id, action=Action.START, user=user)


def bot_stop(*, user, bot_id: int, close_positions: bool = False) -> tuple[Bot, str]:
    return bot_transition(bot_id=bot_id, action=Action.STOP, user=user, close_positions=close_positions)


def bot_pause(*, user, bot_id: int, reason: str = "") -> tuple[Bot, str]:
    return bot_transition(bot_id=bot_id, action=Action.PAUSE, user=user, reason=reason)


def bots_transition_all(*, user, action: Action) -> dict:
    """Older clients' ``POST start`` / ``POST stop``: every bot of the user the action applies to.

    Bots the table refuses (already running, force-paused, live without keys) are
    skipped and counted, not errors.
    """
    done, skipped = [], []
    with transaction.atomic():
        for bot in Bot.objects.of(user).select_for_update().order_by("pk"):
            if not lifecycle.allowed(bot.status, action, force_paused=bot.force_paused):
                skipped.append(bot.pk)
                continue
            try:
                with transaction.atomic():
                    _apply_transition(bot, action, actor=user)
                done.append(bot.pk)
            except ApplicationError:
                skipped.append(bot.pk)
    return {"done": done, "skipped": skipped}


# ---------------------------------------------------------------------------
# Staff: force-pause and release
# ---------------------------------------------------------------------------
def _staff_state(bot: Bot) -> dict:
    return {
        "status": bot.status,
        "force_paused": bot.force_paused,
        "paused_reason": bot.paused_reason,
        "override_rules": bot.override_rules,
    }


def _actor_id(actor) -> dict:
    return {"actor_id": actor.pk} if actor is not None and actor.pk else {}


def bot_force_pause(*, bot_id: int, actor, reason: str = "") -> tuple[Bot, bool]:
    """Staff pause a bot at once and block its owner from starting or resuming it (``Locked``).

    A running (or erroring) bot becomes ``paused``; a stopped bot stays stopped but its
    owner cannot start it; either way the engine stops ticking it at once. Returns the
    bot and whether it changed (an already force-paused bot is left as it is).
    """
    with transaction.atomic():
        bot = bot_locked(bot_id=bot_id)
        if bot.force_paused:
            return bot, False
        before, previous = _staff_state(bot), bot.status
        bot.force_paused = True
        bot.paused_reason = (reason or "paused by staff")[:300]
        bot.status = lifecycle.FORCE_PAUSED_STATUS.get(bot.status, bot.status)
        bot.next_tick_at = None
        bot.save(update_fields=["force_paused", "paused_reason", "status", "next_tick_at", "updated_at"])
        if bot.status != previous:
            analytics.summary_invalidate(bot.owner_id)  # its active_bots count
        after = _staff_state(bot)
        audit_record(actor=actor, action="admin.bot_force_paused", target=bot, data={"before": before, "after": after})
        event_record(
            type="bot_paused",
            user_id=bot.owner_id,
            bot_id=bot.pk,
            payload={
                "bot": bot_to_dict(bot),
                "reason": bot.paused_reason,
                "previous_status": previous,
                **_actor_id(actor),
            },
            message=f"Bot '{bot.name}' paused by staff: {bot.paused_reason}",
        )
    return bot, True


def bot_release(*, bot_id: int, actor) -> Bot:
    """Staff lift a force-pause. The bot stays paused (or stopped); its owner decides to resume."""
    with transaction.atomic():
        bot = bot_locked(bot_id=bot_id)
        if not bot.force_paused:
            return bot
        before = _staff_state(bot)
        bot.force_paused = False
        bot.paused_reason = "released by staff; resume to trade" if bot.status == Bot.Status.PAUSED else ""
        bot.save(update_fields=["force_paused", "paused_reason", "updated_at"])
        audit_record(
            actor=actor, action="admin.bot_released", target=bot, data={"before": before, "after": _staff_state(bot)}
        )
        event_record(
            type="bot_released",
            user_id=bot.owner_id,
            bot_id=bot.pk,
            payload={"bot": bot_to_dict(bot), **_actor_id(actor)},
            message=f"Bot '{bot.name}' released by staff; it stays {bot.status} until its owner acts",
        )
    return bot
