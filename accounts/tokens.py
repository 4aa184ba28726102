"""JWT issue, rotation and revocation on top of simplejwt.

simplejwt cannot revoke an access token by itself. Two mechanisms make logout and
password changes take effect at once:

* every token carries ``ver`` = ``User.token_version``; a password change bumps it,
  so every token issued before stops working;
* logout records the access token's ``jti`` in ``RevokedAccessToken`` until it expires.

Both are checked in the same single query that loads the user on every request
(``accounts.authentication``).

Every pair also carries ``sid``, the id of the ``UserSession`` (one signed-in device) it
belongs to: ending a session (``auth/sessions/{id}``, logout, sign out everywhere, a
password reset) makes its tokens stop working, checked in that same query.

Open streams (WebSocket, SSE) authenticate once and then stay open, so whatever ends a
user's sessions (logout, a password change, staff disabling the account or changing its
staff flag) also calls :func:`sessions_changed`: after the commit, every open stream of
that user is told to check its token again, and closes if it no longer passes. The
streams also check at their token's expiry, which bounds how long a lost notice matters
(the channel layer delivers at most once).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import RevokedAccessToken, User, UserSession
from core.context import current_request

logger = logging.getLogger("botfleet.accounts")

VERSION_CLAIM = "ver"
SESSION_CLAIM = "sid"
# The channel-layer message a user's open streams get when their sessions change.
SESSIONS_CHANGED = "sessions.changed"
_NOTIFY_TIMEOUT_SECONDS = 2.0


def session_group(user_id: int) -> str:
    """The channel-layer group every open stream of this user joins, whatever it follows."""
    return f"sessions.{user_id}"


def sessions_changed(*, user_id: int) -> None:
    """After the current transaction commits, tell the user's open streams to re-check their token."""
    transaction.on_commit(lambda: _notify_streams(user_id))


def _notify_streams(user_id: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send() -> None:
        await asyncio.wait_for(
            layer.group_send(session_group(user_id), {"type": SESSIONS_CHANGED}), timeout=_NOTIFY_TIMEOUT_SECONDS
        )

    try:
        async_to_sync(send)()
    except Exception as exc:  # the change is committed; the streams also re-check at expiry
        logger.warning("open streams of user %s not told to re-check: %s", user_id, exc.__class__.__name__)


def session_start(user: User) -> UserSession:
    """A new signed-in device, described by the request that signs it in (if any)."""
    context = current_request()  # None outside a request (a command, a test): nothing to describe
    return UserSession.objects.create(
        user=user,
        last_used_at=timezone.now(),
        ip_address=context.client_ip if context else None,
        user_agent=context.user_agent if context else "",
    )


def sessions_end(user: User, *, session_ids: list[int] | None = None, keep: int | None = None) -> int:
    """End these sessions of ``user`` (all when None) but ``keep``; their tokens stop working,
    their open streams close after the commit. Returns how many ended."""
    live = UserSession.objects.filter(user=user, ended_at__isnull=True)
    if session_ids is not None:
        live = live.filter(pk__in=session_ids)
    if keep is not None:
        live = live.exclude(pk=keep)
    ended = live.update(ended_at=timezone.now())
    if ended:
        sessions_changed(user_id=user.pk)
    return ended


def token_pair_for(user: User, *, session: UserSession | None = None) -> dict:
    """A new access/refresh pair for ``session`` (a new session when None: a sign-in)."""
    if session is None:
        session = session_start(user)
    refresh = RefreshToken.for_user(user)
    refresh[VERSION_CLAIM] = user.token_version
    refresh[SESSION_CLAIM] = session.pk
    access = refresh.access_token
    return {
        "token": str(access),
        "access_token": str(access),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def parse_refresh(raw: str) -> RefreshToken:
    """A valid, unexpired, non-blacklisted refresh token, or TokenError."""
    return RefreshToken(raw)


def blacklist(refresh: RefreshToken) -> bool:
    """Blacklist a refresh token; False if it already was (the unique row decides races)."""
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=refresh[api_settings.JTI_CLAIM],
        defaults={
            "user_id": refresh.get(settings.SIMPLE_JWT["USER_ID_CLAIM"]),
            "token": str(refresh),
            "expires_at": datetime.fromtimestamp(refresh["exp"], tz=UTC),
        },
    )
    try:
        with transaction.atomic():
            _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    except IntegrityError:
        return False
    return created


def blacklist_all_for(user: User) -> None:
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=datetime.now(tz=UTC)).exclude(
        blacklistedtoken__isnull=False
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    sessions_changed(user_id=user.pk)


def revoke_access(access: AccessToken) -> None:
    expires_at = datetime.fromtimestamp(access["exp"], tz=UTC)
    user_id = access[settings.SIMPLE_JWT["USER_ID_CLAIM"]]
    RevokedAccessToken.objects.get_or_create(jti=access["jti"], defaults={"user_id": user_id, "expires_at": expires_at})
    sessions_changed(user_id=int(user_id))
