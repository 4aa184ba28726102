"""The form of personal API tokens, and finding one by its hash."""

from __future__ import annotations

import hashlib
import secrets

from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiToken

PREFIX = "bfp_"
_LENGTH = len(PREFIX) + 43  # token_urlsafe(32)


def looks_like(raw: str | bytes) -> bool:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return text.startswith(PREFIX)


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def find(raw: str) -> ApiToken | None:
    """The live token this string is, with its user, in one query; None otherwise."""
    if len(raw) != _LENGTH or not raw.isascii():
        return None
    return (
        ApiToken.objects.select_related("user")
        .filter(token_hash=digest(raw), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .first()
    )
