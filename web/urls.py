"""The app's own URLs (deep links): each answers the shell, which routes on the client.

Listed one by one, so a mistyped path still gets the 404 every other path gets, and
nothing here can shadow ``/api/``, ``/admin/`` or ``/static/``.
"""

from django.urls import path

from web import views

app_name = "web"

urlpatterns = [
    path("", views.shell, name="overview"),
    path("signin", views.shell, name="signin"),
    path("register", views.shell, name="register"),
    path("verify", views.shell, name="verify"),
    path("account/password", views.shell, name="password"),
    path("bots", views.shell, name="bots"),
    path("bots/new", views.shell, name="bot-new"),
    path("bots/<int:bot_id>", views.shell, name="bot"),
    path("bots/<int:bot_id>/edit", views.shell, name="bot-edit"),
    path("platforms/<slug:platform>", views.shell, name="platform"),
    path("keys", views.shell, name="keys"),
    path("training", views.shell, name="training"),
    path("backtests", views.shell, name="backtests"),
    path("backtests/<int:backtest_id>", views.shell, name="backtest"),
    path("forgot-password", views.shell, name="forgot-password"),
    path("reset-password", views.shell, name="reset-password"),
    path("account/security", views.shell, name="security"),
    path("notifications", views.shell, name="notifications"),
]
