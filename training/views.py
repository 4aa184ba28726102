"""Thin views of the training bay (API.md "training")."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from bots.serializers import bot_to_dict
from training import selectors, services
from training.serializers import LiveBaySerializer, PromotionSerializer


class LiveBayView(APIView):
    @extend_schema(responses={200: LiveBaySerializer}, tags=["training"])
    def get(self, request):
        return Response({"success": True, **selectors.live_bay(user=request.user)})


class PromoteView(APIView):
    extra_error_statuses = ["409"]

    @extend_schema(request=None, responses={200: PromotionSerializer}, tags=["training"])
    def post(self, request, bot_id: int):
        result = services.bot_promote(bot_id=bot_id, user=request.user, source=services.SOURCE_OWNER)
        return Response(
            {"success": True, "message": result.message, "promoted": result.promoted, "bot": bot_to_dict(result.bot)}
        )
