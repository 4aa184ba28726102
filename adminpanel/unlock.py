"""Admin unlock tokens: staff re-enter their password to get a short-lived token.

With ``ADMIN_REQUIRE_UNLOCK`` on, every mutating ``/api/admin/*`` call also needs
``X-Admin-Unlock: <token>``: a stolen access token alone cannot change the fleet. The
token is signed (``django.core.signing``, salted for this purpose), names the staff
member and their ``token_version``, and expires after ``ADMIN_UNLOCK_SECONDS`` (15 min
by default); a password change invalidates it with their other tokens.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from rest_framework import permissions

from core.errors import Forbidden

SALT = "botfleet.adminpanel.unlock"


def unlock_seconds() -> int:
    return int(getattr(settings, "ADMIN_UNLOCK_SECONDS", 900))


def unlock_token_for(user) -> str:
    return signing.dumps({"u": user.pk, "v": user.token_version}, salt=SALT, compress=True)


def unlock_token_valid(token: str, user) -> bool:
    try:
        data = signing.loads(token, salt=SALT, max_age=unlock_seconds())
    except signing.BadSignature:  # includes SignatureExpired
        return False
    return data.get("u") == user.pk and data.get("v") == user.token_version


class UnlockRequired(Forbidden):
    default_code = "ADMIN_UNLOCK_REQUIRED"
    default_message = (
        "This admin action needs a fresh unlock: POST admin/unlock with your password, then send X-Admin-Unlock."
    )


class IsStaff(permissions.BasePermission):
    """Staff only (anonymous → 401 through the authenticator's challenge, others → 403);
    mutating methods also need a valid ``X-Admin-Unlock`` when ``ADMIN_REQUIRE_UNLOCK``."""

    message = "Staff only."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        if request.method in permissions.SAFE_METHODS or not settings.ADMIN_REQUIRE_UNLOCK:
            return True
        if getattr(view, "unlock_exempt", False):
            return True
        if not unlock_token_valid(request.headers.get("X-Admin-Unlock", ""), user):
            raise UnlockRequired()
        return True
