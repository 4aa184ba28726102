from django.contrib import admin


class BotfleetAdminSite(admin.AdminSite):
    site_header = "Botfleet administration"
    site_title = "Botfleet admin"
    index_title = "Fleet"
