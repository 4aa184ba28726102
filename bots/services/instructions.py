"""Acting on a bot at once: an owner's order, close or cancel, or an accepted signal (INSTRUCTION_API.md).

:func:`instruction_submit` runs one tick of the bot *now* with the instruction injected
in place of its strategy's decision (:func:`bots.engine.tick.tick_bot`), so the order
meets every rule the bot's own orders meet: the lease (one worker at a time), reconcile
first, protective exits first, the trade limiter, the re-entry rule, sizing and the
venue's minimums, the training bay, ``ENABLE_TRADING``, the fleet halt, staff overrides
and force-pause, the re-check under the row lock, and the bodyguard after the tick.

It does not check who asks: the API resolves the bot among the user's own
(``bots.selectors.bot_get``) and a signal among the webhook's bot before calling it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import transaction

from bots.engine.instruction import (
    BUY_ACTION,
    CANCEL,
    CLOSE,
    MANUAL,
    SELL_ACTION,
    Instruction,
    InstructionError,
    client_order_id,
)
from bots.models import Bot, Order
from bots.serializers import order_to_dict
from core.errors import Conflict, Invalid, NotFound
from realtime.services import event_record

__all__ = [
    "Instruction",
    "InstructionError",
    "InstructionResult",
    "bot_close",
    "bot_order_cancel",
    "bot_order_place",
    "instruction_build",
    "instruction_submit",
]

# Refusal codes (InstructionResult.code).
REFUSED = "refused"  # a rule said no; ``reason`` says which
NOT_RUNNING = "bot_not_running"  # stopped, paused, force-paused, deleted
BUSY = "bot_busy"  # another tick held the bot for longer than the wait
FAILED = "tick_failed"  # the tick raised (no market data, venue down, no key set)
REJECTED = "order_rejected"  # the venue refused the order

WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class InstructionResult:
    """What came of an instruction: the order placed (or canceled), or why none was."""

    order: Order | None = None
    code: str = ""  # "" when accepted
    reason: str = ""  # the refusal as a sentence

    @property
    def accepted(self) -> bool:
        return not self.code


def instruction_build(**fields) -> Instruction:
    """A validated :class:`Instruction` from plain values, or ``Invalid`` naming the field."""
    try:
        return Instruction.build(**fields)
    except InstructionError as exc:
        raise Invalid.for_fields({exc.field: [exc.message]}) from None


# What submitting reads of the bot: whether it runs, and what a refusal's event names.
_RUN_FIELDS = ("status", "force_paused", "deleted_at")
_SUBMIT_FIELDS = ("id", "owner_id", "name", *_RUN_FIELDS)


def _not_running(bot: Bot) -> str:
    if bot.deleted_at is not None:
        return "the bot is deleted"
    if bot.force_paused:
        return "the bot is paused by staff"
    if bot.status != Bot.Status.RUNNING:
        return f"the bot is {bot.status}, not running"
    return ""


def _rejected(bot: Bot, instruction: Instruction, *, code: str, reason: str, order: Order | None = None):
    with transaction.atomic():
        payload = {"bot_id": bot.pk, "reason": reason, "code": code, "instruction": instruction.as_dict()}
        if order is not None:
            payload["order"] = order_to_dict(order)
        event_record(
            type="order_rejected",
            user_id=bot.owner_id,
            bot_id=bot.pk,
            payload=payload,
            message=f"{bot.name}: {instruction.reason} {instruction.action} refused: {reason}.",
        )
    return InstructionResult(order=order, code=code, reason=reason)


def instruction_submit(*, bot_id: int, instruction: Instruction, wait_seconds: float | None = None):
    """Run ``instruction`` on the bot now; an :class:`InstructionResult` (never raises for a refusal).

    Raises ``NotFound`` for a bot (or a cancel's order) that does not exist. A bot another
    worker is ticking is waited for up to ``wait_seconds`` (default 5 s), then refused
    (``bot_busy``); callers that can retry later (a Celery task) may do so. Refusals record
    ``order_rejected``; a placed order ``order_placed`` and a cancel ``order_canceled``.
    """
    from bots.engine import tick  # the engine imports the services package

    bot = Bot.objects.filter(pk=bot_id, deleted_at__isnull=True).only(*_SUBMIT_FIELDS).first()
    if bot is None:
        raise NotFound(f"Bot {bot_id} not found.")
    if instruction.action == CANCEL and not Order.objects.filter(bot_id=bot_id, pk=instruction.order_id).exists():
        raise NotFound(f"Order {instruction.order_id} not found.")
    cid = client_order_id(bot_id, instruction) if instruction.action != CANCEL else None
    done = Order.objects.filter(client_order_id=cid).first() if cid else None
    if done is not None:  # submitted before (a retried task): the same order, not a second one
        return InstructionResult(order=done)
    deadline = time.monotonic() + (WAIT_SECONDS if wait_seconds is None else wait_seconds)
    while True:
        why = _not_running(bot)
        if why:
            return _rejected(bot, instruction, code=NOT_RUNNING, reason=why)
        report = tick.tick_bot(bot_id, instruction=instruction)
        if report.claimed:
            break
        if time.monotonic() >= deadline:
            return _rejected(bot, instruction, code=BUSY, reason="the bot is busy with another tick; try again")
        time.sleep(0.05)
        bot.refresh_from_db(fields=_RUN_FIELDS)  # stopped while it was busy?
    order_id = report.placed.get(bot_id)
    order = Order.objects.filter(pk=order_id).first() if order_id else None
    refused = report.refused.get(bot_id, "")
    if report.errors:
        bot.refresh_from_db(fields=["last_error"])
        return _rejected(bot, instruction, code=FAILED, reason=bot.last_error or "the tick failed", order=order)
    if order is None or refused:
        return _rejected(bot, instruction, code=REFUSED, reason=refused or "no order", order=order)
    if order.status == Order.Status.REJECTED:
        return _rejected(bot, instruction, code=REJECTED, reason=order.error or "rejected by the venue", order=order)
    return InstructionResult(order=order)


# ---------------------------------------------------------------------------
# The owner's actions (API: bots/{id}/close, bots/{id}/orders, bots/{id}/orders/{order_id})
# ---------------------------------------------------------------------------
_CONFLICT_CODES = {
    REFUSED: "ORDER_REFUSED",
    NOT_RUNNING: "BOT_NOT_RUNNING",
    BUSY: "BOT_BUSY",
    FAILED: "TICK_FAILED",
    REJECTED: "ORDER_REJECTED",
}


def _owned(user, bot_id: int) -> Bot:
    bot = Bot.objects.of(user).filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("Bot not found.")
    return bot


def _outcome(result: InstructionResult) -> Order:
    if result.accepted:
        return result.order
    details = {"reason": result.reason}
    if result.order is not None:
        details["order"] = order_to_dict(result.order)
    raise Conflict(f"No order: {result.reason}.", code=_CONFLICT_CODES[result.code], details=details)


def bot_order_place(*, user, bot_id: int, data: dict) -> Order:
    """``POST bots/{id}/orders``: an order by the owner, now, through the bot's rules (409 saying why not)."""
    bot = _owned(user, bot_id)
    fields = {key: data.get(key) for key in ("type", "quantity", "quote_amount", "percent", "price")}
    instruction = instruction_build(action=data.get("side"), reason=MANUAL, **fields)
    if instruction.action not in (BUY_ACTION, SELL_ACTION):
        raise Invalid.for_fields({"side": ["must be buy or sell"]})
    return _outcome(instruction_submit(bot_id=bot.pk, instruction=instruction))


def bot_close(*, user, bot_id: int) -> Order:
    """``POST bots/{id}/close``: sell the whole position now (a resting order is canceled first)."""
    bot = _owned(user, bot_id)
    return _outcome(instruction_submit(bot_id=bot.pk, instruction=instruction_build(action=CLOSE)))


def bot_order_cancel(*, user, bot_id: int, order_id: int) -> Order:
    """``DELETE bots/{id}/orders/{order_id}``: cancel a resting order of the owner's bot."""
    bot = _owned(user, bot_id)
    instruction = instruction_build(action=CANCEL, order_id=order_id)
    result = _outcome(instruction_submit(bot_id=bot.pk, instruction=instruction))
    result.refresh_from_db()
    return result
