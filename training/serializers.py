"""Response shapes of the training endpoints, for the OpenAPI schema (API.md "training").

The views build plain dicts (``training.selectors.live_bay``); these serializers only
describe them, and ``tests/training`` checks that the two agree.
"""

from __future__ import annotations

from rest_framework import serializers

from bots.serializers import BotDocSerializer


class QuarantineBotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    exchange = serializers.CharField()
    hours_elapsed = serializers.FloatField(min_value=0)
    hours_remaining = serializers.FloatField(min_value=0)
    seconds_remaining = serializers.FloatField(
        min_value=0, help_text="Exact time left, for a countdown (hours_remaining is rounded up to 0.1 h)."
    )
    eligible_for_promotion = serializers.BooleanField()


class LiveBaySerializer(serializers.Serializer):
    success = serializers.BooleanField()
    live_mode_active = serializers.BooleanField(help_text="ENABLE_TRADING is on and the fleet is not halted.")
    quarantine_bots = QuarantineBotSerializer(many=True)
    total = serializers.IntegerField()
    ready_for_promotion = serializers.IntegerField()
    min_training_hours = serializers.FloatField()


class PromotionSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    promoted = serializers.BooleanField(help_text="False when the bot had already been promoted (nothing changed).")
    bot = BotDocSerializer()
