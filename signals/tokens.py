"""Webhook tokens: derived from ``SECRET_KEY`` and the webhook's ingredients, never stored.

A token is 64 hex characters: the public ``key_id`` (16) then an HMAC of it and the
webhook's ``nonce`` (48). Looking a token up reads ``key_id``; checking it recomputes the
HMAC and compares in constant time.
"""

from __future__ import annotations

import hmac
import secrets

from django.utils.crypto import salted_hmac

KEY_ID_LENGTH = 16
MAC_LENGTH = 48
TOKEN_PATTERN = rf"[0-9a-f]{{{KEY_ID_LENGTH + MAC_LENGTH}}}"
_URL_SALT = "botfleet.signals.webhook.token"
_SIGNING_SALT = "botfleet.signals.webhook.signing"


def new_ingredients() -> tuple[str, str]:
    """A fresh ``(key_id, nonce)``."""
    return secrets.token_hex(KEY_ID_LENGTH // 2), secrets.token_hex(32)


def token_for(key_id: str, nonce: str) -> str:
    mac = salted_hmac(_URL_SALT, f"{key_id}:{nonce}", algorithm="sha256").hexdigest()[:MAC_LENGTH]
    return key_id + mac


def signing_secret_for(key_id: str, nonce: str) -> str:
    """The secret a sender that can sign uses for ``X-Botfleet-Signature`` (as ``internal/events``)."""
    return salted_hmac(_SIGNING_SALT, f"{key_id}:{nonce}", algorithm="sha256").hexdigest()


def key_id_of(token: str) -> str:
    return token[:KEY_ID_LENGTH]


def matches(token: str, key_id: str, nonce: str) -> bool:
    return hmac.compare_digest(token_for(key_id, nonce).encode(), token.encode())
