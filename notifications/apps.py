from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import dispatch, events
        from realtime import registry

        events.register_all()
        registry.add_publish_listener(dispatch.on_published)
