from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AdminpanelConfig(AppConfig):
    default = True
    name = "adminpanel"
    verbose_name = "Fleet administration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from adminpanel import events

        events.register_all()


class BotfleetAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with Botfleet's site as the default site.

    Every ``admin.site.register`` and ``@admin.register`` in the apps lands on
    ``adminpanel.sites.BotfleetAdminSite``, so staff pages added by any app appear there.
    """

    default = False  # installed explicitly, in place of "django.contrib.admin"
    default_site = "adminpanel.sites.BotfleetAdminSite"
