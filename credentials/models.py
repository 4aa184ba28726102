"""Users' exchange and broker keys, encrypted at rest.

Secrets live in :class:`~credentials.fields.SecretField` columns (Fernet, ``FERNET_KEYS``
only). ``api_key_hint`` and ``fields_set`` are the only plaintext traces of them and all
that responses, the admin and logs ever show. Only ``credentials.services`` writes rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from credentials.fields import SecretField, Undecryptable

# The secret columns, in the order the API names them.
SECRET_FIELDS = ("api_key", "api_secret", "passphrase", "client_code", "password", "totp_secret")
# Everything a response, the admin or a log may show of a credential (API.md "credentials").
PUBLIC_FIELDS = (
    "id",
    "provider",
    "purpose",
    "label",
    "api_key_hint",
    "fields_set",
    "created_at",
    "updated_at",
    "last_tested_at",
    "last_test_ok",
)


def key_hint(api_key: str) -> str:
    """An ellipsis and the last 4 characters; nothing of a key too short to spare 4 characters."""
    return f"…{api_key[-4:]}" if len(api_key) >= 12 else ("…" if api_key else "")


class Credential(models.Model):
    class Purpose(models.TextChoices):
        LIVE = "live", "Live"
        BACKTEST = "backtest", "Backtest"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credentials")
    provider = models.CharField(max_length=64)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.LIVE)
    label = models.CharField(max_length=64, default="default")
    api_key = SecretField(blank=True, default="")
    api_secret = SecretField(blank=True, default="")
    passphrase = SecretField(blank=True, default="")
    client_code = SecretField(blank=True, default="")
    password = SecretField(blank=True, default="")
    totp_secret = SecretField(blank=True, default="")
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

    def __repr__(self) -> str:
        return f"<Credential {self.pk} {self}>"

    @property
    def undecryptable_fields(self) -> list[str]:
        """Secret columns no configured key decrypts (empty when all is well)."""
        return [name for name in SECRET_FIELDS if isinstance(self.__dict__.get(name), Undecryptable)]

    def secrets(self) -> dict[str, str]:
        """The decrypted secrets; raises ``CredentialDecryptError`` naming the row and fields."""
        from credentials.exceptions import CredentialDecryptError

        broken = self.undecryptable_fields
        if broken:
            raise CredentialDecryptError(
                credential_id=self.pk, label=f"{self.provider}/{self.purpose}/{self.label}", fields=broken
            )
        return {name: getattr(self, name) or "" for name in SECRET_FIELDS}

    def keyset(self):
        """This row as a provider :class:`~credentials.providers.base.KeySet` (decrypted, in memory)."""
        from credentials.providers.base import KeySet

        return KeySet(provider=self.provider, credential_id=self.pk, version=self.updated_at, **self.secrets())
