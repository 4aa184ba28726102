"""Login lockout answers: a 429 envelope whose ``Retry-After`` is the cool-off left.

django-axes counts failures per account and per client IP (``AXES_LOCKOUT_PARAMETERS``)
and flags the request; :func:`check_credentials` (the HTTP side of a login: axes needs
the request) raises :func:`lockout_error`. Axes'
middleware would then replace that answer with its own page, so
``AXES_LOCKOUT_CALLABLE`` points at :func:`lockout_response`, which keeps ours.

:class:`AxesMiddleware` replaces axes' own: on its async path (every request under
ASGI, i.e. ``make run``) axes 8 passes the credentials where the response goes, so the
lockout callable got a dict and the 5th wrong login answered 500.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from axes.helpers import get_lockout_response
from axes.middleware import AxesMiddleware as _AxesMiddleware
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import authenticate
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.backends import axes_username
from accounts.models import User
from core.client_ip import client_ip
from core.envelope import error_json_response
from core.errors import RateLimited, Unauthenticated


def check_credentials(request: HttpRequest, identifier: str, password: str) -> User:
    """The account these credentials open, through django-axes (which counts the failures).

    Raises ``RateLimited`` (ACCOUNT_LOCKED) while the account or the IP is locked out and
    ``Unauthenticated`` for a wrong identifier or password; a disabled account is returned
    (the login service refuses it with ACCOUNT_DISABLED, not "wrong password").
    """
    identifier = (identifier or "").strip()
    user = authenticate(request, username=identifier, password=password)
    if getattr(request, "axes_locked_out", False):
        raise lockout_error(request, identifier)
    if user is None:
        raise Unauthenticated("Invalid credentials.", code="INVALID_CREDENTIALS")
    return user


def retry_after_seconds(request: HttpRequest, identifier: str) -> int:
    """Seconds until the newest failure that counts against this account or IP ages out."""
    cooloff = settings.AXES_COOLOFF_TIME
    ip = getattr(request, "axes_ip_address", None) or client_ip(request)
    latest = AccessAttempt.objects.filter(
        Q(username=axes_username(request, {"username": identifier})) | Q(ip_address=ip),
        attempt_time__gte=timezone.now() - cooloff,
    ).aggregate(latest=Max("attempt_time"))["latest"]
    if latest is None:
        return int(cooloff.total_seconds())
    return max(1, int((latest + cooloff - timezone.now()).total_seconds()) + 1)


def lockout_error(request: HttpRequest, identifier: str) -> RateLimited:
    seconds = retry_after_seconds(request, identifier)
    return RateLimited(
        f"Too many failed logins; try again in {max(1, round(seconds / 60))} minutes.",
        code="ACCOUNT_LOCKED",
        details={"retry_after": seconds},
        retry_after=seconds,
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the API's own 429 stands; elsewhere (admin login) the same envelope."""
    if original_response is not None and original_response.status_code == 429:
        return original_response
    error = lockout_error(request, str((credentials or {}).get("username") or ""))
    return error_json_response(
        429, error.message, code=error.code, details=error.details, headers={"Retry-After": str(error.retry_after)}
    )


class AxesMiddleware(_AxesMiddleware):
    """axes' middleware with its async path calling the lockout handler as the sync one does."""

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        if settings.AXES_ENABLED and getattr(request, "axes_locked_out", None):
            credentials = getattr(request, "axes_credentials", None)
            response = await sync_to_async(get_lockout_response, thread_sensitive=True)(request, response, credentials)
        return response
