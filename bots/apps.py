from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bots import analytics, events
        from realtime import registry

        events.register_all()
        registry.register_overview_provider(analytics.overview)
        _register_hooks()


def _register_hooks() -> None:
    """Hooks other apps offer, filled when they exist (they are built concurrently)."""
    from bots import hooks

    hooks.register_all()
