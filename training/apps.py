from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training bay"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from training import events

        events.register_all()
