from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import hooks
        from notifications import dispatch, events
        from notifications.services import channels_erase_for_leaver
        from realtime import registry

        events.register_all()
        registry.add_publish_listener(dispatch.on_published)
        hooks.register_leaver("notifications", channels_erase_for_leaver)
