"""The event store: every event a service records, in the transaction of its change."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Event(models.Model):
    """One event for one user (or for staff only, when ``user`` is null).

    ``seq`` is null until the relay publishes the row; the relay assigns it in
    publish order, strictly increasing and never reused, so a client can resume from
    the last ``seq`` it saw. Staff receive every event.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    message = models.CharField(max_length=500, blank=True)
    # Bot the event concerns, if any: per-bot subscriptions and a bot's history.
    bot_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Set (with ``published_at``) when the relay could not send the event at all: it is
    # never delivered nor replayed, and staff were told (``event_undeliverable``).
    failed_at = models.DateTimeField(null=True, blank=True)
    failure = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            # The relay's queue: unpublished rows in insertion order.
            models.Index(fields=["id"], name="event_unpublished_idx", condition=models.Q(seq__isnull=True)),
            # Rows not yet confirmed sent (sequenced or not): the relay's idle check and resend.
            models.Index(fields=["seq"], name="event_unsent_idx", condition=models.Q(published_at__isnull=True)),
            models.Index(fields=["user", "seq"], name="event_user_seq_idx"),
            models.Index(fields=["bot_id", "seq"], name="event_bot_seq_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type}#{self.seq or '-'}"


class RelayState(models.Model):
    """The relay's lease, its ``seq`` counter and its heartbeat: one row, visible to ops.

    Exactly one relay publishes at a time: it holds the lease (``holder`` until
    ``lease_until``) and renews it with every heartbeat. A standby takes the lease over
    only once it has expired, so a dead relay is replaced within ``RELAY_LEASE_SECONDS``.
    Every publish transaction re-checks the lease while it locks this row (fencing), so a
    relay that lost its lease can never assign a ``seq``.

    ``last_seq`` is the last sequence number handed out; it only grows, so a ``seq`` is
    never reused even after the events carrying it were purged. ``purged_through`` is
    the highest ``seq`` the retention purge deleted: a client resuming from below it
    gets ``resync_required``.
    """

    SINGLETON_ID = 1

    holder = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.BigIntegerField(default=0)
    purged_through = models.BigIntegerField(default=0)
    published_total = models.BigIntegerField(default=0)
    send_failures = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"relay {self.holder or '(none)'} seq={self.last_seq}"
