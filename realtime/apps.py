from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from realtime import registry
        from realtime.relay import EVENT_UNDELIVERABLE

        registry.register(EVENT_UNDELIVERABLE)
