"""Users, the audit trail, and the state behind token revocation and email OTPs."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Lower

# Django's own username pattern without "@": a username can never be an e-mail address, so
# no account can take another's e-mail as its username (logins, lockouts and codes would
# then find the wrong account), and an identifier with "@" names an e-mail, never a username.
username_validator = RegexValidator(
    r"^[\w.+-]+\Z",
    "A username has letters, digits and . + - _ only (no @: e-mail addresses log in as e-mails).",
    code="invalid_username",
)


class UserManager(DjangoUserManager):
    def _create_user(self, username, email, password, **extra_fields):
        email = self.normalize_email(email or "").lower()
        if not username:
            username = self._free_username(email.split("@")[0] or "user")
        return super()._create_user(username, email, password, **extra_fields)

    def _free_username(self, base: str) -> str:
        base = "".join(c for c in base if c.isalnum() or c in "._-")[:140] or "user"
        candidate, n = base, 1
        while self.username_taken(candidate):
            n += 1
            candidate = f"{base}{n}"
        return candidate

    def username_taken(self, username: str, *, exclude_pk: int | None = None) -> bool:
        """Whether another account holds this username, compared as its unique constraint does.

        ``username__iexact`` compares with UPPER on PostgreSQL, the constraint with LOWER,
        and a few letters differ (the Kelvin sign lowers to "k" but uppers to itself): a
        name iexact called free could still break the constraint, a 500.
        """
        taken = self.alias(username_lower=Lower("username")).filter(username_lower=Lower(Value(username)))
        return taken.exclude(pk=exclude_pk).exists() if exclude_pk is not None else taken.exists()

    def create_user(self, email=None, password=None, username=None, **extra_fields):
        return super().create_user(username, email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, username=None, **extra_fields):
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person. Logs in by email or username; email is unique case-insensitively.

    ``token_version`` is stamped into every JWT; bumping it (password change) makes
    every token issued before unusable at once, without a list of them.
    """

    username = models.CharField(
        "username",
        max_length=150,
        unique=True,
        validators=[username_validator],
        help_text="150 characters or fewer: letters, digits and . + - _ (never an e-mail address).",
        error_messages={"unique": "A user with that username already exists."},
    )
    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    is_verified = models.BooleanField(default=False)
    token_version = models.PositiveIntegerField(default=0)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    objects = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.CheckConstraint(condition=~Q(username__contains="@"), name="user_username_not_email"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.full_name or " ".join(p for p in (self.first_name, self.last_name) if p) or self.username


class RevokedAccessToken(models.Model):
    """Access tokens revoked before their expiry (logout). Purged once expired."""

    jti = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(db_index=True)


class EmailOtp(models.Model):
    """A 6-digit email verification code, stored hashed; single use, short-lived."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_otps")
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]


class AuditEntry(models.Model):
    """Who did what to which object. Never holds a secret (see ``audit_record``)."""

    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["action", "-created_at"]),
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["actor", "-created_at"]),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        target = f" {self.target_type}#{self.target_id}" if self.target_type else ""
        return f"{self.actor_email or 'system'} {self.action}{target}"


class UserUsage(models.Model):
    """Per-user row counts of what the user stores, kept by the services that write them.

    Each service adds its delta with an ``F()`` update (``accounts.usage.usage_add``) in
    the transaction of its change, so the resource page reads one small row per user
    instead of counting millions of trades. Bulk deletions (event purges) and writers
    outside the services drift the counters; ``adminpanel``'s periodic reconciliation
    recounts and corrects them. Counters are signed so a racing decrement cannot violate
    a constraint; reconciliation brings them back to the truth.
    """

    user = models.OneToOneField(User, primary_key=True, on_delete=models.CASCADE, related_name="usage")
    bots = models.BigIntegerField(default=0)
    orders = models.BigIntegerField(default=0)
    trades = models.BigIntegerField(default=0)
    events = models.BigIntegerField(default=0)
    credentials = models.BigIntegerField(default=0)
    audit_entries = models.BigIntegerField(default=0)
    backtests = models.BigIntegerField(default=0)  # stored runs (a sweep: itself and each combination)
    backtest_candles = models.BigIntegerField(default=0)  # candles those runs ticked over (not a stored row)
    reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "usage"
        verbose_name_plural = "usage"

    def __str__(self) -> str:
        return f"usage of user #{self.user_id}"


class UserSession(models.Model):
    """One signed-in device: every JWT carries its id (``sid``) and stops working once it ends.

    Created at login (or 2FA verification, registration); ``last_used_at`` moves with
    refreshes and, at most once a minute, with requests.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-last_used_at"], name="session_user_used_idx")]


class ApiToken(models.Model):
    """A personal API token for scripts: shown once, stored as its SHA-256 (it is random
    and long, so a slow hash would add nothing but latency to every request)."""

    SCOPES = ("read", "trade", "keys")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)  # shown in lists so people can tell tokens apart
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_created_idx")]


class PasswordResetToken(models.Model):
    """A password-reset link's token, stored as its SHA-256; single use, short-lived."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class TwoFactor(models.Model):
    """A user's TOTP authenticator: on once ``enabled_at`` is set.

    ``secret_sealed`` is the base32 secret encrypted with the Fernet keys. ``last_step``
    is the TOTP time step of the last code accepted: a code at or before it is refused,
    so a code cannot be used twice inside its window. Wrong codes count in
    ``failures`` and lock guessing out as wrong passwords do.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="two_factor")
    secret_sealed = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    enabled_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)


class RecoveryCode(models.Model):
    """A one-time 2FA recovery code, stored as a keyed hash."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)


class LoginChallenge(models.Model):
    """The step between a right password and a 2FA code: single use, five minutes."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class AccountPolicy(models.Model):
    """Site-wide account rules staff set in the admin (one row)."""

    SINGLETON_ID = 1

    require_two_factor_for_staff = models.BooleanField(
        default=False,
        help_text="Staff accounts without two-factor sign-in can then only reach auth/* (to turn it on).",
    )

    class Meta:
        verbose_name = verbose_name_plural = "account policy"

    def __str__(self) -> str:
        return "account policy"
