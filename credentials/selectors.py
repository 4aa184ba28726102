"""Reads of credentials, always scoped to the acting user."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import Invalid, NotFound
from credentials import providers
from credentials.models import Credential


class CredentialUnavailable(Invalid):
    """No key set may be used for this order (missing, wrong purpose or venue, ambiguous)."""

    default_code = "CREDENTIAL_UNAVAILABLE"


def credential_list(*, user) -> QuerySet[Credential]:
    return Credential.objects.filter(owner=user).order_by("provider", "purpose", "label", "id")


def credential_get(*, user, credential_id) -> Credential:
    """The user's credential, or ``NotFound`` (another user's credential does not exist for them)."""
    try:
        return Credential.objects.get(owner=user, pk=int(credential_id))
    except (Credential.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such credential.") from None


def credential_find(*, user, provider: str, purpose: str, label: str = "default") -> Credential | None:
    return Credential.objects.filter(owner=user, provider=provider, purpose=purpose, label=label).first()


def credential_for_order(*, user, provider: str, purpose: str, credential_id: int | None = None) -> Credential | None:
    """The key set the engine may use for ``user``'s orders on ``provider``.

    ``purpose`` is ``live`` for real orders and ``backtest`` for backtests: a live order
    only ever gets a ``live`` set and a backtest only a ``backtest`` set. With
    ``credential_id`` that exact set (the user's own, else 404) must match venue and
    purpose; without it the set labelled ``default`` is used, or the only one there is.
    Venues that need no keys (``simulated``, ``replay``) return ``None``.

    Raises ``CredentialUnavailable`` (``Invalid``) with a message saying what to do, ``NotFound``
    for another user's id, and ``CredentialDecryptError`` when the set cannot be decrypted.
    """
    if purpose not in Credential.Purpose.values:
        raise ValueError(f"purpose must be live or backtest, not {purpose!r}")
    if not providers.get(provider).needs_keys:
        return None
    if credential_id is not None:
        credential = credential_get(user=user, credential_id=credential_id)
        if credential.provider != provider:
            raise CredentialUnavailable(
                f"Credential {credential.pk} is for {credential.provider}, not {provider}.",
                code="CREDENTIAL_WRONG_VENUE",
            )
        if credential.purpose != purpose:
            raise CredentialUnavailable(
                f"Credential {credential.pk} is a {credential.purpose} key set; "
                f"{'live orders' if purpose == 'live' else 'backtests'} need a {purpose} set.",
                code="CREDENTIAL_WRONG_PURPOSE",
            )
    else:
        candidates = list(Credential.objects.filter(owner=user, provider=provider, purpose=purpose))
        if not candidates:
            raise CredentialUnavailable(
                f"No {purpose} key set for {provider}; save one with POST /api/keys/save (purpose {purpose}).",
                code="CREDENTIAL_REQUIRED",
            )
        default = [c for c in candidates if c.label == "default"]
        if default:
            credential = default[0]
        elif len(candidates) == 1:
            credential = candidates[0]
        else:
            raise CredentialUnavailable(
                f"Several {purpose} key sets for {provider} and none labelled default; choose one by credential_id.",
                code="CREDENTIAL_AMBIGUOUS",
            )
    credential.secrets()  # a clear CredentialDecryptError now, not deep inside an order
    return credential
