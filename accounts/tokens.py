"""JWT issue, rotation and revocation on top of simplejwt.

simplejwt cannot revoke an access token by itself. Two mechanisms make logout and
password changes take effect at once:

* every token carries ``ver`` = ``User.token_version``; a password change bumps it,
  so every token issued before stops working;
* logout records the access token's ``jti`` in ``RevokedAccessToken`` until it expires.

Both are checked in the same single query that loads the user on every request
(``accounts.authentication``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import RevokedAccessToken, User

VERSION_CLAIM = "ver"


def token_pair_for(user: User) -> dict:
    refresh = RefreshToken.for_user(user)
    refresh[VERSION_CLAIM] = user.token_version
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


def revoke_access(access: AccessToken) -> None:
    expires_at = datetime.fromtimestamp(access["exp"], tz=UTC)
    RevokedAccessToken.objects.get_or_create(
        jti=access["jti"], defaults={"user_id": access[settings.SIMPLE_JWT["USER_ID_CLAIM"]], "expires_at": expires_at}
    )
