from django.urls import path, re_path

from signals import tokens, views

app_name = "signals"

urlpatterns = [
    path("signals/parse", views.ParseView.as_view(), name="parse"),
    path("signals/import", views.ImportView.as_view(), name="import"),
    path("signals/providers", views.ProvidersView.as_view(), name="providers"),
    path("signals/providers/<int:provider_id>", views.ProviderView.as_view(), name="provider"),
    path("signals/history", views.HistoryView.as_view(), name="history"),
    # Listed under bots in API.md; served here, where webhooks live.
    path("bots/<int:bot_id>/webhook", views.BotWebhookView.as_view(), name="bot-webhook"),
    path("bots/<int:bot_id>/webhook/rotate", views.BotWebhookRotateView.as_view(), name="bot-webhook-rotate"),
    re_path(rf"^signals/(?P<token>{tokens.TOKEN_PATTERN})$", views.SignalWebhookView.as_view(), name="webhook"),
]
