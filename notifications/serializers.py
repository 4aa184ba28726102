"""Request parsing and response shapes. Secrets are never part of a channel's shape."""

from __future__ import annotations

from rest_framework import serializers

from core.limits import MAX_ID
from notifications.models import Channel, Delivery


def _mask_url(url: str) -> str:
    # A webhook URL may carry a token in its path or query: show the origin and a hint.
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path if len(parts.path) <= 12 else parts.path[:8] + "…"
    return f"{parts.scheme}://{parts.netloc}{path}{'?…' if parts.query else ''}"


def channel_to_dict(channel: Channel) -> dict:
    return {
        "id": channel.pk,
        "kind": channel.kind,
        "name": channel.name,
        "events": channel.events,
        "enabled": channel.enabled,
        "ops": channel.is_ops,
        "verified": channel.verified_at is not None,
        "verified_at": channel.verified_at,
        "address": channel.address or None,
        "url": _mask_url(channel.url) if channel.url else None,
        "telegram_linked": bool(channel.telegram_chat_id),
        "link_code_expires_at": channel.code_expires_at if channel.kind == Channel.Kind.TELEGRAM else None,
        "created_at": channel.created_at,
        "updated_at": channel.updated_at,
    }


def delivery_to_dict(delivery: Delivery) -> dict:
    return {
        "id": delivery.pk,
        "channel_id": delivery.channel_id,
        "idempotency_key": delivery.key,
        "event_type": delivery.event_type,
        "event_seq": delivery.event_seq,
        "events": delivery.count,
        "last_event_seq": delivery.last_seq,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at if delivery.status == Delivery.Status.PENDING else None,
        "last_error": delivery.last_error or None,
        "response_status": delivery.response_status,
        "created_at": delivery.created_at,
        "first_attempt_at": delivery.first_attempt_at,
        "delivered_at": delivery.delivered_at,
        "failed_at": delivery.failed_at,
    }


class _WebhookUrl(serializers.URLField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Must be an http(s) URL.")
        return value


class ChannelCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Channel.Kind.choices)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    events = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100, required=False)
    url = _WebhookUrl(max_length=500, required=False, allow_blank=True, default="")
    address = serializers.EmailField(required=False, allow_blank=True, default="")
    bot_token = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", write_only=True)
    ops = serializers.BooleanField(required=False, default=False)


class ChannelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    events = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100, required=False)
    enabled = serializers.BooleanField(required=False)
    url = _WebhookUrl(max_length=500, required=False)
    ops = serializers.BooleanField(required=False)
    rotate_secret = serializers.BooleanField(required=False)
    new_link_code = serializers.BooleanField(required=False)


class VerifySerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class DeliveryFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Delivery.Status.choices, required=False)
    channel_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


class ChannelEnvelope(serializers.Serializer):
    success = serializers.BooleanField()
    channel = serializers.DictField()
    secret = serializers.CharField(required=False, help_text="A webhook's signing secret: shown once.")
    link_code = serializers.CharField(required=False, help_text="Send it to the Telegram bot: shown once.")
