from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "signals"
    verbose_name = "Signals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from signals import events

        events.register_all()
