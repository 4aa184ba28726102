"""Errors of the credentials app and of the venue providers.

None of these messages ever carries a secret or ciphertext: they name the row or the
venue and say what to do.
"""

from __future__ import annotations

from core.errors import Invalid


class CredentialDecryptError(Invalid):
    """A stored secret cannot be decrypted with the configured ``FERNET_KEYS``.

    ``Invalid`` (the API answers 400) so that any endpoint touching such a row answers a
    clear 4xx, not a 500. The row itself stays intact (its ciphertext is kept) until it is
    saved again or the missing key is put back into ``FERNET_KEYS``.
    """

    default_code = "CREDENTIAL_UNDECRYPTABLE"

    def __init__(self, *, credential_id=None, label: str = "", fields: list[str] | tuple[str, ...] = ()):
        self.credential_id = credential_id
        self.fields = tuple(fields)
        where = f"Credential {credential_id}" + (f" ({label})" if label else "")
        names = ", ".join(self.fields) or "its secrets"
        super().__init__(
            f"{where} cannot be decrypted with the configured FERNET_KEYS ({names}); it was encrypted "
            "with a key that is no longer configured. Restore that key or save the credential again.",
            details={"credential_id": credential_id, "fields": list(self.fields)},
        )


class VenueError(Exception):
    """A venue call failed. ``kind`` is one of the class constants; messages are safe to show."""

    kind = "error"


class VenueAuthError(VenueError):
    """The venue rejected the key set (bad key, bad secret, wrong TOTP, no permission)."""

    kind = "rejected"


class VenueTimeout(VenueError):
    kind = "timeout"


class VenueUnreachable(VenueError):
    kind = "unreachable"


class VenueOrderRejected(VenueError):
    """The venue refused an order (insufficient funds, bad size, unknown symbol)."""

    kind = "order_rejected"


class VenueNotSupported(VenueError):
    """The venue (or this client of it) cannot do this at all."""

    kind = "not_supported"
