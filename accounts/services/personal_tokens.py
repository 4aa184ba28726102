"""Personal API tokens for scripts: created (shown once), listed, revoked."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts import api_tokens, tokens
from accounts.models import ApiToken, User
from accounts.services import audit_record, field_error
from accounts.services.two_factor import check_fresh_code
from core.errors import Conflict, NotFound

MAX_LIVE_TOKENS = 50


def token_list(*, user: User) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at", "-id"))


def _clean_scopes(scopes) -> list[str]:
    if isinstance(scopes, str):
        scopes = [part for part in scopes.replace(",", " ").split() if part]
    if not isinstance(scopes, list) or not scopes:
        raise field_error("scopes", f"Give one or more of: {', '.join(ApiToken.SCOPES)}.")
    unknown = sorted({str(s) for s in scopes} - set(ApiToken.SCOPES))
    if unknown:
        raise field_error("scopes", f"Unknown scope(s) {', '.join(unknown)}; use {', '.join(ApiToken.SCOPES)}.")
    return [s for s in ApiToken.SCOPES if s in scopes]


def token_create(
    *, user: User, name: str, scopes, expires_at: datetime | None = None, two_factor_code: str | None = None
) -> tuple[ApiToken, str]:
    """A new token and its secret, which is never shown again (only its hash is kept)."""
    scopes = _clean_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise field_error("expires_at", "The expiry must be in the future.")
    check_fresh_code(user=user, code=two_factor_code)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # serialize the count per user
        live = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        if live.count() >= MAX_LIVE_TOKENS:
            raise Conflict(f"At most {MAX_LIVE_TOKENS} API tokens; revoke one first.", code="TOO_MANY_TOKENS")
        raw = api_tokens.new_secret()
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=raw[:12],
            token_hash=api_tokens.digest(raw),
            scopes=scopes,
            expires_at=expires_at,
        )
        audit_record(actor=user, action="user.api_token_created", target=token, data={"name": name, "scopes": scopes})
    return token, raw


@transaction.atomic
def token_revoke(*, user: User, token_id) -> ApiToken:
    """Revoke one of the user's tokens at once, streams included; another user's is a 404."""
    try:
        token_id = int(token_id)
    except (TypeError, ValueError):
        token_id = -1
    token = (
        ApiToken.objects.select_for_update().filter(pk=token_id, user=user, revoked_at__isnull=True).first()
        if 0 < token_id < 2**63
        else None
    )
    if token is None:
        raise NotFound("No such API token.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    tokens.sessions_changed(user_id=user.pk)  # open streams on this token re-check and close
    audit_record(actor=user, action="user.api_token_revoked", target=token, data={"name": token.name})
    return token
