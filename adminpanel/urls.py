from django.urls import path

from adminpanel import views

app_name = "adminpanel"

urlpatterns = [
    path("admin/unlock", views.UnlockView.as_view(), name="unlock"),
    path("admin/bots", views.AdminBotsView.as_view(), name="bots"),
    path("admin/bots/<int:bot_id>/override", views.AdminBotOverrideView.as_view(), name="bot-override"),
    path("admin/resources/users", views.ResourceUsersView.as_view(), name="resources-users"),
    path("admin/users", views.AdminUsersView.as_view(), name="users"),
    path("admin/users/<int:user_id>", views.AdminUserView.as_view(), name="user"),
    path("admin/audit", views.AdminAuditView.as_view(), name="audit"),
    path("admin/halt", views.AdminHaltView.as_view(), name="halt"),
]
