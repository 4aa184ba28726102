from django.urls import path

from realtime import sse, views

urlpatterns: list = [
    path("realtime/events", sse.event_stream, name="realtime-events"),
    path("internal/events", views.InternalEventView.as_view(), name="internal-events"),
]
