from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from credentials import logging as redaction

        redaction.install()
        from accounts import hooks
        from credentials.services import credentials_erase_for_leaver

        hooks.register_leaver("credentials", credentials_erase_for_leaver)
