"""Reads for the API: a user's channels and deliveries."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound
from notifications.models import Channel, Delivery


def channel_list(*, user) -> QuerySet[Channel]:
    return Channel.objects.filter(user=user).order_by("id")


def delivery_list(*, user, status: str | None = None, channel_id: int | None = None) -> QuerySet[Delivery]:
    rows = Delivery.objects.filter(user=user)
    if channel_id is not None:
        if not Channel.objects.filter(pk=channel_id, user=user).exists():
            raise NotFound("No such channel.")
        rows = rows.filter(channel_id=channel_id)
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-id")
