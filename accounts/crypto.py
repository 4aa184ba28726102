"""Sealing the few secrets accounts keeps (TOTP seeds) with the project's Fernet keys.

The first of ``FERNET_KEYS`` seals; every key opens, so keys rotate as for credentials.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.FERNET_KEYS])


def seal(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def unseal(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def keyed_digest(text: str) -> str:
    """A keyed hash for short one-time codes: a leaked table cannot be brute-forced offline."""
    return hmac.new(settings.SECRET_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()
