"""Account use cases. Each is one transaction and writes its audit entry."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import smtplib
from datetime import datetime, timedelta
from typing import Any

import orjson
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts import tokens
from accounts.backends import find_user_by_identifier
from accounts.models import AuditEntry, EmailOtp, User, UserSession
from accounts.usage import usage_add
from core.client_ip import client_ip
from core.context import current_client_ip, current_request
from core.errors import Conflict, Forbidden, Invalid, RateLimited, Unauthenticated, Unavailable
from core.renderers import dumps

logger = logging.getLogger("botfleet.accounts")

# Keys that may never be stored in an audit entry, at any depth.
_SECRET_KEY_PATTERN = re.compile(r"secret|password|passphrase|token|totp|api_?key|otp|signature", re.IGNORECASE)


# ---------------------------------------------------------------------------
# Audit
# ---------------------------------------------------------------------------
def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: ("[redacted]" if _SECRET_KEY_PATTERN.search(str(key)) else _scrub(item)) for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(item) for item in value]
    return value


def _scrub_export(value: Any) -> Any:
    """Export data without anything named like a secret (dropped, not redacted)."""
    if isinstance(value, dict):
        return {k: _scrub_export(v) for k, v in value.items() if not _SECRET_KEY_PATTERN.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [_scrub_export(item) for item in value]
    return value


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: Any = None,
    target_type: str = "",
    target_id: Any = "",
    data: dict | None = None,
    request: Any = None,
) -> AuditEntry:
    """Append to the audit trail. Every app calls this; it joins the caller's transaction.

    ``target`` may be a model instance (type and id are taken from it). ``data`` is
    scrubbed of anything that looks like a secret, whatever the caller passed. Without
    ``request`` the client's IP comes from the current request's context (the middleware
    sets it), so services need not be handed the request.
    """
    context = current_request()
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or target.pk
    if actor is not None and actor.pk:
        usage_add(user_id=actor.pk, audit_entries=1)
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_email=getattr(actor, "email", "") or "",
        action=action,
        target_type=target_type,
        target_id=str(target_id or ""),
        data=orjson.loads(dumps(_scrub(data or {}))),  # JSON-safe: decimals, datetimes, ids
        ip_address=client_ip(request) if request is not None else current_client_ip(),
        # From the request's context, not the log id (which outlives the request on purpose).
        request_id=context.request_id if context is not None else "",
    )


# ---------------------------------------------------------------------------
# Registration and login
# ---------------------------------------------------------------------------
def field_error(field: str, *messages: str) -> Invalid:
    """A 400 naming the field, shaped as a serializer's error (code, message and details alike)."""
    return Invalid(f"{field}: {messages[0]}", code="VALIDATION_ERROR", details={field: list(messages)})


def _validate_password(password: str, user: User, *, field: str = "password") -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise field_error(field, *exc.messages) from exc


def account_disabled() -> Forbidden:
    return Forbidden("This account has been disabled by staff.", code="ACCOUNT_DISABLED")


@transaction.atomic
def user_register(
    *,
    email: str,
    password: str,
    username: str = "",
    first_name: str = "",
    full_name: str = "",
    phone: str = "",
) -> User:
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            "An account with this email already exists.",
            code="EMAIL_TAKEN",
            details={"email": ["An account with this email already exists."]},
        )
    if username and User.objects.username_taken(username):
        raise Conflict(
            "This username is taken.", code="USERNAME_TAKEN", details={"username": ["This username is taken."]}
        )
    candidate = User(email=email, username=username, first_name=first_name, full_name=full_name)
    _validate_password(password, candidate)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email,
                password=password,
                username=username or None,
                first_name=first_name,
                full_name=full_name,
                phone=phone,
            )
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("An account with this email or username already exists.", code="EMAIL_TAKEN") from exc
    audit_record(actor=user, action="user.registered", target=user)
    return user


def user_login(*, user: User) -> dict:
    """Sign in a user whose password ``accounts.lockout.check_credentials`` accepted.

    The password check itself goes through django-axes, which needs the HTTP request to
    count failures per account and IP; that adapter lives beside the lockout answers.
    Returns ``{user, <token pair>}``, or with two-factor sign-in on
    ``{two_factor_required: True, challenge, expires_in}`` and no token.
    """
    from accounts.services import two_factor

    if not user.is_active:
        raise account_disabled()
    AccessAttempt.objects.filter(username=user.email).delete()  # the password was right
    if two_factor.is_enabled(user):
        return two_factor.challenge_issue(user=user)
    return session_open(user=user)


@transaction.atomic
def session_open(*, user: User) -> dict:
    """A new signed-in session for ``user``: its token pair, the login stamped and audited."""
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    audit_record(actor=user, action="user.logged_in", target=user)
    return {"user": user, **tokens.token_pair_for(user)}


def token_refresh(*, raw_refresh: str) -> dict:
    """Rotate a refresh token: the old one is blacklisted, a new pair is issued."""
    try:
        refresh = tokens.parse_refresh(raw_refresh)
    except TokenError as exc:
        raise Unauthenticated("Refresh token is invalid, expired or revoked.", code="TOKEN_INVALID") from exc
    user = User.objects.filter(pk=refresh.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])).first()
    if user is None or refresh.get(tokens.VERSION_CLAIM, -1) != user.token_version:
        raise Unauthenticated("Refresh token has been revoked.", code="TOKEN_REVOKED")
    if not user.is_active:
        raise account_disabled()
    with transaction.atomic():
        session = _live_session(user, refresh.get(tokens.SESSION_CLAIM))
        if not tokens.blacklist(refresh):
            # A concurrent refresh with the same token won: one use, one new pair.
            raise Unauthenticated("Refresh token is invalid, expired or revoked.", code="TOKEN_INVALID")
        if session is not None:
            UserSession.objects.filter(pk=session.pk).update(last_used_at=timezone.now())
        return tokens.token_pair_for(user, session=session)


def _live_session(user: User, sid) -> UserSession | None:
    """The refresh token's session, locked; None for a token from before sessions (it gets a
    new one); TOKEN_REVOKED once the session ended."""
    if sid is None:
        return None
    session = (
        UserSession.objects.select_for_update()
        .filter(pk=sid if isinstance(sid, int) else -1, user=user, ended_at__isnull=True)
        .first()
    )
    if session is None:
        raise Unauthenticated("Refresh token has been revoked.", code="TOKEN_REVOKED")
    return session


@transaction.atomic
def user_logout(*, user: User, access: AccessToken, raw_refresh: str = "") -> None:
    """The current access token and (if given) the refresh token stop working at once; with
    the refresh token, the session ends too (without it, the client may still refresh)."""
    tokens.revoke_access(access)
    if raw_refresh:
        try:
            refresh = tokens.parse_refresh(raw_refresh)
        except TokenError:
            refresh = None  # expired or already revoked: nothing left to revoke
        if refresh is not None:
            # simplejwt writes the user id claim as a string.
            if str(refresh.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])) != str(user.pk):
                raise field_error("refresh", "This refresh token belongs to another session.")
            tokens.blacklist(refresh)
            sid = refresh.get(tokens.SESSION_CLAIM)
            if isinstance(sid, int):
                tokens.sessions_end(user, session_ids=[sid])
    audit_record(actor=user, action="user.logged_out", target=user)


_PROFILE_FIELDS = ("username", "first_name", "last_name", "full_name", "phone")


@transaction.atomic
def user_update_profile(*, user: User, data: dict) -> User:
    user = User.objects.select_for_update().get(pk=user.pk)
    changed = {}
    for field in _PROFILE_FIELDS:
        if field in data and getattr(user, field) != data[field]:
            changed[field] = data[field]
    taken = Conflict(
        "This username is taken.", code="USERNAME_TAKEN", details={"username": ["This username is taken."]}
    )
    if "username" in changed and User.objects.username_taken(changed["username"], exclude_pk=user.pk):
        raise taken
    for field, value in changed.items():
        setattr(user, field, value)
    if changed:
        try:
            with transaction.atomic():
                user.save(update_fields=list(changed))
        except IntegrityError as exc:  # a concurrent rename took it first
            raise taken from exc
        audit_record(actor=user, action="user.profile_updated", target=user, data={"fields": sorted(changed)})
    return user


@transaction.atomic
def user_change_password(
    *, user: User, old_password: str, new_password: str, current_session_id: int | None = None
) -> dict:
    """Set a new password; every other session ends. Returns a fresh pair for this one."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.check_password(old_password):
        raise field_error("old_password", "The current password is incorrect.")
    if old_password == new_password:
        raise field_error("new_password", "The new password must differ from the current one.")
    _validate_password(new_password, user, field="new_password")
    user.set_password(new_password)
    current = UserSession.objects.filter(pk=current_session_id, user=user, ended_at__isnull=True).first()
    _save_password_ending_sessions(user, keep=current.pk if current else None)
    audit_record(actor=user, action="user.password_changed", target=user)
    return tokens.token_pair_for(user, session=current)


def _save_password_ending_sessions(user: User, *, keep: int | None = None) -> None:
    """Save the password set on ``user``; every token issued before stops working, every
    session but ``keep`` ends, open streams close."""
    user.token_version += 1
    user.save(update_fields=["password", "token_version"])
    tokens.blacklist_all_for(user)
    tokens.sessions_end(user, keep=keep)


@transaction.atomic
def user_password_set_by_staff(*, user: User) -> None:
    """Save a password staff set on the admin's password page (``user.set_password`` done).

    The account's sessions end as after its own change: a password is reset because
    someone else may hold it, and their tokens must not outlive it. The admin's own
    log names who did it.
    """
    _save_password_ending_sessions(user)
    audit_record(actor=None, action="admin.user_password_set", target=user)


# ---------------------------------------------------------------------------
# Email verification by OTP
# ---------------------------------------------------------------------------
OTP_RESEND_SECONDS = 60


# send-otp and verify-otp must not tell who has an account. An identifier that names
# none gets every answer an account would get (a code "sent", the resend wait, wrong
# codes counted until too many) from a small record in the cache, keyed by a hash of
# the identifier, and the same password-hashing work; no mail leaves. Every answer,
# to either, costs exactly one hash (a code stored, a code checked, or a stand-in):
# a hash is by far the slowest step, so a different count would tell by timing alone.
def _unknown_otp_key(identifier: str) -> str:
    return "otp-unknown:" + hashlib.sha256(identifier.strip().lower().encode()).hexdigest()


def _refuse_early_resend(last_sent_at: datetime, now: datetime) -> None:
    elapsed = (now - last_sent_at).total_seconds()
    if elapsed < OTP_RESEND_SECONDS:
        wait = max(1, OTP_RESEND_SECONDS - int(elapsed))
        raise RateLimited(
            f"A code was sent moments ago; retry in {wait} seconds.",
            code="OTP_RATE_LIMITED",
            details={"retry_after": wait},
            retry_after=wait,
        )


def _otp_expired() -> Invalid:
    return Invalid("No valid code; request a new one.", code="OTP_EXPIRED")


def _otp_incorrect() -> Invalid:
    return Invalid("The code is incorrect.", code="OTP_INVALID")


def _otp_attempts_exceeded() -> RateLimited:
    return RateLimited("Too many wrong codes; request a new one.", code="OTP_ATTEMPTS_EXCEEDED")


def _spend_a_hash(code: str) -> None:
    """The work of storing or checking a code (one hash), for an answer that does neither."""
    make_password(code)


def _otp_send_unknown(identifier: str, code: str) -> datetime:
    key, now = _unknown_otp_key(identifier), timezone.now()
    previous = cache.get(key)
    if previous is not None:
        _refuse_early_resend(previous["created_at"], now)  # as for an account: before any hash
    _spend_a_hash(code)  # where an account's code is hashed to be stored
    expires_at = now + timedelta(minutes=settings.OTP_TTL_MINUTES)
    cache.set(key, {"created_at": now, "expires_at": expires_at, "attempts": 0}, settings.OTP_TTL_MINUTES * 60)
    return expires_at


def _otp_verify_unknown(identifier: str, code: str) -> None:
    _spend_a_hash(code)  # where an account's code is checked
    key, now = _unknown_otp_key(identifier), timezone.now()
    state = cache.get(key)
    if state is None or state["expires_at"] <= now:
        raise _otp_expired()
    if state["attempts"] >= settings.OTP_MAX_ATTEMPTS:
        raise _otp_attempts_exceeded()
    state["attempts"] += 1
    cache.set(key, state, max(1, int((state["expires_at"] - now).total_seconds())))
    raise _otp_incorrect()


def otp_send(*, identifier: str) -> datetime:
    """Email a fresh 6-digit code; earlier unused codes stop working. Returns its expiry.

    The code is stored hashed and sent after the commit. If the mail cannot be sent
    the code is withdrawn and the caller gets a 503 to retry, not a 500. An identifier
    that names no account is answered alike (see ``_otp_send_unknown``).
    """
    user = find_user_by_identifier(identifier)
    code = f"{secrets.randbelow(1_000_000):06d}"
    if user is None:
        return _otp_send_unknown(identifier, code)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # serialize sends per user
        now = timezone.now()
        latest = EmailOtp.objects.filter(user=user).order_by("-created_at").first()
        if latest:
            _refuse_early_resend(latest.created_at, now)
        EmailOtp.objects.filter(user=user, consumed_at__isnull=True).update(consumed_at=now)
        otp = EmailOtp.objects.create(
            user=user, code_hash=make_password(code), expires_at=now + timedelta(minutes=settings.OTP_TTL_MINUTES)
        )
        audit_record(actor=user, action="user.otp_sent", target=user)
    try:
        send_mail(
            "Your Botfleet verification code",
            f"Your code is {code}. It expires in {settings.OTP_TTL_MINUTES} minutes.",
            None,
            [user.email],
            fail_silently=False,
        )
    except (OSError, smtplib.SMTPException) as exc:
        logger.warning("verification email not sent: %s", exc.__class__.__name__)
        EmailOtp.objects.filter(pk=otp.pk).delete()
        raise Unavailable("The verification email could not be sent; try again.", code="EMAIL_UNAVAILABLE") from exc
    return otp.expires_at


def otp_verify(*, identifier: str, otp_code: str) -> User:
    code = (otp_code or "").strip()
    if not re.fullmatch(r"\d{6}", code):
        raise field_error("otp_code", "The code is 6 digits.")
    user = find_user_by_identifier(identifier)
    if user is None:
        _otp_verify_unknown(identifier, code)  # always raises, as a wrong or missing code does
    with transaction.atomic():
        otp = (
            EmailOtp.objects.select_for_update()
            .filter(user=user, consumed_at__isnull=True, expires_at__gt=timezone.now())
            .order_by("-created_at")
            .first()
        )
        if otp is None or otp.attempts >= settings.OTP_MAX_ATTEMPTS:
            _spend_a_hash(code)  # no code to check, but the answer takes as long as a check
            raise _otp_expired() if otp is None else _otp_attempts_exceeded()
        if not check_password(code, otp.code_hash):
            otp.attempts += 1
            otp.save(update_fields=["attempts"])
            wrong = True
        else:
            otp.consumed_at = timezone.now()
            otp.save(update_fields=["consumed_at"])
            if not user.is_verified:
                user.is_verified = True
                user.save(update_fields=["is_verified"])
            audit_record(actor=user, action="user.email_verified", target=user)
            wrong = False
    if wrong:
        raise _otp_incorrect()
    return user
