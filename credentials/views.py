"""Thin views over credentials.services; bodies are read by credentials.payloads."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.fresh import require_fresh_code
from accounts.serializers import user_to_dict
from core.throttles import ScopedRateThrottle, UserRateThrottle
from credentials import payloads, selectors, services
from credentials.models import Credential
from credentials.parsers import KEYS_PARSERS
from credentials.serializers import (
    CredentialEnvelopeSerializer,
    CredentialListSerializer,
    CredentialSerializer,
    FlatProfileDocSerializer,
    KeyPayloadDocSerializer,
    KeyTestResultSerializer,
    ProfileSerializer,
    flat_masked,
)


class KeyListView(APIView):
    @extend_schema(operation_id="keys_list", responses={200: CredentialListSerializer}, tags=["credentials"])
    def get(self, request):
        rows = CredentialSerializer(selectors.credential_list(user=request.user), many=True).data
        return Response({"success": True, "credentials": rows, "total": len(rows), "next": None, "previous": None})


class KeySaveView(APIView):
    parser_classes = KEYS_PARSERS

    @extend_schema(request=KeyPayloadDocSerializer, responses={201: CredentialEnvelopeSerializer}, tags=["credentials"])
    def post(self, request):
        payload = payloads.parse_key_payload(request.data)
        require_fresh_code(request)  # with 2FA on, saving keys needs a current code
        credential = services.credential_save(
            user=request.user,
            provider=payload.provider,
            purpose=payload.purpose,
            label=payload.label,
            secrets=payload.secrets,
        )
        return Response(
            {"success": True, "credential": CredentialSerializer(credential).data}, status=status.HTTP_201_CREATED
        )


class KeyTestView(APIView):
    parser_classes = KEYS_PARSERS
    extra_error_statuses = ["404"]  # a credential_id naming no key set of the caller's
    throttle_classes = [UserRateThrottle, ScopedRateThrottle]
    throttle_scope = "keys_test"

    @extend_schema(request=KeyPayloadDocSerializer, responses={200: KeyTestResultSerializer}, tags=["credentials"])
    def post(self, request):
        payload = payloads.parse_key_payload(request.data, require_secrets=False)
        outcome = services.credential_test(user=request.user, payload=payload)
        extra = {"credential": CredentialSerializer(outcome.credential).data} if outcome.credential else {}
        return Response({"success": True, "provider": outcome.provider, **outcome.result.as_dict(), **extra})


class KeyDetailView(APIView):
    extra_error_statuses = ["409"]

    @extend_schema(responses={200: CredentialEnvelopeSerializer}, tags=["credentials"])
    def get(self, request, credential_id: int):
        credential = selectors.credential_get(user=request.user, credential_id=credential_id)
        return Response({"success": True, "credential": CredentialSerializer(credential).data})

    @extend_schema(responses={200: CredentialEnvelopeSerializer}, tags=["credentials"])
    def delete(self, request, credential_id: int):
        credential = selectors.credential_get(user=request.user, credential_id=credential_id)
        data = CredentialSerializer(credential).data
        require_fresh_code(request)  # with 2FA on, deleting keys needs a current code
        services.credential_delete(user=request.user, credential_id=credential_id)
        return Response({"success": True, "message": "Credential deleted.", "credential": data})


def _profile(user) -> dict:
    rows = list(selectors.credential_list(user=user))
    angel = {c.purpose: c for c in rows if c.provider == payloads.FLAT_PROVIDER and c.label == "default"}
    live, backtest = angel.get(Credential.Purpose.LIVE), angel.get(Credential.Purpose.BACKTEST)
    return {
        "user": user_to_dict(user),
        "broker_keys": {
            "live": CredentialSerializer(live).data if live else None,
            "backtest": CredentialSerializer(backtest).data if backtest else None,
        },
        "credentials": CredentialSerializer(rows, many=True).data,
        **flat_masked(live, backtest),
    }


class ProfileView(APIView):
    """``val/profile``: the older clients' profile, broker keys masked."""

    @extend_schema(responses={200: ProfileSerializer}, tags=["credentials"])
    def get(self, request):
        return Response({"success": True, **_profile(request.user)})


class ProfileUpdateView(APIView):
    """``val/update_profile``: the flat angel_* (live) and backtest_* (backtest) broker form."""

    parser_classes = KEYS_PARSERS

    @extend_schema(request=FlatProfileDocSerializer, responses={200: ProfileSerializer}, tags=["credentials"])
    def post(self, request):
        sets = payloads.parse_flat_profile(request.data)
        if sets:
            require_fresh_code(request)  # it saves keys: with 2FA on, a current code
        services.credential_profile_update(user=request.user, sets=sets)
        return Response(
            {"success": True, "message": "Profile updated." if sets else "Nothing to update.", **_profile(request.user)}
        )
