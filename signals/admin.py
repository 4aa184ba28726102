"""Signals in the admin: read-only, and never a webhook's nonce (with SECRET_KEY it makes the token)."""

from __future__ import annotations

from django.contrib import admin

from signals.models import Provider, Signal, Webhook


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Provider)
class ProviderAdmin(_ReadOnly):
    list_display = ("name", "owner", "created_at")
    search_fields = ("name", "owner__email")
    list_select_related = ("owner",)


@admin.register(Webhook)
class WebhookAdmin(_ReadOnly):
    list_display = ("bot", "provider", "created_at", "rotated_at")
    fields = ("bot", "provider", "created_at", "rotated_at")
    list_select_related = ("bot", "provider")


@admin.register(Signal)
class SignalAdmin(_ReadOnly):
    list_display = ("received_at", "bot", "source", "action", "symbol", "status", "reason")
    list_filter = ("status", "source", "reason")
    list_select_related = ("bot",)
    date_hierarchy = "received_at"
