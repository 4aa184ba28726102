"""Bearer authentication: JWTs with revocation and sessions, and personal API tokens,
each in one query per request.

A personal API token (``bfp_…``) authenticates like an access token but only for what
its scopes allow: ``read`` (any GET), ``trade`` (every other write: start/stop, orders),
``keys`` (the ``keys/*`` and ``val/*`` endpoints, reading or writing). Account
management (``auth/*`` but ``GET auth/me``) and staff endpoints need a signed-in
session, never a token. A missing scope is a 403 naming it.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from rest_framework import exceptions
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.utils import aware_utcnow

from accounts import api_tokens, policy
from accounts.models import ApiToken, RevokedAccessToken, TwoFactor, User, UserSession
from accounts.tokens import SESSION_CLAIM, VERSION_CLAIM
from core.envelope import AccountDisabled, ApiError

_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1
# How stale a session's or token's "last used" may get before a request writes it again:
# one small UPDATE a minute per device, not one per request.
TOUCH_EVERY = timedelta(seconds=60)
# A token scope no token can hold: token requests to these views are refused.
SIGNED_IN_ONLY = "signed-in session"


def _valid_id(value) -> int | None:
    try:
        value = User._meta.pk.to_python(value)
    except ValidationError:
        return None
    if value is None or not _BIGINT_MIN <= value <= _BIGINT_MAX:
        return None
    return value


def _user_with_revocation(user_id, jti: str, sid) -> User | None:
    """The user with ``access_revoked`` (is this jti revoked?) and ``session_used`` (the
    last use of the token's session, None once it ended), in one query."""
    user_id = _valid_id(user_id)
    if user_id is None:  # a null or malformed claim: no user
        return None
    # Claims no row can match, refused before they reach the database (where an
    # out-of-range id is an error, and a NUL or a lone surrogate cannot be sent as
    # text). Our token ids are hex.
    if not isinstance(jti, str) or not jti.isascii() or "\x00" in jti:
        return None
    revoked = RevokedAccessToken.objects.filter(jti=jti)
    query = User.objects.filter(pk=user_id).annotate(access_revoked=Exists(revoked))
    if sid is not None:
        session = UserSession.objects.filter(pk=sid, user_id=OuterRef("pk"), ended_at__isnull=True)
        query = query.annotate(session_used=Subquery(session.values("last_used_at")[:1]))
    return query.first()


def user_for_access_token(token: AccessToken) -> User:
    """The user a validated access token speaks for; raises if revoked, ended or disabled.

    Shared by the REST API, the WebSocket consumer and the SSE stream.
    """
    try:
        user_id = token[settings.SIMPLE_JWT["USER_ID_CLAIM"]]
        jti = token["jti"]
    except KeyError as exc:
        raise InvalidToken("Token contained no recognizable user identification") from exc
    raw_sid = token.get(SESSION_CLAIM)  # tokens issued before sessions existed have none
    sid = _valid_id(raw_sid) if raw_sid is not None else None
    if raw_sid is not None and sid is None:
        raise exceptions.AuthenticationFailed("Token is invalid or expired.", code="token_not_valid")
    user = _user_with_revocation(user_id, jti, sid)
    if user is None:
        raise exceptions.AuthenticationFailed("User not found.", code="user_not_found")
    ended = sid is not None and user.session_used is None
    if ended or user.access_revoked or token.get(VERSION_CLAIM, -1) != user.token_version:
        raise exceptions.AuthenticationFailed("Token has been revoked.", code="token_revoked")
    if not user.is_active:
        raise AccountDisabled()
    if sid is not None and user.session_used < timezone.now() - TOUCH_EVERY:
        UserSession.objects.filter(pk=sid).update(last_used_at=timezone.now())
    return user


def user_for_api_token(raw: str) -> tuple[User, ApiToken]:
    """The user and token of a personal API token; raises if unknown, expired, revoked or disabled."""
    token = api_tokens.find(raw)
    if token is None:
        raise exceptions.AuthenticationFailed("API token is invalid, expired or revoked.", code="token_not_valid")
    if not token.user.is_active:
        raise AccountDisabled()
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


def authenticate_raw_token(raw: str) -> tuple[User, AccessToken]:
    try:
        token = parse_access_token(raw)
    except (TokenError, UnicodeDecodeError) as exc:
        raise exceptions.AuthenticationFailed("Token is invalid or expired.", code="token_not_valid") from exc
    return user_for_access_token(token), token


def authenticate_stream_token(raw: str) -> tuple[User, float]:
    """The user of a stream's token (an access JWT, or an API token with ``read``) and when
    it stops being accepted, in epoch seconds (``inf`` for a token that never expires)."""
    if api_tokens.looks_like(raw):
        user, token = user_for_api_token(raw)
        _require_scope(token, "read")
        return user, token.expires_at.timestamp() if token.expires_at else float("inf")
    user, access = authenticate_raw_token(raw)
    return user, float(access["exp"]) + settings.SIMPLE_JWT["LEEWAY"]


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


def required_scope(request, view) -> str:
    """The scope a personal API token needs for this request (``SIGNED_IN_ONLY``: none will do).

    A view may say so itself (``token_scope``: a scope, or a dict by method); otherwise
    the path and the method decide.
    """
    declared = getattr(view, "token_scope", None)
    if isinstance(declared, dict):
        declared = declared.get(request.method)
    if declared:
        return declared
    path = request.path
    if path.startswith(("/api/auth/", "/api/admin/")):
        return SIGNED_IN_ONLY
    if path.startswith(("/api/keys", "/api/val/")):
        return "keys"
    return "read" if request.method in ("GET", "HEAD", "OPTIONS") else "trade"


def _require_scope(token: ApiToken, scope: str) -> None:
    if scope == SIGNED_IN_ONLY:
        raise TokenForbidden(
            "Personal API tokens cannot do this; sign in with a password.",
            code="TOKEN_NOT_ALLOWED",
        )
    if scope not in token.scopes:
        raise TokenForbidden(
            f"This API token lacks the '{scope}' scope.",
            code="TOKEN_SCOPE_MISSING",
            details={"required_scope": scope, "token_scopes": list(token.scopes)},
        )


def _require_staff_two_factor(user: User, path: str) -> None:
    """Under the staff 2FA policy, a staff account without 2FA reaches only auth/* (to turn it on)."""
    if path.startswith("/api/auth/") or not policy.staff_must_use_two_factor():
        return
    if not TwoFactor.objects.filter(user=user, enabled_at__isnull=False).exists():
        raise TokenForbidden(
            "Staff accounts must turn on two-factor sign-in first (auth/2fa/setup, then auth/2fa/enable).",
            code="TWO_FACTOR_REQUIRED",
        )


class TokenForbidden(ApiError):
    """403 for an API token used beyond its scopes (an APIException: it is raised while
    DRF authenticates, where only those are answered as such)."""

    status_code = 403
    default_code = "PERMISSION_DENIED"


class JWTAuthentication(authentication.JWTAuthentication):
    def authenticate(self, request):
        header = self.get_header(request)
        raw = self.get_raw_token(header) if header is not None else None
        if raw is not None and api_tokens.looks_like(raw):
            user, token = user_for_api_token(raw.decode(errors="replace"))
            _require_scope(token, required_scope(request, request.parser_context.get("view")))
            return user, token
        authenticated = super().authenticate(request)
        if authenticated is not None and authenticated[0].is_staff:
            _require_staff_two_factor(authenticated[0], request.path)
        return authenticated

    def get_validated_token(self, raw_token: bytes) -> AccessToken:
        try:
            return parse_access_token(raw_token)
        except (TokenError, UnicodeDecodeError) as exc:
            raise exceptions.AuthenticationFailed("Token is invalid or expired.", code="token_not_valid") from exc

    def get_user(self, validated_token: AccessToken) -> User:
        return user_for_access_token(validated_token)
