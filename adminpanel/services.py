"""Staff use cases: overrides, force-pause/release/stop, the fleet halt, accounts, usage.

Each is one transaction that locks the row it changes (``select_for_update``), writes
an audit entry with the state before and after, and records its event in that same
transaction (``realtime.services.event_record``): bot events go to the bot's owner
(and, like every event, to staff); fleet events are staff-only.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from axes.models import AccessAttempt
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.models import AuditEntry, User, UserUsage
from accounts.services import audit_record
from accounts.tokens import sessions_changed
from accounts.usage import COUNTERS, usage_set
from adminpanel.rules import RulesError, validate_rules
from bots import services as bot_services
from bots.lifecycle import Action
from bots.models import Backtest, Bot, FleetHalt, Order, Trade
from bots.serializers import bot_to_dict
from core.errors import Conflict, Invalid, NotFound
from credentials.models import Credential
from realtime.models import Event
from realtime.services import event_record

logger = logging.getLogger("botfleet.adminpanel")


class InvalidRules(Invalid):
    """Names each offending rule in ``details.override_rules``."""

    default_code = "VALIDATION_ERROR"

    def __init__(self, errors: dict[str, str]):
        super().__init__(
            "override_rules: " + "; ".join(f"{key}: {message}" for key, message in errors.items()),
            details={"override_rules": {key: [message] for key, message in errors.items()}},
        )


def _actor_id(actor) -> dict:
    return {"actor_id": actor.pk} if actor is not None and actor.pk else {}


# ---------------------------------------------------------------------------
# Unlock
# ---------------------------------------------------------------------------
def admin_unlock(*, user, password: str) -> None:
    """Check a staff member's re-entered password; the attempt is audited either way.

    The failed attempt's entry is committed before the refusal, so it outlives it.
    """
    ok = user.check_password(password)
    with transaction.atomic():
        audit_record(actor=user, action="admin.unlocked" if ok else "admin.unlock_failed", target=user)
    if not ok:
        raise Invalid.for_fields({"password": ["The password is incorrect."]})


# ---------------------------------------------------------------------------
# Bots
# ---------------------------------------------------------------------------
def bot_force_pause(*, actor, bot_id: int, reason: str = "") -> Bot:
    """Pause a bot at once and block its owner from starting or resuming it (423).

    The bots lifecycle owns the change (``bots.services.bot_force_pause``).
    """
    bot, _changed = bot_services.bot_force_pause(bot_id=bot_id, actor=actor, reason=reason)
    return bot


def bot_release(*, actor, bot_id: int) -> Bot:
    """Lift a force-pause. The bot stays paused (or stopped); its owner decides to resume."""
    return bot_services.bot_release(bot_id=bot_id, actor=actor)


def bot_staff_stop(*, actor, bot_id: int) -> Bot:
    """Stop any user's bot (the state table applies: stopping a stopped bot is a ``Conflict``)."""
    bot, _message = bot_services.bot_transition(
        bot_id=bot_id, action=Action.STOP, actor=actor, reason="stopped by staff"
    )
    return bot


def bot_override(
    *,
    actor,
    bot_id: int,
    rules: dict | None = None,
    force_pause: bool | None = None,
    reason: str = "",
) -> Bot:
    """Replace a bot's override rules and/or force-pause (``True``) or release (``False``) it.

    ``rules`` is validated first (``InvalidRules`` names every bad key; nothing
    changes). ``None`` leaves the rules as they are; ``{}`` lifts them all. The engine
    reads the rules at every tick, so they apply from the bot's next tick.
    """
    clean = None
    if rules is not None:
        try:
            clean = validate_rules(rules)
        except RulesError as exc:
            raise InvalidRules(exc.errors) from None
    with transaction.atomic():
        bot = bot_services.bot_locked(bot_id=bot_id)
        if clean is not None and clean != bot.override_rules:
            previous = bot.override_rules
            bot.override_rules = clean
            bot.save(update_fields=["override_rules", "updated_at"])
            audit_record(
                actor=actor,
                action="admin.bot_override",
                target=bot,
                data={"before": {"override_rules": previous}, "after": {"override_rules": clean}},
            )
            described = ", ".join(f"{k}={v}" for k, v in clean.items()) or "none"
            event_record(
                type="override_updated",
                user_id=bot.owner_id,
                bot_id=bot.pk,
                payload={
                    "bot": bot_to_dict(bot),
                    "rules": clean,
                    "previous_rules": previous,
                    "force_paused": bot.force_paused,
                    **_actor_id(actor),
                },
                message=f"Staff set the override rules of bot '{bot.name}': {described}",
            )
        if force_pause is True:
            bot, _changed = bot_services.bot_force_pause(bot_id=bot_id, actor=actor, reason=reason)
    if force_pause is False and bot.force_paused:
        bot = bot_services.bot_release(bot_id=bot_id, actor=actor)
    return bot


# ---------------------------------------------------------------------------
# Fleet halt
# ---------------------------------------------------------------------------
def fleet_halt_set(*, actor, halted: bool, reason: str = "") -> FleetHalt:
    """Turn the fleet halt on or off. Takes effect at once: the engine reads the switch
    before every live order, so no process needs a restart."""
    with transaction.atomic():
        FleetHalt.current()  # the row exists from here on
        halt = FleetHalt.objects.select_for_update().get(pk=FleetHalt.SINGLETON_ID)
        before = {"halted": halt.halted, "reason": halt.reason}
        reason = (reason or "").strip()[:300]
        if halt.halted == halted and (not reason or reason == halt.reason):
            return halt
        changed = halt.halted != halted
        halt.halted, halt.reason, halt.by = halted, reason, actor if actor is not None and actor.pk else None
        if changed:
            halt.since = timezone.now()
        halt.save()
        audit_record(
            actor=actor,
            action="admin.fleet_halted" if halted else "admin.fleet_resumed",
            target_type="fleethalt",
            target_id=halt.pk,
            data={"before": before, "after": {"halted": halt.halted, "reason": halt.reason}},
        )
        if changed:
            event_record(
                type="fleet_halted" if halted else "fleet_resumed",
                user_id=None,
                payload={
                    "halted": halt.halted,
                    "reason": halt.reason,
                    "since": halt.since.isoformat(),
                    **_actor_id(actor),
                },
                message=(f"Fleet halted: {reason}" if reason else "Fleet halted")
                if halted
                else "Fleet halt lifted: live orders may leave again",
            )
    return halt


# ---------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------
USER_EDITABLE = ("first_name", "last_name", "full_name", "username", "is_staff", "is_active", "is_verified")


def _user_state(user: User) -> dict:
    return {field: getattr(user, field) for field in USER_EDITABLE}


def _unlock(user: User) -> int:
    """Clear django-axes' failed logins for the account (its lockout ends at once)."""
    return AccessAttempt.objects.filter(username__in={user.email, user.email.lower(), user.username}).delete()[0]


def user_create(*, actor, data: dict) -> User:
    email = User.objects.normalize_email(data["email"]).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict("An account with this email already exists.", code="EMAIL_TAKEN")
    username = data.get("username") or ""
    if username and User.objects.username_taken(username):
        raise Conflict("This username is taken.", code="USERNAME_TAKEN")
    candidate = User(email=email, username=username)
    try:
        password_validation.validate_password(data["password"], candidate)
    except DjangoValidationError as exc:
        raise Invalid.for_fields({"password": list(exc.messages)}) from exc
    with transaction.atomic():
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email=email,
                    password=data["password"],
                    username=username or None,
                    first_name=data.get("first_name", ""),
                    last_name=data.get("last_name", ""),
                    full_name=data.get("full_name", ""),
                    is_staff=bool(data.get("is_staff", False)),
                    is_verified=bool(data.get("is_verified", False)),
                )
        except IntegrityError as exc:
            raise Conflict("An account with this email or username already exists.", code="EMAIL_TAKEN") from exc
        audit_record(actor=actor, action="admin.user_created", target=user, data={"after": _user_state(user)})
    return user


def user_update(*, actor, user_id: int, data: dict) -> User:
    """Change an account's flags and names; ``unlock: true`` clears a login lockout.

    Disabling takes effect on the user's next request (403 ``ACCOUNT_DISABLED``). Staff
    cannot disable themselves or drop their own staff flag (someone must stay in charge).
    """
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            raise NotFound("User not found.")
        if (
            actor is not None
            and user.pk == actor.pk
            and (data.get("is_active") is False or data.get("is_staff") is False)
        ):
            raise Conflict("Staff cannot disable themselves or drop their own staff flag.", code="SELF_LOCKOUT")
        new_username = data.get("username")
        if new_username and User.objects.username_taken(new_username, exclude_pk=user.pk):
            raise Conflict("This username is taken.", code="USERNAME_TAKEN")
        before = _user_state(user)
        changed = [field for field in USER_EDITABLE if field in data and getattr(user, field) != data[field]]
        for field in changed:
            setattr(user, field, data[field])
        if changed:
            try:
                with transaction.atomic():
                    user.save(update_fields=changed)
            except IntegrityError as exc:  # a concurrent rename took the username first
                raise Conflict("This username is taken.", code="USERNAME_TAKEN") from exc
        if {"is_active", "is_staff"} & set(changed):
            sessions_changed(user_id=user.pk)  # open streams re-check (and a disabled user's close)
        unlocked = _unlock(user) if data.get("unlock") else 0
        if data.get("unlock"):
            changed.append("unlock")
        if changed:
            audit_record(
                actor=actor,
                action="admin.user_updated",
                target=user,
                data={
                    "before": {k: before[k] for k in changed if k in before},
                    "after": {k: getattr(user, k) for k in changed if k in before},
                    **({"unlocked_attempts": unlocked} if data.get("unlock") else {}),
                },
            )
            event_record(
                type="user_updated_by_staff",
                user_id=None,
                payload={"user_id": user.pk, "changed": changed, **_actor_id(actor)},
                message=f"Staff updated {user.email}: {', '.join(changed)}",
            )
    return user


def user_set_active(*, actor, user_id: int, active: bool) -> User:
    return user_update(actor=actor, user_id=user_id, data={"is_active": active})


def user_set_staff(*, actor, user_id: int, staff: bool) -> User:
    return user_update(actor=actor, user_id=user_id, data={"is_staff": staff})


def user_unlock(*, actor, user_id: int) -> User:
    return user_update(actor=actor, user_id=user_id, data={"unlock": True})


# ---------------------------------------------------------------------------
# Usage reconciliation
# ---------------------------------------------------------------------------
def _counts_for(user_ids: list[int]) -> dict[int, dict[str, int]]:
    """The true row counts per kind for these users (one grouped query per kind)."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    grouped = {
        "bots": Bot.objects.filter(owner_id__in=user_ids).values_list("owner_id"),
        "orders": Order.objects.filter(bot__owner_id__in=user_ids).values_list("bot__owner_id"),
        "trades": Trade.objects.filter(owner_id__in=user_ids).values_list("owner_id"),
        "events": Event.objects.filter(user_id__in=user_ids).values_list("user_id"),
        "credentials": Credential.objects.filter(owner_id__in=user_ids).values_list("owner_id"),
        "audit_entries": AuditEntry.objects.filter(actor_id__in=user_ids).values_list("actor_id"),
        "backtests": Backtest.objects.filter(owner_id__in=user_ids).values_list("owner_id"),
    }
    for kind, queryset in grouped.items():
        for user_id, n in queryset.annotate(n=Count("pk")).order_by():
            counts[user_id][kind] = n
    # The candles of runs (a sweep's own row sums its combinations': not counted twice).
    runs = Backtest.objects.filter(owner_id__in=user_ids, params_grid__isnull=True).values_list("owner_id")
    for user_id, n in runs.annotate(n=Sum("candles")).order_by():
        counts[user_id]["backtest_candles"] = n or 0
    return counts


def usage_reconcile(*, batch: int = 500) -> dict:
    """Recount every user's rows and correct the counters that drifted.

    Per batch of users, in one transaction: lock their usage rows (``skip_locked``: a
    row a service is updating right now is left for the next run), count, overwrite.
    Because a service increments the counter in the transaction that inserts the row,
    a locked counter and the rows it counts cannot change under us: the counts taken
    after the lock are exact for the rows we hold. Returns ``{users, corrected, skipped}``.
    """
    corrected = skipped = seen = 0
    user_ids = list(User.objects.order_by("pk").values_list("pk", flat=True))
    # Rows first, outside the counting transactions, so every user has one to lock.
    existing = set(UserUsage.objects.values_list("user_id", flat=True))
    UserUsage.objects.bulk_create(
        [UserUsage(user_id=pk) for pk in user_ids if pk not in existing], batch_size=1000, ignore_conflicts=True
    )
    for start in range(0, len(user_ids), batch):
        chunk = user_ids[start : start + batch]
        with transaction.atomic():
            rows = {
                row.user_id: row
                for row in UserUsage.objects.select_for_update(skip_locked=True).filter(user_id__in=chunk)
            }
            skipped += len(chunk) - len(rows)
            if not rows:
                continue
            truth = _counts_for(list(rows))
            for user_id, row in rows.items():
                seen += 1
                actual = truth.get(user_id) or dict.fromkeys(COUNTERS, 0)
                drifted = any(getattr(row, kind) != actual[kind] for kind in COUNTERS)
                corrected += drifted
                if drifted or row.reconciled_at is None:
                    usage_set(user_id=user_id, counts=actual)
    logger.info("usage reconciled: %s users, %s corrected, %s skipped", seen, corrected, skipped)
    return {"users": seen, "corrected": corrected, "skipped": skipped}
