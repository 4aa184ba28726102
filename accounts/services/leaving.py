"""Leaving Botfleet: a JSON archive of one's data, and closing the account."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts import hooks, tokens
from accounts.models import ApiToken, AuditEntry, RecoveryCode, TwoFactor, User
from accounts.services import _scrub_export, audit_record, field_error
from accounts.services.two_factor import check_fresh_code

ARCHIVE_VERSION = 1


def user_export(*, user: User) -> dict:
    """Everything the user keeps here, as JSON-ready data, with no secret.

    Sections come from the apps that hold the data (``accounts.hooks``); whatever they
    return is scrubbed again of anything named like a secret, as the audit trail is.
    """
    archive = {
        "format": "botfleet-export",
        "version": ARCHIVE_VERSION,
        "exported_at": timezone.now().isoformat(),
        "user": {
            "id": user.pk,
            "email": user.email,
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "full_name": user.full_name,
            "phone": user.phone,
            "is_verified": user.is_verified,
            "date_joined": user.date_joined.isoformat(),
        },
        "api_tokens": [
            {"name": t.name, "scopes": t.scopes, "created_at": t.created_at.isoformat()}
            for t in ApiToken.objects.filter(user=user).order_by("id")
        ],
        "audit": [
            {"action": e.action, "target_type": e.target_type, "target_id": e.target_id, "at": e.created_at.isoformat()}
            for e in AuditEntry.objects.filter(actor=user).order_by("id")
        ],
    }
    for section, exporter in hooks.exporters().items():
        archive[section] = _scrub_export(exporter(user))
    audit_record(actor=user, action="user.exported", target=user)
    return archive


def user_leave(*, user: User, password: str, two_factor_code: str | None = None) -> None:
    """Close the account: its bots stop, its keys and channels are erased (the apps'
    leavers), every session and token ends, and it is deactivated. History (orders,
    trades, the audit trail) stays as staff policy keeps it."""
    if not user.check_password(password or ""):
        raise field_error("password", "The password is incorrect.")
    check_fresh_code(user=user, code=two_factor_code)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        for leaver in hooks.leavers().values():
            leaver(user)
        now = timezone.now()
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
        TwoFactor.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        user.is_active = False
        user.token_version += 1
        user.save(update_fields=["is_active", "token_version"])
        tokens.blacklist_all_for(user)
        tokens.sessions_end(user)
        audit_record(actor=user, action="user.left", target=user, data={"leavers": sorted(hooks.leavers())})
