"""Who may read the operational endpoints: staff, or a monitor holding ``OPS_TOKEN``.

``metrics`` (request counts per view), ``version`` (Python and Django versions, feature
flags) and the detail of ``status`` (workers, running bots fleet-wide) tell an attacker
what runs and how busy it is. Staff sign in as anyone does (a bearer JWT); Prometheus
and uptime monitors, which cannot log in, send ``Authorization: Bearer <OPS_TOKEN>``,
a long random secret set in the environment (unset: staff only).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from accounts.authentication import authenticate_raw_token

OPS_AUTH = "ops-token"


def _bearer(request) -> str | None:
    value = request.META.get("HTTP_AUTHORIZATION", "")
    if value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _is_ops_token(raw: str | None) -> bool:
    expected = settings.OPS_TOKEN
    return bool(expected and raw) and hmac.compare_digest(raw.encode(), expected.encode())


class OpsTokenAuthentication(BaseAuthentication):
    """``Bearer <OPS_TOKEN>``: a monitor, no user. Anything else is left to the JWT authenticator."""

    def authenticate(self, request):
        if _is_ops_token(_bearer(request)):
            return AnonymousUser(), OPS_AUTH
        return None

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class IsStaffOrOpsToken(BasePermission):
    message = "Only staff or a monitor with the ops token may read this."

    def has_permission(self, request, view) -> bool:
        return request.auth == OPS_AUTH or bool(getattr(request.user, "is_staff", False))


def ops_access(request) -> bool:
    """Whether a request that anyone may make comes from staff or a monitor (``status``'s detail).

    Never raises: a missing, bad or expired token only means the short answer.
    """
    raw = _bearer(request)
    if raw is None:
        return False
    if _is_ops_token(raw):
        return True
    try:
        user, _token = authenticate_raw_token(raw)
    except exceptions.APIException:
        return False
    return bool(user.is_staff)
