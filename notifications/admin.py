"""Channels and deliveries in the admin: never a secret, never a code hash."""

from django.contrib import admin

from notifications.models import Channel, Delivery


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "name", "enabled", "is_ops", "verified_at")
    list_filter = ("kind", "enabled", "is_ops")
    search_fields = ("user__email", "name")
    fields = (
        "user",
        "kind",
        "name",
        "events",
        "enabled",
        "is_ops",
        "address",
        "url",
        "telegram_chat_id",
        "verified_at",
    )
    readonly_fields = ("user", "kind", "address", "url", "telegram_chat_id", "verified_at")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "key", "channel", "event_type", "status", "attempts", "next_attempt_at", "last_error")
    list_filter = ("status", "event_type")
    search_fields = ("key",)
    readonly_fields = [f.name for f in Delivery._meta.fields]
