"""Training-bay use cases: promotion (owner, staff, operator, autopilot) and the periodic checks.

Every service is one transaction that row-locks the bot (``select_for_update``), so a
promotion, a bot update that switches modes and a tick's fill serialise on the row;
the audit entry and the event are written in that same transaction.

The quarantine is fields on ``bots.Bot``: a bot is in the bay while it is in live
mode and ``in_training``; the countdown is derived from ``training_started_at`` and
the current ``LIVE_MIN_TRAINING_HOURS`` (``bots.serializers.training_countdown``).
Promotion clears ``in_training`` and sets ``promoted_at``; from then on the engine
sends the bot's orders to its venue (``Bot.is_live_real_money``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.services import audit_record
from bots.models import Bot, FleetHalt, Order
from bots.selectors import bot_live_key_problem
from bots.serializers import bot_to_dict
from bots.services import bot_locked, positions_close_in_books
from core.errors import Conflict, Forbidden, Invalid
from realtime.services import event_record
from training.models import TrainingReview
from training.selectors import Countdown, bay_queryset, countdown, min_training_hours, training_metrics

logger = logging.getLogger("botfleet.training")

# Who promoted: the bot's owner (API), staff (admin, forced), an operator (manage.py), autopilot.
SOURCE_OWNER, SOURCE_STAFF, SOURCE_OPERATOR, SOURCE_AUTOPILOT = "owner", "staff", "operator", "autopilot"

# Blocker codes (the refusal's ``code`` and autopilot's ``reasons``).
BOT_IN_ERROR = "BOT_IN_ERROR"
LIVE_KEYS_MISSING = "LIVE_KEYS_MISSING"
ORDER_IN_FLIGHT = "ORDER_IN_FLIGHT"
TRAINING_INCOMPLETE = "TRAINING_INCOMPLETE"
TOO_FEW_TRADES = "TOO_FEW_TRADES"
DRAWDOWN_TOO_DEEP = "DRAWDOWN_TOO_DEEP"
NEGATIVE_PNL = "NEGATIVE_PNL"


class InvalidPromotion(Invalid):
    default_code = "VALIDATION_ERROR"


@dataclass(frozen=True)
class Promotion:
    bot: Bot
    promoted: bool  # False: it already was (promoting twice is harmless)
    message: str


@dataclass(frozen=True)
class Blocker:
    code: str
    message: str


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------
def _blockers(bot: Bot, clock: Countdown, *, force: bool = False) -> list[Blocker]:
    """What stands between a bot in the bay and real money. ``force`` waives the countdown only."""
    blockers = []
    if bot.status == Bot.Status.ERROR:
        why = f": {bot.last_error[:200]}" if bot.last_error else ""
        blockers.append(Blocker(BOT_IN_ERROR, f"the bot is in error{why}; fix it and start it again first"))
    in_flight = (
        Order.objects.filter(bot=bot, status__in=Order.OPEN_STATUSES)
        .order_by("pk")
        .values_list("client_order_id", flat=True)
        .first()
    )
    if in_flight:
        # A paper order between intent and fill would reopen the position after we close it.
        blockers.append(
            Blocker(ORDER_IN_FLIGHT, f"paper order {in_flight} is still being filled; try again in a moment")
        )
    key_problem = bot_live_key_problem(bot)
    if key_problem:
        blockers.append(Blocker(LIVE_KEYS_MISSING, key_problem))
    if not clock.eligible and not force:
        blockers.append(
            Blocker(
                TRAINING_INCOMPLETE,
                f"{clock.hours_remaining:g} h of its {min_training_hours():g} h training remain",
            )
        )
    return blockers


def _threshold_blockers(metrics: dict) -> list[Blocker]:
    """Autopilot's bar (settings ``AUTOPILOT_*``): enough trades, shallow drawdown, PnL not negative."""
    blockers = []
    min_trades = settings.AUTOPILOT_MIN_TRADES
    if metrics["trades"] < min_trades:
        blockers.append(
            Blocker(TOO_FEW_TRADES, f"{metrics['trades']} trades in training; autopilot needs at least {min_trades}")
        )
    max_drawdown = float(settings.AUTOPILOT_MAX_DRAWDOWN_PCT) * 100
    if metrics["max_drawdown"] > max_drawdown:
        blockers.append(
            Blocker(
                DRAWDOWN_TOO_DEEP,
                f"max drawdown {metrics['max_drawdown']:.2f} % exceeds the {max_drawdown:g} % autopilot allows",
            )
        )
    min_pnl = Decimal(str(settings.AUTOPILOT_MIN_PNL))
    if Decimal(metrics["pnl"]) < min_pnl:
        blockers.append(
            Blocker(NEGATIVE_PNL, f"training PnL {metrics['pnl']} {metrics['currency']} is below {min_pnl:f}")
        )
    return blockers


def _refused(bot: Bot, clock: Countdown, blockers: list[Blocker]) -> Conflict:
    return Conflict(
        f"Cannot promote bot '{bot.name}': " + "; ".join(b.message for b in blockers),
        code=blockers[0].code,
        details={
            "reasons": [b.code for b in blockers],
            "hours_elapsed": clock.hours_elapsed,
            "hours_remaining": clock.hours_remaining,
            "min_training_hours": min_training_hours(),
        },
    )


# ---------------------------------------------------------------------------
# Promotion
# ---------------------------------------------------------------------------
def _promote_locked(
    bot: Bot,
    *,
    actor,
    source: str,
    now: datetime,
    clock: Countdown,
    force: bool = False,
    reason: str = "",
    metrics: dict | None = None,
) -> str:
    """Take a row-locked bot in the bay out of it; the caller checked the blockers.

    The bot starts live trading flat: its paper position is closed in the books at the
    market price (nothing is sent to a venue), and the strategy's memory, which
    described that paper position, is cleared.
    """
    closed = positions_close_in_books(bot=bot, reason="promotion")
    if closed:
        bot.refresh_from_db()  # the closing fill moved the bot's totals
    bot.in_training = False
    bot.promoted_at = now
    # The strategy's memory described the paper position; the engine's own (trade limiter,
    # equity marks) stays, so promotion never resets a risk rule.
    bot.state = {**bot.state, "strategy": {}} if isinstance(bot.state, dict) and bot.state else {}
    # Revoke the lease of a worker that may be ticking the bot right now: it decided on the
    # paper position and the memory cleared here. Its re-check under the row lock and its
    # bookkeeping both require its own lease, so it neither sends that decision (to the venue,
    # now) nor writes the old memory back; the next tick starts from the promoted bot.
    bot.claimed_until = None
    bot.save(update_fields=["in_training", "promoted_at", "state", "claimed_until", "updated_at"])

    action = {SOURCE_AUTOPILOT: "training.autopilot_promote"}.get(
        source, "training.force_promote" if force else "training.promote"
    )
    data: dict = {"source": source, "forced": force, "hours_elapsed": clock.hours_elapsed}
    if force:
        data["hours_remaining_waived"] = clock.hours_remaining
    if reason:
        data["reason"] = reason[:300]
    if metrics:
        data["metrics"] = metrics
    if closed:
        data["closed_positions"] = closed
    audit_record(actor=actor, action=action, target=bot, data=data)

    message = f"Bot '{bot.name}' promoted to live trading after {clock.hours_elapsed:g} h of training"
    if force:
        message += " (forced by an operator)" if source == SOURCE_OPERATOR else " (forced by staff)"
    elif source == SOURCE_AUTOPILOT:
        message += " (by autopilot)"
    if not settings.ENABLE_TRADING:
        message += "; real-money trading is off on this server (ENABLE_TRADING), so no order leaves yet"
    elif FleetHalt.is_halted():
        message += "; the fleet is halted, so no order leaves until staff lift the halt"
    payload: dict = {"bot": bot_to_dict(bot), "source": source, "forced": force, "hours_elapsed": clock.hours_elapsed}
    if reason:
        payload["reason"] = reason[:300]
    if closed:
        payload["closed_positions"] = closed
    if actor is not None and actor.pk:
        payload["actor_id"] = actor.pk
    if metrics:
        payload["metrics"] = metrics
    event_record(type="bot_promoted", user_id=bot.owner_id, bot_id=bot.pk, payload=payload, message=message)
    logger.info("bot %s promoted (source=%s forced=%s)", bot.pk, source, force)
    return message


def bot_promote(
    *,
    bot_id: int,
    user=None,
    actor=None,
    source: str = SOURCE_OWNER,
    force: bool = False,
    reason: str = "",
    now: datetime | None = None,
) -> Promotion:
    """Promote a bot out of the training bay (``POST training/{bot_id}/promote``).

    ``user`` scopes the lookup (another user's bot is not found); ``None`` is a system or
    staff caller acting as ``actor``. Refused (``Conflict``) naming every reason while the
    countdown runs (``details.hours_remaining``), while the bot is in error, or while it
    has no usable live key set for a real venue; ``force`` (staff, with a reason) waives
    the countdown only. A bot already promoted is left as it is (``promoted=False``).
    """
    now = now or timezone.now()
    with transaction.atomic():
        bot = bot_locked(bot_id=bot_id, user=user)
        if bot.trading_mode != Bot.Mode.LIVE:
            raise Conflict(
                f"Cannot promote bot '{bot.name}': it trades on paper; switch it to live mode to enter the "
                "training bay first",
                code="NOT_IN_TRAINING",
                details={"trading_mode": bot.trading_mode},
            )
        if not bot.in_training:
            since = f" on {bot.promoted_at.isoformat()}" if bot.promoted_at else ""
            return Promotion(bot, False, f"Bot '{bot.name}' was already promoted{since}")
        clock = countdown(bot, now=now)
        blockers = _blockers(bot, clock, force=force)
        if blockers:
            raise _refused(bot, clock, blockers)
        message = _promote_locked(
            bot,
            actor=actor if actor is not None else user,
            source=source,
            now=now,
            clock=clock,
            force=force,
            reason=reason,
        )
    return Promotion(bot, True, message)


def bot_force_promote(*, staff, bot_id: int, reason: str, now: datetime | None = None) -> Promotion:
    """Staff promote before the countdown ends; the reason goes to the audit log and the event."""
    if not getattr(staff, "is_staff", False):
        raise Forbidden("Only staff may force a promotion.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidPromotion("a forced promotion needs a reason", details={"reason": ["This field is required."]})
    return bot_promote(bot_id=bot_id, actor=staff, source=SOURCE_STAFF, force=True, reason=reason, now=now)


# ---------------------------------------------------------------------------
# Periodic checks
# ---------------------------------------------------------------------------
def _due_ids(*, now: datetime, without: dict | None = None, limit: int = 1000) -> list[int]:
    """Ids of bots whose countdown has completed at ``now`` (oldest first), minus those
    with a review of the current period matching ``without``."""
    cutoff = now - timedelta(hours=min_training_hours())
    queryset = bay_queryset().filter(training_started_at__lte=cutoff)
    if without is not None:
        reviewed = TrainingReview.objects.filter(
            bot=OuterRef("pk"), training_started_at=OuterRef("training_started_at"), **without
        )
        queryset = queryset.exclude(Exists(reviewed))
    return list(queryset.order_by("training_started_at", "id").values_list("pk", flat=True)[:limit])


def _review(bot: Bot) -> TrainingReview:
    review, _ = TrainingReview.objects.get_or_create(bot=bot, training_started_at=bot.training_started_at)
    return review


def training_eligibility_check(*, now: datetime | None = None) -> int:
    """Record ``training_eligible`` for every bot whose countdown completed; returns how many.

    Runs periodically and always (housekeeping, not a feature flag). Exactly once per
    bot and quarantine period: the bot's row lock serialises concurrent checkers, and
    the conditional update of the period's review (``eligible_notified_at IS NULL``)
    lets only one of them record the event. A later, longer ``LIVE_MIN_TRAINING_HOURS``
    does not repeat it; switching the bot to paper and back to live starts a new period.
    """
    now = now or timezone.now()
    recorded = 0
    for bot_id in _due_ids(now=now, without={"eligible_notified_at__isnull": False}):
        with transaction.atomic():
            bot = bay_queryset().select_for_update().filter(pk=bot_id).first()
            if bot is None or bot.training_started_at is None:
                continue
            clock = countdown(bot, now=now)
            if not clock.eligible:
                continue
            review = _review(bot)
            won = TrainingReview.objects.filter(pk=review.pk, eligible_notified_at__isnull=True).update(
                eligible_notified_at=now
            )
            if not won:
                continue
            event_record(
                type="training_eligible",
                user_id=bot.owner_id,
                bot_id=bot.pk,
                payload={
                    "bot": bot_to_dict(bot, now=now),
                    "hours_elapsed": clock.hours_elapsed,
                    "min_training_hours": min_training_hours(),
                },
                message=f"Bot '{bot.name}' completed its {min_training_hours():g} h training and may be promoted",
            )
            recorded += 1
    return recorded


def autopilot_review(*, bot_id: int, now: datetime | None = None) -> str:
    """Autopilot's decision on one bot: ``promoted``, ``skipped``, ``unchanged`` or ``not_due``.

    An eligible bot is promoted when nothing blocks it (error, keys) and its training
    passes the ``AUTOPILOT_*`` thresholds; otherwise the reasons are recorded (an audit
    entry and ``autopilot_skipped``) — again only when they differ from the last
    verdict on this period, so a bot that keeps missing the bar is not reported anew
    every few minutes.
    """
    now = now or timezone.now()
    with transaction.atomic():
        bot = bay_queryset().select_for_update().filter(pk=bot_id).first()
        if bot is None:
            return "not_due"
        clock = countdown(bot, now=now)
        if not clock.eligible:
            return "not_due"
        metrics = training_metrics(bot, now=now)
        blockers = _blockers(bot, clock) + _threshold_blockers(metrics)
        if not blockers:
            _promote_locked(bot, actor=None, source=SOURCE_AUTOPILOT, now=now, clock=clock, metrics=metrics)
            return "promoted"
        review = _review(bot)
        codes = [b.code for b in blockers]
        if review.autopilot_reasons == codes:
            return "unchanged"
        review.autopilot_reasons, review.autopilot_decided_at = codes, now
        review.save(update_fields=["autopilot_reasons", "autopilot_decided_at"])
        reason = "; ".join(b.message for b in blockers)
        audit_record(
            actor=None,
            action="training.autopilot_skip",
            target=bot,
            data={"reasons": codes, "reason": reason, "metrics": metrics},
        )
        event_record(
            type="autopilot_skipped",
            user_id=bot.owner_id,
            bot_id=bot.pk,
            payload={"bot": bot_to_dict(bot, now=now), "reason": reason, "reasons": codes, "metrics": metrics},
            message=f"Autopilot did not promote bot '{bot.name}': {reason}",
        )
        return "skipped"


def autopilot_run(*, now: datetime | None = None) -> dict[str, int]:
    """Review every bot whose countdown completed (only with ``ENABLE_AUTOPILOT``).

    One transaction per bot, so one bot's failure or lock wait does not hold the others.
    """
    counts = {"promoted": 0, "skipped": 0, "unchanged": 0, "not_due": 0}
    if not settings.ENABLE_AUTOPILOT:
        return counts
    now = now or timezone.now()
    for bot_id in _due_ids(now=now):
        counts[autopilot_review(bot_id=bot_id, now=now)] += 1
    return counts
