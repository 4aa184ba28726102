"""Signals' reads, scoped to the acting user."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from signals.models import Provider, Signal, Webhook


def provider_list(*, user) -> QuerySet[Provider]:
    """The user's providers with their bots' ids (two queries whatever the count)."""
    return Provider.objects.filter(owner=user).prefetch_related(
        Prefetch("webhooks", queryset=Webhook.objects.only("id", "bot_id", "provider_id").order_by("bot_id"))
    )


def signal_history(*, user, filters: dict | None = None) -> QuerySet[Signal]:
    """The user's signals, newest first (deleted bots' included: the history stays)."""
    filters = filters or {}
    queryset = Signal.objects.filter(bot__owner=user).select_related("order")
    for name in ("bot_id", "provider_id", "status", "source"):
        if filters.get(name):
            queryset = queryset.filter(**{name: filters[name]})
    return queryset.order_by("-received_at", "-id")
