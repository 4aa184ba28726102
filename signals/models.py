"""Signals from outside: providers, each signal bot's webhook, and every signal received.

A webhook token is never stored: it is an HMAC (``SECRET_KEY``) of the webhook's public
``key_id`` and a random ``nonce``, recomputed to show the owner the URL and to check a
request in constant time. A leaked database alone lets nobody send signals; rotating
draws a new ``key_id`` and ``nonce``, so the old URL stops working at once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from bots.models import Bot, Order


class Provider(models.Model):
    """Where a user's signals come from (a TradingView script, a Telegram channel); signal bots attach to one."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signal_providers")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="signal_provider_name_unique")]

    def __str__(self) -> str:
        return self.name


class Webhook(models.Model):
    """A signal bot's webhook: the token's ingredients (not the token) and the provider the bot is attached to."""

    bot = models.OneToOneField(Bot, on_delete=models.CASCADE, related_name="signal_webhook")
    key_id = models.CharField(max_length=24, unique=True)
    nonce = models.CharField(max_length=64)
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhooks")
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"webhook of bot {self.bot_id}"


class Signal(models.Model):
    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        TEXT = "text", "Text"
        IMPORT = "import", "Import"

    class Status(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        EXECUTED = "executed", "Executed"
        FAILED = "failed", "Failed"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="signals")
    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="signals")
    source = models.CharField(max_length=8, choices=Source.choices)
    # The sender's own id, for idempotency: unique per bot among the signals that claimed it
    # (a duplicate is recorded too, with its id in the payload only).
    client_id = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=8, blank=True, default="")
    symbol = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=8, choices=Status.choices)
    reason = models.CharField(max_length=32, blank=True, default="")  # stable code: stale, duplicate, ...
    message = models.CharField(max_length=300, blank=True, default="")  # the reason as a sentence
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "client_id"], condition=~Q(client_id=""), name="signal_client_id_unique_per_bot"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["accepted", "rejected", "executed", "failed"]), name="signal_status_valid"
            ),
            models.CheckConstraint(condition=Q(source__in=["webhook", "text", "import"]), name="signal_source_valid"),
        ]
        indexes = [
            models.Index(fields=["bot", "-received_at"], name="signal_bot_received"),
            # A drain's next signal (signals.services.signals_drain): the few accepted among many decided.
            models.Index(fields=["bot", "id"], condition=Q(status="accepted"), name="signal_accepted_per_bot"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.symbol} ({self.status})"
