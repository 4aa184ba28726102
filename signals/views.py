"""Thin views of signals (API.md "signals", and ``bots/{id}/webhook``)."""

from __future__ import annotations

import hashlib

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageNumberPagination
from core.throttles import ScopedRateThrottle
from signals import parser, selectors, services
from signals.serializers import (
    HistoryFilterSerializer,
    ImportSerializer,
    ParseSerializer,
    ProviderWriteSerializer,
    WebhookBodySerializer,
    parsed_to_dict,
    provider_to_dict,
    signal_to_dict,
    webhook_to_dict,
)

_OK = {"success": serializers.BooleanField()}


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class WebhookThrottle(ScopedRateThrottle):
    """Per token, not per address: TradingView sends every user's alerts from a few addresses."""

    def get_ident(self, request) -> str:
        token = request.parser_context["kwargs"].get("token", "")
        return hashlib.sha256(token.encode()).hexdigest()[:32]


class SignalWebhookView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [WebhookThrottle]
    throttle_scope = "signal_webhook"

    @extend_schema(
        tags=["signals"],
        request=WebhookBodySerializer,
        responses={
            202: inline_serializer("SignalReceived", {**_OK, "signal": serializers.DictField()}),
            400: OpenApiResponse(description="Not JSON, or a body that is not a signal"),
            401: OpenApiResponse(description="A signature was sent and is wrong, expired or replayed"),
            404: OpenApiResponse(description="No such webhook"),
        },
    )
    def post(self, request, token: str):
        webhook = services.webhook_resolve(token)
        services.signature_verify(
            webhook=webhook,
            timestamp=request.headers.get("X-Botfleet-Timestamp"),
            signature=request.headers.get("X-Botfleet-Signature"),
            body=request.body,
        )
        data = _valid(WebhookBodySerializer, request.data if isinstance(request.data, dict) else {"": request.data})
        signal = services.signal_receive(webhook=webhook, data=data)
        body = {"id": signal.pk, "status": signal.status, "reason": signal.reason or None, "message": signal.message}
        return Response({"success": True, "signal": body}, status=202)


class ParseView(APIView):
    @extend_schema(
        tags=["signals"],
        request=ParseSerializer,
        responses={
            200: inline_serializer("ParsedSignal", {**_OK, "signal": serializers.DictField()}),
            400: OpenApiResponse(description="NOT_A_SIGNAL: the text is not a signal (the message says why)"),
        },
    )
    def post(self, request):
        data = _valid(ParseSerializer, request.data)
        return Response({"success": True, "signal": parsed_to_dict(parser.parse(data["text"]))})


class ImportView(APIView):
    extra_error_statuses = ["404"]

    @extend_schema(
        tags=["signals"],
        request=ImportSerializer,
        responses={
            202: inline_serializer(
                "ImportedSignal", {**_OK, "signal": serializers.DictField(), "parsed": serializers.DictField()}
            ),
            400: OpenApiResponse(description="NOT_A_SIGNAL: the text is not a signal"),
            404: OpenApiResponse(description="No such bot of yours"),
        },
    )
    def post(self, request):
        data = _valid(ImportSerializer, request.data)
        signal, parsed = services.signal_import(user=request.user, bot_id=data["bot_id"], text=data["text"])
        return Response({"success": True, "signal": signal_to_dict(signal), "parsed": parsed_to_dict(parsed)}, 202)


class ProvidersView(APIView):
    list_key = "providers"
    extra_error_statuses = {"POST": ["404", "409"]}  # a bot_id naming no bot of yours; a taken name

    @extend_schema(tags=["signals"], responses={200: inline_serializer("ProviderList", {**_OK})})
    def get(self, request):
        paginator = PageNumberPagination()
        rows = paginator.paginate_queryset(selectors.provider_list(user=request.user), request, view=self)
        return paginator.get_paginated_response([provider_to_dict(row) for row in rows])

    @extend_schema(
        tags=["signals"],
        request=ProviderWriteSerializer,
        responses={201: inline_serializer("ProviderCreated", {**_OK, "provider": serializers.DictField()})},
    )
    def post(self, request):
        data = _valid(ProviderWriteSerializer, request.data)
        provider = services.provider_create(user=request.user, **data)
        provider = selectors.provider_list(user=request.user).get(pk=provider.pk)
        return Response({"success": True, "provider": provider_to_dict(provider)}, status=201)


class ProviderView(APIView):
    extra_error_statuses = ["404", "409"]

    @extend_schema(
        tags=["signals"],
        request=ProviderWriteSerializer,
        responses={200: inline_serializer("ProviderUpdated", {**_OK, "provider": serializers.DictField()})},
    )
    def put(self, request, provider_id: int):
        serializer = ProviderWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.provider_update(user=request.user, provider_id=provider_id, data=serializer.validated_data)
        provider = selectors.provider_list(user=request.user).get(pk=provider_id)
        return Response({"success": True, "provider": provider_to_dict(provider)})

    @extend_schema(tags=["signals"], responses={200: inline_serializer("ProviderDeleted", _OK)})
    def delete(self, request, provider_id: int):
        services.provider_delete(user=request.user, provider_id=provider_id)
        return Response({"success": True})


class HistoryView(APIView):
    list_key = "signals"

    @extend_schema(
        tags=["signals"],
        parameters=[HistoryFilterSerializer],
        responses={200: inline_serializer("SignalHistory", {**_OK, "signals": serializers.ListField()})},
    )
    def get(self, request):
        filters = _valid(HistoryFilterSerializer, request.query_params)
        paginator = PageNumberPagination()
        rows = paginator.paginate_queryset(selectors.signal_history(user=request.user, filters=filters), request, self)
        return paginator.get_paginated_response([signal_to_dict(row) for row in rows])


def _webhook_response(request, info) -> Response:
    from django.urls import reverse

    url = request.build_absolute_uri(reverse("signals:webhook", kwargs={"token": info.token}))
    return Response({"success": True, "webhook": webhook_to_dict(info, url=url)})


class BotWebhookView(APIView):
    extra_error_statuses = ["409"]

    @extend_schema(
        tags=["signals"], responses={200: inline_serializer("BotWebhook", {**_OK, "webhook": serializers.DictField()})}
    )
    def get(self, request, bot_id: int):
        return _webhook_response(request, services.webhook_get(user=request.user, bot_id=bot_id))


class BotWebhookRotateView(APIView):
    extra_error_statuses = ["409"]

    @extend_schema(
        tags=["signals"],
        request=None,
        responses={200: inline_serializer("BotWebhookRotated", {**_OK, "webhook": serializers.DictField()})},
    )
    def post(self, request, bot_id: int):
        return _webhook_response(request, services.webhook_rotate(user=request.user, bot_id=bot_id))
