"""Thin views over notifications.services and selectors (API.md "notifications")."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageNumberPagination
from notifications import selectors, services
from notifications.serializers import (
    ChannelCreateSerializer,
    ChannelEnvelope,
    ChannelUpdateSerializer,
    DeliveryFilterSerializer,
    VerifySerializer,
    channel_to_dict,
    delivery_to_dict,
)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


_CHANNELS = inline_serializer(
    "ChannelList",
    {
        "success": serializers.BooleanField(),
        "channels": serializers.ListField(child=serializers.DictField()),
        "total": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "event_types": serializers.ListField(child=serializers.CharField()),
        "default_events": serializers.ListField(child=serializers.CharField()),
    },
)


class ChannelListView(APIView):
    extra_error_statuses = ["409"]  # too many channels

    @extend_schema(tags=["notifications"], responses={200: _CHANNELS})
    def get(self, request):
        rows = [channel_to_dict(c) for c in selectors.channel_list(user=request.user)]
        return Response(
            {
                "success": True,
                "channels": rows,
                "total": len(rows),
                "next": None,
                "previous": None,
                "event_types": sorted(services.registered_types()),
                "default_events": services.default_events(),
            }
        )

    @extend_schema(tags=["notifications"], request=ChannelCreateSerializer, responses={201: ChannelEnvelope})
    def post(self, request):
        data = _valid(ChannelCreateSerializer, request.data)
        channel, shown = services.channel_create(user=request.user, **data)
        return Response({"success": True, "channel": channel_to_dict(channel), **shown}, status=status.HTTP_201_CREATED)


class ChannelDetailView(APIView):
    extra_error_statuses = ["404"]

    @extend_schema(tags=["notifications"], responses={200: ChannelEnvelope})
    def get(self, request, channel_id: int):
        channel = services.channel_get(user=request.user, channel_id=channel_id)
        return Response({"success": True, "channel": channel_to_dict(channel)})

    @extend_schema(tags=["notifications"], request=ChannelUpdateSerializer, responses={200: ChannelEnvelope})
    def patch(self, request, channel_id: int):
        services.channel_get(user=request.user, channel_id=channel_id)  # another user's: 404 before a 400
        changes = _valid(ChannelUpdateSerializer, request.data)
        channel, shown = services.channel_update(user=request.user, channel_id=channel_id, changes=changes)
        return Response({"success": True, "channel": channel_to_dict(channel), **shown})

    @extend_schema(tags=["notifications"], responses={200: ChannelEnvelope})
    def delete(self, request, channel_id: int):
        channel = services.channel_delete(user=request.user, channel_id=channel_id)
        return Response(
            {"success": True, "message": "Channel deleted.", "channel": {"id": channel_id, "kind": channel.kind}}
        )


_DELIVERY = inline_serializer(
    "DeliveryEnvelope", {"success": serializers.BooleanField(), "delivery": serializers.DictField()}
)


class ChannelTestView(APIView):
    extra_error_statuses = ["404", "409"]

    @extend_schema(tags=["notifications"], request=None, responses={202: _DELIVERY})
    def post(self, request, channel_id: int):
        delivery = services.channel_test(user=request.user, channel_id=channel_id)
        return Response({"success": True, "delivery": delivery_to_dict(delivery)}, status=status.HTTP_202_ACCEPTED)


class ChannelVerifyView(APIView):
    extra_error_statuses = ["404"]

    @extend_schema(tags=["notifications"], request=VerifySerializer, responses={200: ChannelEnvelope})
    def post(self, request, channel_id: int):
        services.channel_get(user=request.user, channel_id=channel_id)  # another user's: 404 before a 400
        code = _valid(VerifySerializer, request.data)["code"]
        channel = services.channel_verify(user=request.user, channel_id=channel_id, code=code)
        return Response({"success": True, "channel": channel_to_dict(channel)})


class ChannelLinkView(APIView):
    extra_error_statuses = ["404", "409"]

    @extend_schema(tags=["notifications"], request=None, responses={200: ChannelEnvelope})
    def post(self, request, channel_id: int):
        channel = services.channel_link(user=request.user, channel_id=channel_id)
        return Response({"success": True, "channel": channel_to_dict(channel)})


class DeliveryListView(APIView):
    list_key = "deliveries"
    extra_error_statuses = ["404"]

    @extend_schema(
        tags=["notifications"],
        parameters=[DeliveryFilterSerializer],
        responses={
            200: inline_serializer(
                "DeliveryList",
                {
                    "success": serializers.BooleanField(),
                    "deliveries": serializers.ListField(child=serializers.DictField()),
                    "total": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                },
            )
        },
    )
    def get(self, request):
        filters = _valid(DeliveryFilterSerializer, request.query_params)
        queryset = selectors.delivery_list(user=request.user, **filters)
        paginator = PageNumberPagination()
        rows = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([delivery_to_dict(d) for d in rows])
