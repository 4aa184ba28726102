"""Forgotten passwords: a single-use, short-lived token by e-mail, then a new password.

No enumeration. ``password_reset_request`` does the same thing for every address: it
queues the mail job and returns, touching neither the user table nor the mail server,
so neither the answer nor its timing depends on whether an account exists. The job
(``accounts.tasks.password_reset_mail``, on a worker) looks the address up and mails
only a real, active account, at most one mail a minute per account.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
from datetime import timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.backends import find_user_by_identifier
from accounts.models import PasswordResetToken, User
from accounts.services import _save_password_ending_sessions, _validate_password, audit_record
from core.errors import Invalid

logger = logging.getLogger("botfleet.accounts")

TTL = timedelta(minutes=30)
RESEND_SECONDS = 60
MAX_EMAIL_LENGTH = 254


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def password_reset_request(*, email: str) -> None:
    """Queue the reset mail for this address; the same work whether or not it names an account."""
    from accounts.tasks import password_reset_mail

    password_reset_mail.delay((email or "").strip().lower()[:MAX_EMAIL_LENGTH])


def password_reset_send(*, email: str) -> bool:
    """The mail job: a fresh token to an active account's address (earlier ones stop
    working). Returns whether a mail left; False for no account, a disabled one, or a
    resend within the minute (answers nobody sees: the request already returned)."""
    user = find_user_by_identifier(email) if "@" in email else None
    if user is None or not user.is_active:
        return False
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # serialize sends per user
        now = timezone.now()
        recent = PasswordResetToken.objects.filter(user=user, created_at__gt=now - timedelta(seconds=RESEND_SECONDS))
        if recent.exists():
            return False
        PasswordResetToken.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
        token = PasswordResetToken.objects.create(user=user, token_hash=_digest(raw), expires_at=now + TTL)
        audit_record(actor=user, action="user.password_reset_requested", target=user)
    public_url = getattr(settings, "PUBLIC_URL", "")  # where the web app is served, when configured
    link = f"{public_url.rstrip('/')}/reset-password?token={raw}" if public_url else ""
    body = (
        "Someone asked to reset the password of your Botfleet account. If it was you, use this "
        f"code within {int(TTL.total_seconds() // 60)} minutes (once):\n\n{raw}\n\n"
        + (f"or open {link}\n\n" if link else "")
        + "If it was not you, ignore this mail: your password stays as it is."
    )
    try:
        send_mail("Reset your Botfleet password", body, None, [user.email], fail_silently=False)
    except (OSError, smtplib.SMTPException) as exc:
        logger.warning("password reset mail not sent: %s", exc.__class__.__name__)
        PasswordResetToken.objects.filter(pk=token.pk).delete()
        raise
    return True


def _bad_token() -> Invalid:
    return Invalid("This reset code is invalid, used or expired; ask for a new one.", code="RESET_TOKEN_INVALID")


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set the new password; the token is spent and every session of the account ends."""
    row = (
        PasswordResetToken.objects.select_for_update()
        .select_related("user")
        .filter(token_hash=_digest(token or ""), used_at__isnull=True)
        .first()
    )
    if row is None or row.expires_at <= timezone.now() or not row.user.is_active:
        raise _bad_token()
    user = row.user
    _validate_password(new_password, user, field="new_password")
    now = timezone.now()
    PasswordResetToken.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
    user.set_password(new_password)
    _save_password_ending_sessions(user)
    # Whoever was guessing the old password has nothing left to guess.
    AccessAttempt.objects.filter(username=user.email).delete()
    audit_record(actor=user, action="user.password_reset", target=user)
    return user
