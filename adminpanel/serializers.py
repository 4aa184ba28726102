"""Input shapes of the staff API (API.md "adminpanel"); outputs are plain dicts from selectors."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import username_validator
from core.limits import MAX_ID


class UnlockSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False)


class OverrideSerializer(serializers.Serializer):
    # Validated key by key in adminpanel.rules, so the 400 names the offending rule.
    override_rules = serializers.JSONField(required=False, allow_null=True)
    force_pause = serializers.BooleanField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


class HaltSerializer(serializers.Serializer):
    halted = serializers.BooleanField()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


class AdminBotFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["stopped", "running", "paused", "error"], required=False)
    trading_mode = serializers.ChoiceField(choices=["paper", "live"], required=False)
    mode = serializers.ChoiceField(choices=["paper", "live"], required=False)
    exchange = serializers.CharField(required=False)
    user_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    force_paused = serializers.BooleanField(required=False, allow_null=True, default=None)
    in_training = serializers.BooleanField(required=False, allow_null=True, default=None)
    search = serializers.CharField(required=False, allow_blank=True)


class AuditFilterSerializer(serializers.Serializer):
    actor = serializers.CharField(required=False, allow_blank=True, help_text="a user id or part of an email")
    actor_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    action = serializers.CharField(required=False, allow_blank=True, help_text="exact, or a prefix ending in '.'")
    target_type = serializers.CharField(required=False, allow_blank=True)
    target_id = serializers.CharField(required=False, allow_blank=True)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class UserFilterSerializer(serializers.Serializer):
    search = serializers.CharField(required=False, allow_blank=True)
    is_staff = serializers.BooleanField(required=False, allow_null=True, default=None)
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)


class UserCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False)
    username = serializers.CharField(required=False, allow_blank=True, max_length=150, validators=[username_validator])
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    full_name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    is_staff = serializers.BooleanField(required=False, default=False)
    is_verified = serializers.BooleanField(required=False, default=False)


class UserUpdateSerializer(serializers.Serializer):
    username = serializers.CharField(required=False, max_length=150, validators=[username_validator])
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    full_name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    # default=None: with form bodies DRF would read a missing checkbox as False.
    is_staff = serializers.BooleanField(required=False, allow_null=True, default=None)
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)
    is_verified = serializers.BooleanField(required=False, allow_null=True, default=None)
    unlock = serializers.BooleanField(required=False, allow_null=True, default=None, help_text="clear a lockout")


class ResourceQuerySerializer(serializers.Serializer):
    sort = serializers.CharField(required=False, help_text="a column, '-' for descending (default -total_storage_mb)")
    ordering = serializers.CharField(required=False, help_text="alias of sort")
    search = serializers.CharField(required=False, allow_blank=True)
