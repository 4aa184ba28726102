"""Request shapes of the signals endpoints, and the dicts the views answer with (API.md "signals")."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from rest_framework import serializers

from bots.serializers import order_to_dict
from core.limits import MAX_ID
from core.query import QuerySerializer
from signals.models import Provider, Signal
from signals.parser import MAX_TEXT_LENGTH, ParsedSignal

_AMOUNT = {"max_digits": 30, "decimal_places": 12, "required": False, "min_value": Decimal("1e-12")}
_AMOUNTS = ("quantity", "quote_amount", "percent")


class WebhookBodySerializer(serializers.Serializer):
    """A webhook's JSON body: TradingView's alert message, or any sender's."""

    action = serializers.CharField(max_length=8)
    symbol = serializers.CharField(max_length=64, required=False, allow_blank=True)
    quantity = serializers.DecimalField(**_AMOUNT)
    quote_amount = serializers.DecimalField(**_AMOUNT)
    percent = serializers.DecimalField(
        max_digits=7, decimal_places=4, required=False, min_value=Decimal("0.0001"), max_value=Decimal("100")
    )
    price = serializers.DecimalField(**_AMOUNT)
    timestamp = serializers.DateTimeField(required=False)
    max_lag_seconds = serializers.IntegerField(required=False, min_value=1, max_value=86400)
    id = serializers.CharField(max_length=64, required=False, allow_blank=True)

    def validate_action(self, value: str) -> str:
        value = value.strip().lower()
        if value not in ("buy", "sell", "close"):
            raise serializers.ValidationError("must be buy, sell or close")
        return value

    def to_internal_value(self, data):
        # TradingView's {{timenow}} is ISO 8601; other senders send unix seconds.
        if (
            isinstance(data, dict)
            and isinstance(data.get("timestamp"), int | float)
            and not isinstance(data.get("timestamp"), bool)
        ):
            try:
                data = {**data, "timestamp": datetime.fromtimestamp(data["timestamp"], tz=UTC).isoformat()}
            except (OverflowError, OSError, ValueError):
                raise serializers.ValidationError({"timestamp": ["is not a valid unix time"]}) from None
        return super().to_internal_value(data)

    def validate(self, attrs: dict) -> dict:
        given = [name for name in _AMOUNTS if attrs.get(name) is not None]
        if len(given) > 1:
            raise serializers.ValidationError({given[1]: [f"give one of {', '.join(_AMOUNTS)}, not several"]})
        if attrs["action"] == "close" and attrs.get("price") is not None:
            raise serializers.ValidationError({"price": ["a close is at market; it takes no price"]})
        return attrs


class ParseSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_TEXT_LENGTH, trim_whitespace=False)
    source = serializers.CharField(max_length=100, required=False, allow_blank=True)


class ImportSerializer(serializers.Serializer):
    bot_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    text = serializers.CharField(max_length=MAX_TEXT_LENGTH, trim_whitespace=False)


class ProviderWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    bot_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=500
    )


class HistoryFilterSerializer(QuerySerializer):
    bot_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    provider_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    status = serializers.ChoiceField(choices=Signal.Status.values, required=False)
    source = serializers.ChoiceField(choices=Signal.Source.values, required=False)


def parsed_to_dict(parsed: ParsedSignal) -> dict:
    return parsed.as_dict()


def provider_to_dict(provider: Provider) -> dict:
    return {
        "id": provider.pk,
        "name": provider.name,
        "description": provider.description,
        "bot_ids": [webhook.bot_id for webhook in provider.webhooks.all()],
        "created_at": provider.created_at.isoformat(),
        "updated_at": provider.updated_at.isoformat(),
    }


def signal_to_dict(signal: Signal) -> dict:
    return {
        "id": signal.pk,
        "bot_id": signal.bot_id,
        "provider_id": signal.provider_id,
        "source": signal.source,
        "client_id": signal.client_id or signal.payload.get("id") or None,
        "action": signal.action,
        "symbol": signal.symbol,
        "payload": signal.payload,
        "received_at": signal.received_at.isoformat(),
        "status": signal.status,
        "reason": signal.reason or None,
        "message": signal.message,
        "order_id": signal.order_id,
        "order": order_to_dict(signal.order) if signal.order_id else None,  # the outcome, exact amounts
    }


def webhook_to_dict(info, *, url: str) -> dict:
    return {
        "bot_id": info.bot_id,
        "url": url,
        "signing_secret": info.signing_secret,
        "provider_id": info.provider_id,
        "created_at": info.created_at.isoformat(),
        "rotated_at": info.rotated_at.isoformat() if info.rotated_at else None,
    }
