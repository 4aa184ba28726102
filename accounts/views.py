"""Thin views: parse, call a service, shape the response."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from accounts import services, tokens
from accounts.lockout import check_credentials
from accounts.serializers import (
    ChangePasswordSerializer,
    LoginSerializer,
    LogoutSerializer,
    OtpSendSerializer,
    OtpVerifySerializer,
    ProfileUpdateSerializer,
    RefreshSerializer,
    RegisterSerializer,
    SuccessSerializer,
    TokenPairSerializer,
    UserEnvelopeSerializer,
    user_to_dict,
)
from core.responses import success
from core.throttles import ScopedRateThrottle


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _PublicAuthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


class RegisterView(_PublicAuthView):
    extra_error_statuses = ["409"]

    @extend_schema(request=RegisterSerializer, responses={201: TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        user = services.user_register(**_valid(RegisterSerializer, request))
        return success(status.HTTP_201_CREATED, user=user_to_dict(user), **tokens.token_pair_for(user))


class LoginView(_PublicAuthView):
    extra_error_statuses = ["401", "403"]  # wrong credentials; disabled account

    @extend_schema(request=LoginSerializer, responses={200: TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(LoginSerializer, request)
        user = check_credentials(request._request, data["identifier"], data["password"])
        user = services.user_login(user=user)
        return success(user=user_to_dict(user), **tokens.token_pair_for(user))


class RefreshView(_PublicAuthView):
    extra_error_statuses = ["401", "403"]

    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        return success(**services.token_refresh(raw_refresh=_valid(RefreshSerializer, request)["raw"]))


class LogoutView(APIView):
    @extend_schema(request=LogoutSerializer, responses={200: SuccessSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(LogoutSerializer, request)
        services.user_logout(
            user=request.user,
            access=request.auth,
            raw_refresh=data.get("refresh") or data.get("refresh_token") or "",
        )
        return success(message="Logged out.")


class MeView(APIView):
    extra_error_statuses = {"PATCH": ["409"]}

    @extend_schema(responses={200: UserEnvelopeSerializer}, tags=["auth"])
    def get(self, request):
        return success(user=user_to_dict(request.user))

    @extend_schema(request=ProfileUpdateSerializer, responses={200: UserEnvelopeSerializer}, tags=["auth"])
    def patch(self, request):
        user = services.user_update_profile(user=request.user, data=_valid(ProfileUpdateSerializer, request))
        return success(user=user_to_dict(user))


class ChangePasswordView(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=ChangePasswordSerializer, responses={200: TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(ChangePasswordSerializer, request)
        pair = services.user_change_password(
            user=request.user,
            old_password=data["old_password"],
            new_password=data["new_password"],
        )
        return success(
            message="Password changed; other sessions were signed out.", user=user_to_dict(request.user), **pair
        )


OTP_SENT_MESSAGE = "If an account matches, a verification code was sent to its e-mail."
_OTP_ALIKE = (
    "An identifier that names no account gets the same answers as one that does (no 404), "
    "so these endpoints do not tell who has an account."
)


class OtpSendView(_PublicAuthView):
    throttle_scope = "otp"

    @extend_schema(
        request=OtpSendSerializer,
        responses={200: SuccessSerializer},
        tags=["auth"],
        description=f"E-mail a 6-digit code (10 minutes; one send a minute per account). {_OTP_ALIKE}",
    )
    def post(self, request):
        expires_at = services.otp_send(identifier=_valid(OtpSendSerializer, request)["identifier"])
        return success(message=OTP_SENT_MESSAGE, expires_at=expires_at)


class OtpVerifyView(_PublicAuthView):
    throttle_scope = "otp"

    @extend_schema(
        request=OtpVerifySerializer,
        responses={200: UserEnvelopeSerializer},
        tags=["auth"],
        description=f"Check a code from send-otp; 5 wrong codes use it up. {_OTP_ALIKE}",
    )
    def post(self, request):
        user = services.otp_verify(**_valid(OtpVerifySerializer, request))
        return success(message="Email verified.", user=user_to_dict(user))
