"""Encrypted secret fields that only ever use ``FERNET_KEYS``.

``django-fernet-fields-v2`` caches its keys on each field (``cached_property``) and,
when ``FERNET_KEYS`` is unset, silently encrypts with ``SECRET_KEY``. Here:

* keys come from ``settings.FERNET_KEYS`` only (a missing or empty list, or a key that is
  not a Fernet key, raises ``ImproperlyConfigured`` naming the position, not the key);
* ``FERNET_USE_HKDF = False`` (our setting) means the keys are raw Fernet keys; ``True``
  derives them with the library's HKDF, for databases encrypted that way;
* the ``MultiFernet`` is cached per tuple of keys, so changing the setting (rotation,
  ``override_settings`` in tests) takes effect at once; :func:`reset_key_cache` drops it;
* a value that no key decrypts is loaded as :class:`Undecryptable` (keeping its
  ciphertext, so saving other columns of the row never destroys it) and reading the
  attribute raises :class:`~credentials.exceptions.CredentialDecryptError` naming the row.
  Listing such rows therefore works (hint and ``fields_set`` are plaintext columns).
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models.query_utils import DeferredAttribute
from django.utils.encoding import force_bytes, force_str
from fernet_fields import EncryptedTextField, hkdf

from credentials.exceptions import CredentialDecryptError


def configured_keys() -> tuple[str, ...]:
    keys = getattr(settings, "FERNET_KEYS", None)
    if not keys:
        raise ImproperlyConfigured(
            "FERNET_KEYS is empty: set it (a list of Fernet keys, newest first) to store credentials."
        )
    return tuple(str(key) for key in keys)


@functools.lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...], use_hkdf: bool) -> tuple[MultiFernet, Fernet]:
    fernets = []
    for position, key in enumerate(keys, start=1):
        raw = hkdf.derive_fernet_key(key) if use_hkdf else key.encode()
        try:
            fernets.append(Fernet(raw))
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"FERNET_KEYS[{position - 1}] is not a Fernet key (32 url-safe base64-encoded bytes); "
                "generate one with cryptography.fernet.Fernet.generate_key()."
            ) from exc
    return MultiFernet(fernets), fernets[0]


def multi_fernet() -> MultiFernet:
    """Decrypts with any configured key, encrypts with the first (newest)."""
    return _fernets(configured_keys(), bool(getattr(settings, "FERNET_USE_HKDF", True)))[0]


def primary_fernet() -> Fernet:
    """The newest key alone: what a rotated row must decrypt with."""
    return _fernets(configured_keys(), bool(getattr(settings, "FERNET_USE_HKDF", True)))[1]


def reset_key_cache() -> None:
    _fernets.cache_clear()


class Undecryptable:
    """A stored value no configured key decrypts. Holds the ciphertext so it survives a save."""

    __slots__ = ("token",)

    def __init__(self, token: bytes):
        self.token = token

    def __repr__(self) -> str:  # never the ciphertext
        return "<undecryptable>"

    __str__ = __repr__


class _SecretAttribute(DeferredAttribute):
    """A *data* descriptor (it has ``__set__``), so reads always pass through ``__get__``
    even though the value lives in the instance ``__dict__``."""

    def __set__(self, instance, value):
        instance.__dict__[self.field.attname] = value

    def __get__(self, instance, cls=None):
        value = super().__get__(instance, cls)
        if isinstance(value, Undecryptable):
            raise CredentialDecryptError(
                credential_id=getattr(instance, "pk", None), label=_describe(instance), fields=[self.field.attname]
            )
        return value


def _describe(instance) -> str:
    parts = [getattr(instance, name, "") for name in ("provider", "purpose", "label")]
    return "/".join(str(part) for part in parts if part)


class SecretField(EncryptedTextField):
    """An ``EncryptedTextField`` keyed by ``FERNET_KEYS`` only; see the module docstring."""

    descriptor_class = _SecretAttribute

    # The library's cached_property versions fall back to SECRET_KEY; these never do.
    @property
    def keys(self):
        return configured_keys()

    @property
    def fernet(self):
        return multi_fernet()

    def pre_save(self, model_instance, add):
        # Not getattr(): an Undecryptable value is written back as its own ciphertext.
        if self.attname in model_instance.__dict__:
            return model_instance.__dict__[self.attname]
        return super().pre_save(model_instance, add)

    def get_db_prep_save(self, value, connection):
        if isinstance(value, Undecryptable):
            return connection.Database.Binary(value.token)
        return super().get_db_prep_save(value, connection)

    def from_db_value(self, value, expression, connection, *args):
        if value is None:
            return None
        token = bytes(value)
        try:
            return self.to_python(force_str(multi_fernet().decrypt(token)))
        except InvalidToken:
            return Undecryptable(token)

    def raw_value(self, instance):
        """The attribute without the decrypt check (``Undecryptable`` or the plaintext)."""
        return instance.__dict__.get(self.attname)

    def encrypt(self, value: str) -> bytes:
        return multi_fernet().encrypt(force_bytes(value))
