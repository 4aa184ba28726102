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
