"""Bearer JWT authentication with revocation, in one query per request."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Exists
from rest_framework import exceptions
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.api.errors import AccountDisabled
from accounts.models import RevokedAccessToken, User
from accounts.tokens import VERSION_CLAIM


def user_for_access_token(token: AccessToken) -> User:
    """The user a validated access token speaks for; raises if revoked or disabled.

    Shared by the REST API, the WebSocket consumer and the SSE stream.
    """
    try:
        user_id = token[settings.SIMPLE_JWT["USER_ID_CLAIM"]]
        jti = token["jti"]
    except KeyError as exc:
        raise InvalidToken("Token contained no recognizable user identification") from exc
    user = (
        User.objects.filter(pk=user_id)
        .annotate(access_revoked=Exists(RevokedAccessToken.objects.filter(jti=jti)))
        .first()
    )
    if user is None:
        raise exceptions.AuthenticationFailed("User not found.", code="user_not_found")
    if user.access_revoked or token.get(VERSION_CLAIM, -1) != user.token_version:
        raise exceptions.AuthenticationFailed("Token has been revoked.", code="token_revoked")
    if not user.is_active:
        raise AccountDisabled()
    return user


def authenticate_raw_token(raw: str) -> tuple[User, AccessToken]:
    try:
        token = AccessToken(raw)
    except TokenError as exc:
        raise exceptions.AuthenticationFailed("Token is invalid or expired.", code="token_not_valid") from exc
    return user_for_access_token(token), token


class JWTAuthentication(authentication.JWTAuthentication):
    def get_validated_token(self, raw_token: bytes) -> AccessToken:
        try:
            return AccessToken(raw_token)
        except TokenError as exc:
            raise exceptions.AuthenticationFailed("Token is invalid or expired.", code="token_not_valid") from exc

    def get_user(self, validated_token: AccessToken) -> User:
        return user_for_access_token(validated_token)
