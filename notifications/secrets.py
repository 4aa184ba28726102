"""Channel secrets at rest: Fernet with ``FERNET_KEYS`` (newest first), like key sets.

notifications may not import credentials (DESIGN.md's arrows), so it seals with the
same keys through ``cryptography`` directly: a key rotation that re-encrypts key sets
leaves these readable as long as the old key stays in the list.
"""

from __future__ import annotations

import functools
import hashlib
import secrets as _random

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@functools.lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...], use_hkdf: bool) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FERNET_KEYS is empty: set it to store notification secrets.")
    if use_hkdf:
        from fernet_fields import hkdf

        return MultiFernet([Fernet(hkdf.derive_fernet_key(key)) for key in keys])
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    keys = tuple(str(key) for key in getattr(settings, "FERNET_KEYS", None) or ())
    return _fernet(keys, bool(getattr(settings, "FERNET_USE_HKDF", True)))


def seal(value: str) -> str:
    return _current().encrypt(value.encode()).decode() if value else ""


class SecretUnreadable(Exception):
    """No configured key decrypts the stored secret (keys rotated away)."""


def unseal(token: str) -> str:
    if not token:
        return ""
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("the channel's secret cannot be decrypted with FERNET_KEYS") from None


def new_secret() -> str:
    return "whsec_" + _random.token_urlsafe(32)


def new_code() -> str:
    """A one-time code a person can type: 10 characters, ~50 bits."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(_random.choice(alphabet) for _ in range(10))


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()
