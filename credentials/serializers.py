"""Output shapes (nothing secret is ever a field) and the documented input shapes."""

from __future__ import annotations

from rest_framework import serializers

from accounts.serializers import UserSerializer
from credentials.models import PUBLIC_FIELDS, Credential


class CredentialSerializer(serializers.ModelSerializer):
    class Meta:
        model = Credential
        fields = list(PUBLIC_FIELDS)
        read_only_fields = fields


class CredentialEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    credential = CredentialSerializer()


class CredentialListSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    credentials = CredentialSerializer(many=True)
    total = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class KeyPayloadDocSerializer(serializers.Serializer):
    """For the schema only: the views read the body tolerantly (credentials.payloads)."""

    provider = serializers.CharField(required=False, help_text="Venue id; aliases exchange, platform, broker.")
    api_key = serializers.CharField(required=False, help_text="Aliases apiKey, key.")
    api_secret = serializers.CharField(required=False, help_text="Aliases apiSecret, secret.")
    passphrase = serializers.CharField(required=False)
    client_code = serializers.CharField(required=False, help_text="Alias clientCode.")
    password = serializers.CharField(required=False)
    totp = serializers.CharField(required=False, help_text="The base32 TOTP secret (alias totp_secret), not a code.")
    purpose = serializers.ChoiceField(choices=["live", "backtest"], required=False, default="live")
    label = serializers.CharField(required=False, default="default")
    credential_id = serializers.IntegerField(required=False, help_text="keys/test only: test this saved set.")


class KeyTestResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    provider = serializers.CharField()
    ok = serializers.BooleanField()
    message = serializers.CharField()
    latency_ms = serializers.IntegerField()
    credential = CredentialSerializer(required=False)


class FlatProfileDocSerializer(serializers.Serializer):
    angel_api_key = serializers.CharField(required=False)
    angel_client_code = serializers.CharField(required=False)
    angel_password = serializers.CharField(required=False)
    angel_totp = serializers.CharField(required=False, help_text="base32 TOTP secret")
    backtest_api_key = serializers.CharField(required=False)
    backtest_client_code = serializers.CharField(required=False)
    backtest_password = serializers.CharField(required=False)
    backtest_totp = serializers.CharField(required=False, help_text="base32 TOTP secret")


class BrokerKeysSerializer(serializers.Serializer):
    live = CredentialSerializer(allow_null=True)
    backtest = CredentialSerializer(allow_null=True)


class ProfileSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    user = UserSerializer()
    broker_keys = BrokerKeysSerializer()
    credentials = CredentialSerializer(many=True)


MASK = "********"


def flat_masked(live: Credential | None, backtest: Credential | None) -> dict:
    """The flat ``angel_*``/``backtest_*`` names older clients read: a hint or a mask, never a value."""
    out = {}
    for prefix, credential in (("angel_", live), ("backtest_", backtest)):
        fields_set = set(credential.fields_set) if credential else set()
        out[prefix + "api_key"] = credential.api_key_hint if credential and "api_key" in fields_set else ""
        for suffix, name in (("client_code", "client_code"), ("password", "password"), ("totp", "totp_secret")):
            out[prefix + suffix] = MASK if name in fields_set else ""
        out[prefix + "configured"] = credential is not None
    return out
