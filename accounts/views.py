"""Thin views: parse, call a service, shape the response."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import qr, services, tokens
from accounts.fresh import fresh_code
from accounts.lockout import check_credentials
from accounts.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenListSerializer,
    ChangePasswordSerializer,
    LeaveSerializer,
    LoginChallengeSerializer,
    LoginSerializer,
    LogoutSerializer,
    OtpSendSerializer,
    OtpVerifySerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    ProfileUpdateSerializer,
    RecoveryCodesSerializer,
    RefreshSerializer,
    RegisterSerializer,
    SessionListSerializer,
    SuccessSerializer,
    TokenPairSerializer,
    TwoFactorCodeSerializer,
    TwoFactorDisableSerializer,
    TwoFactorSetupSerializer,
    TwoFactorStatusSerializer,
    TwoFactorVerifySerializer,
    UserEnvelopeSerializer,
    api_token_to_dict,
    session_to_dict,
    user_to_dict,
)
from accounts.services import leaving, password_reset, personal_tokens, sessions, two_factor
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


def _session_id(request) -> int | None:
    sid = request.auth.get(tokens.SESSION_CLAIM) if hasattr(request.auth, "get") else None
    return sid if isinstance(sid, int) else None


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
        return _tokens(request, status.HTTP_201_CREATED, user=user_to_dict(user), **tokens.token_pair_for(user))


def _signed_in(request, result: dict) -> Response:
    """A sign-in's answer: the user and a token pair (the refresh token in the cookie when
    asked), or (2FA on) the challenge and no token."""
    if result.get("two_factor_required"):
        return Response({"success": True, **result})
    return _tokens(request, user=user_to_dict(result.pop("user")), **result)


_LOGIN_RESULT = PolymorphicProxySerializer("LoginResult", [TokenPairSerializer, LoginChallengeSerializer], None)


class LoginView(_PublicAuthView):
    extra_error_statuses = ["401", "403"]  # wrong credentials; disabled account

    @extend_schema(
        request=LoginSerializer,
        responses={200: _LOGIN_RESULT},
        tags=["auth"],
        description="With two-factor sign-in on, the answer is a challenge for auth/2fa/verify and no token.",
    )
    def post(self, request):
        data = _valid(LoginSerializer, request)
        user = check_credentials(request._request, data["identifier"], data["password"])
        return _signed_in(request, services.user_login(user=user))


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
        )
        response = Response({"success": True, "message": "Logged out."})
        if REFRESH_COOKIE in request.COOKIES:
            response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, samesite="Strict")
        return response


class MeView(APIView):
    extra_error_statuses = {"PATCH": ["409"], "DELETE": ["403"]}
    token_scope = {"GET": "read"}  # an API token may read the profile, never change or close it

    @extend_schema(responses={200: UserEnvelopeSerializer}, tags=["auth"])
    def get(self, request):
        return Response({"success": True, "user": user_to_dict(request.user)})

    @extend_schema(request=ProfileUpdateSerializer, responses={200: UserEnvelopeSerializer}, tags=["auth"])
    def patch(self, request):
        user = services.user_update_profile(user=request.user, data=_valid(ProfileUpdateSerializer, request))
        return Response({"success": True, "user": user_to_dict(user)})

    @extend_schema(
        request=LeaveSerializer,
        responses={200: SuccessSerializer},
        tags=["auth"],
        description="Leave Botfleet: bots stop, keys and channels are erased, every session ends, the "
        "account is deactivated. The password (and, with 2FA on, a current code) is required.",
    )
    def delete(self, request):
        data = _valid(LeaveSerializer, request)
        leaving.user_leave(user=request.user, password=data["password"], two_factor_code=fresh_code(request, data))
        return Response({"success": True, "message": "Your account is closed; every session has ended."})


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
            current_session_id=_session_id(request),
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
        expires_at = services.otp_send(identifier=_valid(OtpSendSerializer, request)["identifier"])
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
        user = services.otp_verify(**_valid(OtpVerifySerializer, request))
        return Response({"success": True, "message": "Email verified.", "user": user_to_dict(user)})


# ---------------------------------------------------------------------------
# Password reset
# ---------------------------------------------------------------------------
RESET_SENT_MESSAGE = "If an account uses this address, a reset code is on its way to it."


class PasswordResetView(_PublicAuthView):
    throttle_scope = "otp"

    @extend_schema(
        request=PasswordResetSerializer,
        responses={200: SuccessSerializer},
        tags=["auth"],
        description="Always the same 200, whatever the address: the mail is sent (or not) by a worker.",
    )
    def post(self, request):
        password_reset.password_reset_request(email=_valid(PasswordResetSerializer, request)["email"])
        return Response({"success": True, "message": RESET_SENT_MESSAGE})


class PasswordResetConfirmView(_PublicAuthView):
    throttle_scope = "otp"

    @extend_schema(request=PasswordResetConfirmSerializer, responses={200: SuccessSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(PasswordResetConfirmSerializer, request)
        password_reset.password_reset_confirm(token=data["token"], new_password=data["new_password"])
        return Response(
            {
                "success": True,
                "message": "Password changed; every session was signed out. Log in with the new password.",
            }
        )


# ---------------------------------------------------------------------------
# Two-factor sign-in
# ---------------------------------------------------------------------------
class TwoFactorStatusView(APIView):
    @extend_schema(responses={200: TwoFactorStatusSerializer}, tags=["auth"])
    def get(self, request):
        return Response({"success": True, **two_factor.status(user=request.user)})


class TwoFactorSetupView(APIView):
    extra_error_statuses = ["409"]

    @extend_schema(
        request=None,
        responses={200: TwoFactorSetupSerializer},
        tags=["auth"],
        description="A new secret (pending until enable), its otpauth:// URL and that URL as a QR code "
        "(an SVG data: URI, for an <img>).",
    )
    def post(self, request):
        answer = two_factor.setup(user=request.user)
        return Response({"success": True, **answer, "qr_svg": qr.svg_data_uri(answer["otpauth_url"])})


class TwoFactorEnableView(APIView):
    extra_error_statuses = ["409"]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=TwoFactorCodeSerializer, responses={200: RecoveryCodesSerializer}, tags=["auth"])
    def post(self, request):
        codes = two_factor.enable(user=request.user, code=_valid(TwoFactorCodeSerializer, request)["code"])
        return Response(
            {
                "success": True,
                "message": "Two-factor sign-in is on. Keep these recovery codes somewhere safe: they are shown once.",
                "recovery_codes": codes,
            }
        )


class TwoFactorDisableView(APIView):
    extra_error_statuses = ["403", "409", "429"]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=TwoFactorDisableSerializer, responses={200: SuccessSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(TwoFactorDisableSerializer, request)
        two_factor.disable(user=request.user, password=data["password"], code=data["code"])
        return Response({"success": True, "message": "Two-factor sign-in is off."})


class TwoFactorVerifyView(_PublicAuthView):
    extra_error_statuses = ["401", "403", "429"]

    @extend_schema(request=TwoFactorVerifySerializer, responses={200: TokenPairSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(TwoFactorVerifySerializer, request)
        result = two_factor.verify(
            challenge=data["challenge"], code=data.get("code") or "", recovery_code=data.get("recovery_code") or ""
        )
        return _signed_in(request, result)


# ---------------------------------------------------------------------------
# Personal API tokens
# ---------------------------------------------------------------------------
class ApiTokenListView(APIView):
    extra_error_statuses = {"POST": ["403", "409"]}

    @extend_schema(responses={200: ApiTokenListSerializer}, tags=["auth"])
    def get(self, request):
        rows = [api_token_to_dict(t) for t in personal_tokens.token_list(user=request.user)]
        return Response({"success": True, "tokens": rows, "total": len(rows), "next": None, "previous": None})

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer}, tags=["auth"])
    def post(self, request):
        data = _valid(ApiTokenCreateSerializer, request)
        token, raw = personal_tokens.token_create(
            user=request.user,
            name=data["name"],
            scopes=data["scopes"],
            expires_at=data.get("expires_at"),
            two_factor_code=fresh_code(request, data),
        )
        return Response(
            {"success": True, "token": raw, "api_token": api_token_to_dict(token)}, status=status.HTTP_201_CREATED
        )


class ApiTokenDetailView(APIView):
    extra_error_statuses = ["404"]

    @extend_schema(responses={200: SuccessSerializer}, tags=["auth"])
    def delete(self, request, token_id: int):
        token = personal_tokens.token_revoke(user=request.user, token_id=token_id)
        return Response({"success": True, "message": "API token revoked.", "api_token": api_token_to_dict(token)})


# ---------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------
class SessionListView(APIView):
    @extend_schema(responses={200: SessionListSerializer}, tags=["auth"])
    def get(self, request):
        current = _session_id(request)
        rows = [session_to_dict(s, current_id=current) for s in sessions.session_list(user=request.user)]
        return Response({"success": True, "sessions": rows, "total": len(rows), "next": None, "previous": None})

    @extend_schema(
        operation_id="auth_sessions_end_all",
        responses={200: SuccessSerializer},
        tags=["auth"],
        description="Sign out everywhere, this session too.",
    )
    def delete(self, request):
        ended = sessions.sessions_end_all(user=request.user)
        return Response({"success": True, "message": "Signed out everywhere.", "ended": ended})


class SessionDetailView(APIView):
    extra_error_statuses = ["404"]

    @extend_schema(responses={200: SuccessSerializer}, tags=["auth"])
    def delete(self, request, session_id: int):
        sessions.session_end(user=request.user, session_id=session_id)
        return Response({"success": True, "message": "Session ended."})


# ---------------------------------------------------------------------------
# Leaving
# ---------------------------------------------------------------------------
class ExportView(APIView):
    @extend_schema(responses={200: dict}, tags=["auth"], description="A JSON archive of your data; no secret.")
    def get(self, request):
        archive = leaving.user_export(user=request.user)
        filename = f"botfleet-export-{request.user.pk}.json"
        return Response(
            {"success": True, "archive": archive}, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
