from django.urls import path

from training import views

app_name = "training"

urlpatterns = [
    path("training/live-bay", views.LiveBayView.as_view(), name="live-bay"),
    path("training/<int:bot_id>/promote", views.PromoteView.as_view(), name="promote"),
]
