"""Users' exchange and broker keys, encrypted at rest."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from fernet_fields import EncryptedTextField


class Credential(models.Model):
    class Purpose(models.TextChoices):
        LIVE = "live", "Live"
        BACKTEST = "backtest", "Backtest"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credentials")
    provider = models.CharField(max_length=64)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.LIVE)
    label = models.CharField(max_length=64, default="default")
    api_key = EncryptedTextField(blank=True, default="")
    api_secret = EncryptedTextField(blank=True, default="")
    passphrase = EncryptedTextField(blank=True, default="")
    client_code = EncryptedTextField(blank=True, default="")
    password = EncryptedTextField(blank=True, default="")
    totp_secret = EncryptedTextField(blank=True, default="")
    api_key_hint = models.CharField(max_length=16, blank=True, default="")
    fields_set = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "provider", "purpose", "label"], name="credential_owner_provider_purpose_label"
            ),
            models.CheckConstraint(
                condition=models.Q(purpose__in=["live", "backtest"]), name="credential_purpose_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.purpose}/{self.label} ({self.api_key_hint or 'no key'})"
