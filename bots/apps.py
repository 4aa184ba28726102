from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bots import analytics, events, hooks
        from realtime import registry

        events.register_all()
        registry.register_overview_provider(analytics.overview)
        hooks.register_all()
