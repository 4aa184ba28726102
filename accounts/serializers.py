from django.contrib.auth import get_user_model
from rest_framework import serializers

from accounts.models import username_validator

User = get_user_model()

USERNAME_HELP = (
    "Letters, digits and . + - _ only. Never an e-mail address (no @): an identifier with @ "
    "always names an account's e-mail, so no account can answer to another's e-mail."
)


def _datetime(value):
    """As DRF renders a UTC datetime: ISO 8601 with ``Z``."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def user_to_dict(user) -> dict:
    """The user as every response shows it (the shape ``UserSerializer`` documents).

    A plain function: instantiating a DRF serializer per response cost more than
    building the dict, on every authenticated ``GET /api/auth/me``.
    """
    return {
        "id": user.pk,
        "email": user.email,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.full_name,
        "phone": user.phone,
        "is_verified": user.is_verified,
        "is_staff": user.is_staff,
        "date_joined": _datetime(user.date_joined),
        "last_login": _datetime(user.last_login),
    }


class UserSerializer(serializers.Serializer):
    """The user (read-only), for the schema; responses build it with ``user_to_dict``."""

    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    username = serializers.CharField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    full_name = serializers.CharField(read_only=True)
    phone = serializers.CharField(read_only=True)
    is_verified = serializers.BooleanField(read_only=True)
    is_staff = serializers.BooleanField(read_only=True)
    date_joined = serializers.DateTimeField(read_only=True)
    last_login = serializers.DateTimeField(read_only=True, allow_null=True)

    def to_representation(self, user) -> dict:
        return user_to_dict(user)


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)
    username = serializers.CharField(
        max_length=150, required=False, allow_blank=True, validators=[username_validator], help_text=USERNAME_HELP
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    full_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    phone = serializers.RegexField(r"^\+?[0-9 ()-]{4,32}\Z", required=False, allow_blank=True)


class LoginSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    username = serializers.CharField(max_length=254, required=False, allow_blank=True)
    identifier = serializers.CharField(max_length=254, required=False, allow_blank=True)
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)

    def validate(self, attrs):
        identifier = attrs.get("identifier") or attrs.get("email") or attrs.get("username")
        if not identifier:
            raise serializers.ValidationError({"identifier": ["Give an email, a username or an identifier."]})
        attrs["identifier"] = identifier
        return attrs


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(required=False, allow_blank=True, max_length=2048)
    refresh_token = serializers.CharField(required=False, allow_blank=True, max_length=2048)

    def validate(self, attrs):
        raw = attrs.get("refresh") or attrs.get("refresh_token")
        if not raw:
            raise serializers.ValidationError({"refresh": ["Give the refresh token as refresh or refresh_token."]})
        return {"raw": raw}


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField(required=False, allow_blank=True, max_length=2048)
    refresh_token = serializers.CharField(required=False, allow_blank=True, max_length=2048)


class ProfileUpdateSerializer(serializers.Serializer):
    username = serializers.CharField(
        max_length=150, required=False, validators=[username_validator], help_text=USERNAME_HELP
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    full_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    phone = serializers.RegexField(r"^\+?[0-9 ()-]{4,32}\Z", required=False, allow_blank=True)


class ChangePasswordSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class OtpSendSerializer(serializers.Serializer):
    identifier = serializers.CharField(max_length=254)


class OtpVerifySerializer(serializers.Serializer):
    identifier = serializers.CharField(max_length=254)
    otp_code = serializers.CharField(max_length=12)


class TokenPairSerializer(serializers.Serializer):
    """Documentation shape of the token fields every auth response carries."""

    success = serializers.BooleanField()
    user = UserSerializer()
    token = serializers.CharField()
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class UserEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    user = UserSerializer()


class SuccessSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField(required=False)


class PasswordResetSerializer(serializers.Serializer):
    # Not an EmailField: a malformed address is answered like any other (no account, same 200).
    email = serializers.CharField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=256)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class TwoFactorCodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class TwoFactorDisableSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    code = serializers.CharField(max_length=32)


class TwoFactorVerifySerializer(serializers.Serializer):
    challenge = serializers.CharField(max_length=256)
    code = serializers.CharField(max_length=32, required=False, allow_blank=True)
    recovery_code = serializers.CharField(max_length=32, required=False, allow_blank=True)

    def validate(self, attrs):
        if not attrs.get("code") and not attrs.get("recovery_code"):
            raise serializers.ValidationError({"code": ["Give the authenticator's code or a recovery_code."]})
        return attrs


class TwoFactorSetupSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    secret = serializers.CharField()
    otpauth_url = serializers.CharField()
    qr_svg = serializers.CharField(help_text="otpauth_url as a QR code: an SVG data: URI.")


class TwoFactorStatusSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    enabled = serializers.BooleanField()
    enabled_at = serializers.DateTimeField(allow_null=True)
    recovery_codes_left = serializers.IntegerField()


class RecoveryCodesSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    recovery_codes = serializers.ListField(child=serializers.CharField())


class LoginChallengeSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    two_factor_required = serializers.BooleanField()
    challenge = serializers.CharField()
    expires_in = serializers.IntegerField()


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.JSONField(help_text='A list of "read", "trade", "keys" (or a comma-separated string).')
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    two_factor_code = serializers.CharField(max_length=32, required=False, allow_blank=True)


def api_token_to_dict(token) -> dict:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "created_at": _datetime(token.created_at),
        "expires_at": _datetime(token.expires_at),
        "last_used_at": _datetime(token.last_used_at),
    }


class ApiTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class ApiTokenListSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    tokens = ApiTokenSerializer(many=True)
    total = serializers.IntegerField()


class ApiTokenCreatedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    token = serializers.CharField(help_text="The secret: shown this once, never again.")
    api_token = ApiTokenSerializer()


def _device(user_agent: str) -> str:
    """A short name for a user agent, as a sessions list shows it."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for key, name in (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
            if key in ua
        ),
        "",
    )
    system = next(
        (
            name
            for key, name in (
                ("Android", "Android"),
                ("iPhone", "iOS"),
                ("iPad", "iOS"),
                ("Windows", "Windows"),
                ("Mac OS", "macOS"),
                ("Linux", "Linux"),
            )
            if key in ua
        ),
        "",
    )
    if browser or system:
        return " on ".join(part for part in (browser, system) if part)
    return ua.split(" ")[0][:64] or "unknown device"


def session_to_dict(session, *, current_id=None) -> dict:
    return {
        "id": session.pk,
        "device": _device(session.user_agent),
        "user_agent": session.user_agent,
        "ip_address": session.ip_address,
        "created_at": _datetime(session.created_at),
        "last_used_at": _datetime(session.last_used_at),
        "current": session.pk == current_id,
    }


class SessionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    device = serializers.CharField()
    user_agent = serializers.CharField()
    ip_address = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    current = serializers.BooleanField()


class SessionListSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    sessions = SessionSerializer(many=True)
    total = serializers.IntegerField()


class LeaveSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    two_factor_code = serializers.CharField(max_length=32, required=False, allow_blank=True)
