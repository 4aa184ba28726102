"""Per-user usage counters (``UserUsage``): what each user stores, counted as it is written.

Services call :func:`usage_add` in the transaction of the change they make::

    usage_add(user_id=bot.owner_id, trades=1)

The increment is one ``UPDATE ... SET trades = trades + 1`` (an ``F()`` expression), so
concurrent writers never lose an update; the row is created on first use. The counters
may drift (bulk deletions, rows written outside the services): ``adminpanel`` reconciles
them periodically with :func:`usage_set`.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import UserUsage

# The kinds of stored rows counted per user, in display order.
KINDS = ("bots", "orders", "trades", "events", "credentials", "audit_entries", "backtests")
# Every counter: the stored rows, and the work they stand for (candles the backtests ticked over).
COUNTERS = (*KINDS, "backtest_candles")


def usage_add(*, user_id: int | None, **deltas: int) -> None:
    """Add ``deltas`` (``trades=1``, ``credentials=-1``) to the user's counters.

    Joins the caller's transaction. A ``None`` user (a system or staff-only row) counts
    for nobody. Unknown kinds are a programming error (``ValueError``).
    """
    unknown = set(deltas) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown usage kinds: {', '.join(sorted(unknown))}")
    deltas = {kind: int(value) for kind, value in deltas.items() if value}
    if not user_id or not deltas:
        return
    increments = {kind: F(kind) + value for kind, value in deltas.items()}
    if UserUsage.objects.filter(user_id=user_id).update(**increments):
        return
    try:
        with transaction.atomic():  # a savepoint: a concurrent first writer may win the insert
            UserUsage.objects.create(user_id=user_id, **deltas)
    except IntegrityError:
        UserUsage.objects.filter(user_id=user_id).update(**increments)


def usage_set(*, user_id: int, counts: dict[str, int]) -> None:
    """Overwrite the user's counters with recounted values (reconciliation only)."""
    values = {kind: int(counts.get(kind, 0)) for kind in COUNTERS}
    UserUsage.objects.update_or_create(user_id=user_id, defaults={**values, "reconciled_at": timezone.now()})
