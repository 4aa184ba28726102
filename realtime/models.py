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

    class Meta:
        indexes = [
            # The relay's queue: unpublished rows in insertion order.
            models.Index(fields=["id"], name="event_unpublished_idx", condition=models.Q(seq__isnull=True)),
            models.Index(fields=["user", "seq"], name="event_user_seq_idx"),
            models.Index(fields=["bot_id", "seq"], name="event_bot_seq_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type}#{self.seq or '-'}"
