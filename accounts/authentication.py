"""Bearer JWT authentication with revocation, in one query per request."""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Exists
from rest_framework import exceptions
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.utils import aware_utcnow

from accounts.models import RevokedAccessToken, User
from accounts.tokens import VERSION_CLAIM
from core.envelope import AccountDisabled

_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1


def _user_with_revocation(user_id, jti: str) -> User | None:
    """The user with ``access_revoked`` (is this jti revoked?), in one query."""
    try:
        user_id = User._meta.pk.to_python(user_id)
    except ValidationError:
        return None
    if user_id is None:  # a null claim: no user
        return None
    # Claims no row can match, refused before they reach the database (where an
    # out-of-range id is an error, and a NUL or a lone surrogate cannot be sent as
    # text). Our token ids are hex.
    if not _BIGINT_MIN <= user_id <= _BIGINT_MAX or not isinstance(jti, str) or not jti.isascii() or "\x00" in jti:
        return None
    revoked = RevokedAccessToken.objects.filter(jti=jti)
    return User.objects.filter(pk=user_id).annotate(access_revoked=Exists(revoked)).first()


def user_for_access_token(token: AccessToken) -> User:
    """The user a validated access token speaks for; raises if revoked or disabled.

    Shared by the REST API, the WebSocket consumer and the SSE stream.
    """
    try:
        user_id = token[settings.SIMPLE_JWT["USER_ID_CLAIM"]]
        jti = token["jti"]
    except KeyError as exc:
        raise InvalidToken("Token contained no recognizable user identification") from exc
    user = _user_with_revocation(user_id, jti)
    if user is None:
        raise exceptions.AuthenticationFailed("User not found.", code="user_not_found")
    if user.access_revoked or token.get(VERSION_CLAIM, -1) != user.token_version:
        raise exceptions.AuthenticationFailed("Token has been revoked.", code="token_revoked")
    if not user.is_active:
        raise AccountDisabled()
    return user


def authenticate_raw_token(raw: str) -> tuple[User, AccessToken]:
    try:
        token = parse_access_token(raw)
    except (TokenError, UnicodeDecodeError) as exc:
        raise exceptions.AuthenticationFailed("Token is invalid or expired.", code="token_not_valid") from exc
    return user_for_access_token(token), token


@functools.lru_cache(maxsize=4096)
def _verified_access_token(raw: str) -> AccessToken:
    return AccessToken(raw)


def parse_access_token(raw: str | bytes) -> AccessToken:
    """A verified access token; raises TokenError.

    The signature check of a given token string always gives the same answer, so
    recently seen tokens are remembered (a client sends the same one for minutes);
    the expiry is checked again on every use.
    """
    token = _verified_access_token(raw.decode() if isinstance(raw, bytes) else raw)
    token.check_exp(current_time=aware_utcnow())  # not the time it was first verified
    return token


class JWTAuthentication(authentication.JWTAuthentication):
    def get_validated_token(self, raw_token: bytes) -> AccessToken:
        try:
            return parse_access_token(raw_token)
        except (TokenError, UnicodeDecodeError) as exc:
            raise exceptions.AuthenticationFailed("Token is invalid or expired.", code="token_not_valid") from exc

    def get_user(self, validated_token: AccessToken) -> User:
        return user_for_access_token(validated_token)
