"""Channels (where a user's notifications go), deliveries (one per event and channel) and
the fan-out cursor and engine watch (singletons)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Channel(models.Model):
    """One destination of one user's notifications.

    Secrets (a webhook's signing secret, a Telegram bot token) are Fernet-encrypted
    (``notifications.secrets``) and never leave the server again after creation. A
    channel delivers only once it is ``verified_at``: an e-mail address proven by a code
    sent to it (or the account's verified address), a Telegram chat that sent the bot
    the channel's one-time link code, a webhook at once (its secret proves the sender).
    """

    class Kind(models.TextChoices):
        EMAIL = "email"
        TELEGRAM = "telegram"
        WEBHOOK = "webhook"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_channels")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100, blank=True)
    events = models.JSONField(default=list)  # event types this channel receives
    enabled = models.BooleanField(default=True)
    # Staff only: the fleet-wide operations channel (staff-only events: engine, halts).
    is_ops = models.BooleanField(default=False)
    address = models.EmailField(blank=True)  # e-mail
    url = models.URLField(max_length=500, blank=True)  # webhook
    secret_sealed = models.TextField(blank=True)  # webhook secret or Telegram bot token (Fernet)
    telegram_chat_id = models.CharField(max_length=64, blank=True)
    # sha256 of the one-time code (Telegram link code, e-mail verification code).
    code_hash = models.CharField(max_length=64, blank=True, db_index=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["is_ops"], condition=models.Q(is_ops=True), name="one_ops_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} channel #{self.pk}"

    @property
    def ready(self) -> bool:
        return self.enabled and self.verified_at is not None


class Delivery(models.Model):
    """One message to one channel: an event (or a burst of events of one type), or a test.

    ``key`` (``<first event seq>-<channel id>``, or ``test-…``) is the idempotency key a
    receiver sees on every attempt. A worker claims a due row (``status`` sending with a
    lease), sends with no transaction open, then records the outcome only while the
    claim is still its own; a killed worker's claim expires and another sends again
    with the same key.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=80, unique=True)
    event_type = models.CharField(max_length=64)
    # The events it carries: those of ``event_type`` for the channel's audience with a seq
    # from ``event_seq`` to ``last_seq`` (a burst grows by moving ``last_seq``: one cheap
    # UPDATE for every channel, never a growing list rewritten). Null for a test.
    event_seq = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)
    count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due_idx",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
            models.Index(fields=["channel", "event_type", "-id"], name="delivery_burst_idx"),
            models.Index(fields=["user", "-id"], name="delivery_user_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.key} ({self.status})"


class FanoutState(models.Model):
    """The fan-out's cursor over the event table: every event up to ``last_seq`` has its
    deliveries. Relay ``seq`` order is commit order, so nothing is skipped."""

    SINGLETON_ID = 1

    last_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)


class EngineWatch(models.Model):
    """The engine watchdog's memory: what it last told people, and the newest heartbeat seen."""

    SINGLETON_ID = 1

    online = models.BooleanField(default=True)
    changed_at = models.DateTimeField(default=timezone.now)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
