"""Two-factor sign-in with TOTP (RFC 6238) authenticator apps, and recovery codes.

pyotp (already a dependency for Angel One's TOTP) computes the codes; the rest is here:

* a code is accepted for the step before, at and after now (clock drift) but only once:
  ``TwoFactor.last_step`` refuses any step at or before the last accepted one, so a code
  seen over a shoulder cannot be replayed inside its window;
* wrong codes are counted per account like wrong passwords (``AXES_FAILURE_LIMIT``
  within ``AXES_COOLOFF_TIME``): then 429 ``ACCOUNT_LOCKED`` with ``Retry-After``;
* recovery codes (ten, shown once) are stored as keyed hashes and work once each;
* a login with 2FA on returns a challenge (single use, five minutes), exchanged for
  tokens at ``auth/2fa/verify``.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import timedelta

import pyotp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import crypto
from accounts.models import LoginChallenge, RecoveryCode, TwoFactor, User
from accounts.services import audit_record, field_error, session_open
from core.errors import Conflict, Forbidden, RateLimited, Unauthenticated

ISSUER = "Botfleet"
STEP_SECONDS = 30
RECOVERY_CODES = 10
CHALLENGE_SECONDS = 300


def _now() -> float:
    """The time codes are checked at (tests move it without touching the process clock)."""
    return time.time()


def is_enabled(user: User) -> bool:
    return TwoFactor.objects.filter(user=user, enabled_at__isnull=False).exists()


# ---------------------------------------------------------------------------
# Checking a code
# ---------------------------------------------------------------------------
def _locked_for(device: TwoFactor) -> int:
    """Seconds left of a lockout after too many wrong codes (0: not locked)."""
    if device.failures < settings.AXES_FAILURE_LIMIT or device.last_failure_at is None:
        return 0
    left = (device.last_failure_at + settings.AXES_COOLOFF_TIME - timezone.now()).total_seconds()
    return max(0, int(left) + 1) if left > 0 else 0


def _lockout(seconds: int) -> RateLimited:
    return RateLimited(
        f"Too many wrong codes; try again in {max(1, round(seconds / 60))} minutes.",
        code="ACCOUNT_LOCKED",
        details={"retry_after": seconds},
        retry_after=seconds,
    )


def _totp_step(device: TwoFactor, code: str) -> int | None:
    """The time step ``code`` is valid for (now ±1), if not used already; else None."""
    code = (code or "").strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(crypto.unseal(device.secret_sealed), interval=STEP_SECONDS)
    now_step = int(_now()) // STEP_SECONDS
    for step in (now_step - 1, now_step, now_step + 1):
        if step > device.last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _recovery_code_row(user: User, code: str) -> RecoveryCode | None:
    digest = crypto.keyed_digest(_normal_recovery(code))
    return RecoveryCode.objects.select_for_update().filter(user=user, code_hash=digest, used_at__isnull=True).first()


def _normal_recovery(code: str) -> str:
    return "".join(c for c in (code or "").lower() if c.isalnum())


def _check(user: User, *, code: str = "", recovery_code: str = "", wrong) -> TwoFactor:
    """Accept a TOTP code (or a recovery code) for ``user``'s enabled 2FA, or raise.

    A wrong code is counted and committed even though the caller's request fails, so the
    counting runs in its own transaction and ``wrong()`` (the error to raise) after it.
    """
    with transaction.atomic():
        device = TwoFactor.objects.select_for_update().filter(user=user, enabled_at__isnull=False).first()
        if device is None:
            raise Conflict("Two-factor sign-in is not on for this account.", code="TWO_FACTOR_NOT_ENABLED")
        locked = _locked_for(device)
        if locked:
            raise _lockout(locked)
        step = _totp_step(device, code) if code else None
        row = _recovery_code_row(user, recovery_code) if recovery_code and step is None else None
        if step is not None or row is not None:
            if step is not None:
                device.last_step = step
            else:
                row.used_at = timezone.now()
                row.save(update_fields=["used_at"])
                audit_record(actor=user, action="user.2fa_recovery_code_used", target=user)
            device.failures = 0
            device.save(update_fields=["last_step", "failures"])
            return device
        expired = device.last_failure_at and device.last_failure_at < timezone.now() - settings.AXES_COOLOFF_TIME
        device.failures = 1 if expired else device.failures + 1
        device.last_failure_at = timezone.now()
        device.save(update_fields=["failures", "last_failure_at"])
    raise wrong()


def check_fresh_code(*, user: User, code: str | None) -> None:
    """For sensitive actions (saving or deleting keys, creating API tokens): with 2FA on, a
    current authenticator code is required, once. Without 2FA, nothing to check."""
    if not is_enabled(user):
        return
    if not code:
        raise Forbidden(
            "This action needs a current code from your authenticator app "
            "(the X-2FA-Code header or a two_factor_code field).",
            code="TWO_FACTOR_CODE_REQUIRED",
        )
    _check(
        user,
        code=code,
        wrong=lambda: Forbidden("The authenticator code is wrong or was used already.", code="TWO_FACTOR_CODE_INVALID"),
    )


# ---------------------------------------------------------------------------
# Turning it on and off
# ---------------------------------------------------------------------------
@transaction.atomic
def setup(*, user: User) -> dict:
    """A new secret to scan (pending until ``enable``); replaces an earlier pending one."""
    device = TwoFactor.objects.select_for_update().filter(user=user).first()
    if device is not None and device.enabled_at is not None:
        raise Conflict(
            "Two-factor sign-in is already on; turn it off first to change the authenticator.",
            code="TWO_FACTOR_ALREADY_ENABLED",
        )
    secret = pyotp.random_base32()
    TwoFactor.objects.update_or_create(
        user=user, defaults={"secret_sealed": crypto.seal(secret), "last_step": 0, "failures": 0, "enabled_at": None}
    )
    otpauth_url = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=user.email, issuer_name=ISSUER)
    audit_record(actor=user, action="user.2fa_setup", target=user)
    return {"secret": secret, "otpauth_url": otpauth_url}


def enable(*, user: User, code: str) -> list[str]:
    """Turn 2FA on with a first code from the app; returns the ten recovery codes (shown once)."""
    with transaction.atomic():
        device = TwoFactor.objects.select_for_update().filter(user=user).first()
        if device is None:
            raise Conflict("Call auth/2fa/setup first, then enable with a code.", code="TWO_FACTOR_NOT_SET_UP")
        if device.enabled_at is not None:
            raise Conflict("Two-factor sign-in is already on.", code="TWO_FACTOR_ALREADY_ENABLED")
        step = _totp_step(device, code)
        if step is None:
            raise field_error("code", "The code is wrong; check the authenticator app's clock.")
        device.enabled_at, device.last_step, device.failures = timezone.now(), step, 0
        device.save(update_fields=["enabled_at", "last_step", "failures"])
        codes = _new_recovery_codes(user)
        audit_record(actor=user, action="user.2fa_enabled", target=user)
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, code_hash=crypto.keyed_digest(_normal_recovery(c))) for c in codes]
    )
    return codes


def disable(*, user: User, password: str, code: str) -> None:
    """Turn 2FA off: the password and a current code (or a recovery code) are both needed."""
    if not user.check_password(password or ""):
        raise field_error("password", "The password is incorrect.")
    _check(
        user,
        code=code,
        recovery_code=code,
        wrong=lambda: Forbidden("The authenticator code is wrong or was used already.", code="TWO_FACTOR_CODE_INVALID"),
    )
    with transaction.atomic():
        TwoFactor.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        audit_record(actor=user, action="user.2fa_disabled", target=user)


# ---------------------------------------------------------------------------
# Signing in
# ---------------------------------------------------------------------------
@transaction.atomic
def challenge_issue(*, user: User) -> dict:
    raw = secrets.token_urlsafe(32)
    LoginChallenge.objects.create(
        user=user,
        token_hash=crypto.keyed_digest(raw),
        expires_at=timezone.now() + timedelta(seconds=CHALLENGE_SECONDS),
    )
    audit_record(actor=user, action="user.2fa_challenged", target=user)
    return {"two_factor_required": True, "challenge": raw, "expires_in": CHALLENGE_SECONDS}


def _bad_challenge() -> Unauthenticated:
    return Unauthenticated("The sign-in challenge is invalid or expired; log in again.", code="CHALLENGE_INVALID")


def verify(*, challenge: str, code: str = "", recovery_code: str = "") -> dict:
    """Exchange a login challenge and a code (or a recovery code) for a session's tokens."""
    row = (
        LoginChallenge.objects.select_related("user")
        .filter(token_hash=crypto.keyed_digest(challenge or ""), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if row is None:
        raise _bad_challenge()
    user = row.user
    if not user.is_active:
        from accounts.services import account_disabled

        raise account_disabled()
    _check(
        user,
        code=code,
        recovery_code=recovery_code,
        wrong=lambda: Unauthenticated("The code is wrong or was used already.", code="TWO_FACTOR_CODE_INVALID"),
    )
    with transaction.atomic():
        # Single use: of two requests racing with the same challenge, one update wins.
        if not LoginChallenge.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=timezone.now()):
            raise _bad_challenge()
        return session_open(user=user)


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def status(*, user: User) -> dict:
    """Whether 2FA is on (and since when), and how many recovery codes are left unused."""
    device = TwoFactor.objects.filter(user=user, enabled_at__isnull=False).first()
    return {
        "enabled": device is not None,
        "enabled_at": device.enabled_at if device else None,
        "recovery_codes_left": recovery_codes_left(user) if device else 0,
    }
