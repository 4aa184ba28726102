"""Credential use cases. Each writes in one transaction, with its audit entry.

Secrets never leave these functions except into the encrypted columns and the
provider clients: audit entries carry the provider, purpose, label and the *names* of
the fields set; logs carry ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from accounts.services import audit_record
from accounts.usage import usage_add
from core.errors import Conflict
from credentials import payloads, providers
from credentials.models import SECRET_FIELDS, Credential, key_hint
from credentials.providers.base import KeySet, TestResult
from credentials.selectors import credential_find, credential_get

logger = logging.getLogger("botfleet.credentials")

# ---------------------------------------------------------------------------
# "Is this credential in use?" — filled by apps that reference credentials
# ---------------------------------------------------------------------------
# credentials may not import bots (bots → credentials), so bots registers a checker at
# start-up (its AppConfig.ready). A checker gets the credential, runs inside the delete
# transaction (the credential row is locked), and returns why it may not be deleted, or
# None. Example: "bot 12 'Alpha' is running live with it".
InUseChecker = Callable[[Credential], str | None]
_in_use_checkers: list[InUseChecker] = []


def register_in_use_checker(checker: InUseChecker) -> InUseChecker:
    """Add a checker (idempotent; usable as a decorator)."""
    if checker not in _in_use_checkers:
        _in_use_checkers.append(checker)
    return checker


def unregister_in_use_checker(checker: InUseChecker) -> None:
    if checker in _in_use_checkers:
        _in_use_checkers.remove(checker)


def credential_in_use_reason(credential: Credential) -> str | None:
    for checker in list(_in_use_checkers):
        reason = checker(credential)
        if reason:
            return reason
    return None


# ---------------------------------------------------------------------------
# Save, merge, delete
# ---------------------------------------------------------------------------
def _apply(credential: Credential, values: dict[str, str]) -> None:
    for name in SECRET_FIELDS:
        setattr(credential, name, values.get(name, ""))
    credential.fields_set = [name for name in SECRET_FIELDS if values.get(name)]
    credential.api_key_hint = key_hint(values.get("api_key", ""))
    # New keys: the last test said nothing about them.
    credential.last_tested_at = None
    credential.last_test_ok = None
    credential.last_test_message = ""


def _locked(*, user, provider: str, purpose: str, label: str) -> Credential | None:
    return (
        Credential.objects.select_for_update()
        .filter(owner=user, provider=provider, purpose=purpose, label=label)
        .first()
    )


def _store(*, user, provider: str, purpose: str, label: str, merge: bool, values: dict[str, str]) -> tuple:
    """Create or update the set under the unique (owner, provider, purpose, label). In a transaction."""
    credential = _locked(user=user, provider=provider, purpose=purpose, label=label)
    created = credential is None
    if created:
        credential = Credential(owner=user, provider=provider, purpose=purpose, label=label)
    elif merge:
        stored = credential.secrets()
        values = {**{k: v for k, v in stored.items() if v}, **values}
    payloads.require_fields(provider, values)
    _apply(credential, values)
    if created:
        try:
            with transaction.atomic():
                credential.save()
        except IntegrityError:
            # A concurrent save created it first: replace that one instead.
            credential = _locked(user=user, provider=provider, purpose=purpose, label=label)
            created = False
            _apply(credential, values)
            credential.save()
    else:
        credential.save()
    if created:
        usage_add(user_id=user.pk, credentials=1)
    return credential, created


def _audit_data(credential: Credential, **extra) -> dict:
    return {
        "provider": credential.provider,
        "purpose": credential.purpose,
        "label": credential.label,
        "fields_set": list(credential.fields_set),
        **extra,
    }


@transaction.atomic
def credential_save(*, user, provider: str, purpose: str, label: str, secrets: dict[str, str]) -> Credential:
    """Save a key set; the same provider + purpose + label is replaced as a whole."""
    credential, created = _store(
        user=user, provider=provider, purpose=purpose, label=label, merge=False, values=dict(secrets)
    )
    audit_record(
        actor=user,
        action="credential.saved",
        target=credential,
        data=_audit_data(credential, created=created),
    )
    logger.info("credential %s saved (%s/%s/%s)", credential.pk, provider, purpose, label)
    return credential


@transaction.atomic
def credential_profile_update(*, user, sets: dict[str, dict[str, str]]) -> list[Credential]:
    """The flat profile form: per purpose, merge the non-blank fields into the ``angelone`` set.

    A blank field keeps the stored value; a set that does not exist yet needs every field.
    """
    saved = []
    for purpose, values in sets.items():
        credential, created = _store(
            user=user, provider=payloads.FLAT_PROVIDER, purpose=purpose, label="default", merge=True, values=values
        )
        audit_record(
            actor=user,
            action="credential.saved",
            target=credential,
            data=_audit_data(credential, created=created, via="val/update_profile", fields_sent=sorted(values)),
        )
        saved.append(credential)
    return saved


@transaction.atomic
def credential_delete(*, user, credential_id) -> None:
    """Delete the user's credential; 409 while something (a running live bot) uses it.

    One transaction that locks the row first: two interleaved deletes of the same key set
    serialize on that lock, and the second finds it gone (404) instead of deleting
    nothing and still auditing it and decrementing the usage counter.
    """
    with transaction.atomic():
        credential_get(user=user, credential_id=credential_id)  # 404 for a malformed or foreign id
        credential = Credential.objects.select_for_update().filter(owner=user, pk=int(credential_id)).first()
        if credential is None:  # deleted by a concurrent request while this one waited
            credential_get(user=user, credential_id=credential_id)
        reason = credential_in_use_reason(credential)
        if reason:
            raise Conflict(f"This key set is in use: {reason}.", code="CREDENTIAL_IN_USE")
        data = _audit_data(credential, credential_id=credential.pk)
        try:
            with transaction.atomic():
                credential.delete()
        except ProtectedError as exc:
            raise Conflict(
                "This key set is still referenced (by a bot); remove that first.", code="CREDENTIAL_IN_USE"
            ) from exc
        usage_add(user_id=user.pk, credentials=-1)
        audit_record(
            actor=user,
            action="credential.deleted",
            target_type="credential",
            target_id=data["credential_id"],
            data=data,
        )
        pk = data["credential_id"]
        transaction.on_commit(lambda: providers.forget_client(pk))


# ---------------------------------------------------------------------------
# Key tests
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyTestOutcome:
    provider: str
    result: TestResult
    credential: Credential | None


def credential_test(*, user, payload: payloads.KeyPayload) -> KeyTestOutcome:
    """Test a key set against its venue (bounded by ``KEYS_TEST_TIMEOUT_SECONDS``).

    What is tested: the saved set ``payload.credential_id`` (the user's own, else 404); or
    the secrets in the payload; or, when none were sent, the saved set with the payload's
    provider + purpose + label. A saved set records the result. The venue is called
    outside any transaction (a slow venue must not hold a database lock).
    """
    credential = None
    if payload.credential_id is not None:
        credential = credential_get(user=user, credential_id=payload.credential_id)
    elif not payload.secrets and providers.get(payload.provider).needs_keys:
        credential = credential_find(user=user, provider=payload.provider, purpose=payload.purpose, label=payload.label)
        if credential is None:
            payloads.require_fields(payload.provider, payload.secrets)  # 400 naming the fields
    if credential is not None:
        provider_id, keyset = credential.provider, credential.keyset()
    else:
        payloads.require_fields(payload.provider, payload.secrets)
        provider_id, keyset = payload.provider, KeySet(provider=payload.provider, **payload.secrets)

    result = providers.get(provider_id).test(keyset)
    with transaction.atomic():
        if credential is not None:
            # .update(): a test is not a change of the keys (updated_at, and so the cached client, stay).
            Credential.objects.filter(pk=credential.pk).update(
                last_tested_at=timezone.now(), last_test_ok=result.ok, last_test_message=result.message
            )
            credential.refresh_from_db(fields=["last_tested_at", "last_test_ok", "last_test_message"])
        audit_record(
            actor=user,
            action="credential.tested",
            target=credential,
            target_type="credential",
            data={
                "provider": provider_id,
                "purpose": credential.purpose if credential else payload.purpose,
                "label": credential.label if credential else payload.label,
                "saved": credential is not None,
                "ok": result.ok,
                "message": result.message,
                "latency_ms": result.latency_ms,
            },
        )
    logger.info("key test for %s: ok=%s in %d ms", provider_id, result.ok, result.latency_ms)
    return KeyTestOutcome(provider=provider_id, result=result, credential=credential)


def credentials_erase_for_leaver(user) -> None:
    """A user who leaves (``accounts.hooks``): every key set of theirs is erased.

    Runs inside the account-closing transaction, after their bots stopped. A key set a
    bot still references (kept as history) cannot be deleted: its secrets are blanked
    instead, so no secret of a departed user stays either way.
    """
    for credential in Credential.objects.select_for_update().filter(owner=user):
        pk = credential.pk
        try:
            with transaction.atomic():
                credential.delete()
            usage_add(user_id=user.pk, credentials=-1)
        except ProtectedError:
            _apply(credential, {})
            credential.save()
        audit_record(actor=user, action="credential.erased", target_type="credential", target_id=pk)
        transaction.on_commit(lambda pk=pk: providers.forget_client(pk))
