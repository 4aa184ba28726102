"""Thin views: parse, call a service, shape the response."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services, tokens
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
from core.throttles import ScopedRateThrottle

# The web app's refresh token lives in this cookie (API.md conventions, "cookie": true): JavaScript
# cannot read it (HttpOnly), no other site can send it (SameSite=Strict), and only the auth paths
# receive it — refresh to use it, logout to revoke it.
REFRESH_COOKIE = "botfleet_refresh"
REFRESH_COOKIE_PATH = "/api/auth/"


def _wants_cookie(request) -> bool:
    value = request.data.get("cookie") if hasattr(request.data, "get") else None
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


def _tokens(request, status_code: int = status.HTTP_200_OK, *, cookie: bool = False, **fields) -> Response:
    """A token answer; with a cookie, the refresh token goes there and stays out of the body."""
    if not (cookie or _wants_cookie(request)):
        return Response({"success": True, **fields}, status=status_code)
    refresh = fields.pop("refresh_token")
    response = Response({"success": True, **fields}, status=status_code)
    response.set_cookie(
        REFRESH_COOKIE,
        refresh,
        max_age=int(settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()),
        path=REFRESH_COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )
    return response


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
        user = services.user_register(**_valid(RegisterSerializer, request), request=request._request)
        return _tokens(request, status.HTTP_201_CREATED, user=user_to_dict(user), **tokens.token_pair_for(user))


class LoginView(_PublicAuthView):
    extra_error_statuses = ["401", "403"]  # wrong credentials; disabled account

    @extend_schema(request=LoginSerializer, responses={200: TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(LoginSerializer, request)
        user = services.user_login(identifier=data["identifier"], password=data["password"], request=request._request)
        return _tokens(request, user=user_to_dict(user), **tokens.token_pair_for(user))


class RefreshView(_PublicAuthView):
    extra_error_statuses = ["401", "403"]

    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        from_cookie = request.COOKIES.get(REFRESH_COOKIE, "")
        data = request.data if hasattr(request.data, "get") else {}
        if from_cookie and not (data.get("refresh") or data.get("refresh_token")):
            return _tokens(request, cookie=True, **services.token_refresh(raw_refresh=from_cookie))
        return _tokens(request, **services.token_refresh(raw_refresh=_valid(RefreshSerializer, request)["raw"]))


class LogoutView(APIView):
    @extend_schema(request=LogoutSerializer, responses={200: SuccessSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(LogoutSerializer, request)
        services.user_logout(
            user=request.user,
            access=request.auth,
            raw_refresh=data.get("refresh") or data.get("refresh_token") or request.COOKIES.get(REFRESH_COOKIE, ""),
            request=request._request,
        )
        response = Response({"success": True, "message": "Logged out."})
        if REFRESH_COOKIE in request.COOKIES:
            response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, samesite="Strict")
        return response


class MeView(APIView):
    extra_error_statuses = {"PATCH": ["409"]}

    @extend_schema(responses={200: UserEnvelopeSerializer}, tags=["auth"])
    def get(self, request):
        return Response({"success": True, "user": user_to_dict(request.user)})

    @extend_schema(request=ProfileUpdateSerializer, responses={200: UserEnvelopeSerializer}, tags=["auth"])
    def patch(self, request):
        user = services.user_update_profile(
            user=request.user, data=_valid(ProfileUpdateSerializer, request), request=request._request
        )
        return Response({"success": True, "user": user_to_dict(user)})


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
            request=request._request,
        )
        return _tokens(
            request,
            cookie=REFRESH_COOKIE in request.COOKIES,
            message="Password changed; other sessions were signed out.",
            user=user_to_dict(request.user),
            **pair,
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
        expires_at = services.otp_send(
            identifier=_valid(OtpSendSerializer, request)["identifier"], request=request._request
        )
        return Response({"success": True, "message": OTP_SENT_MESSAGE, "expires_at": expires_at})


class OtpVerifyView(_PublicAuthView):
    throttle_scope = "otp"

    @extend_schema(
        request=OtpVerifySerializer,
        responses={200: UserEnvelopeSerializer},
        tags=["auth"],
        description=f"Check a code from send-otp; 5 wrong codes use it up. {_OTP_ALIKE}",
    )
    def post(self, request):
        user = services.otp_verify(**_valid(OtpVerifySerializer, request), request=request._request)
        return Response({"success": True, "message": "Email verified.", "user": user_to_dict(user)})
