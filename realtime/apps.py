from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from realtime import registry
        from realtime.relay import EVENT_UNDELIVERABLE

        registry.register(EVENT_UNDELIVERABLE)
        _register_account_hooks()


def _register_account_hooks() -> None:
    """A user's export carries their events (as the streams showed them)."""
    from accounts import hooks

    hooks.register_exporter("events", _export_events)


def _export_events(user) -> list:
    from realtime.models import Event

    rows = (
        Event.objects.filter(user=user)
        .order_by("pk")
        .values("seq", "type", "message", "payload", "bot_id", "created_at")
    )
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows.iterator()]
