"""ASGI routing for the realtime app: the WebSocket route and the embedded relay's start."""

from channels.routing import URLRouter
from django.urls import path

from realtime.consumers import EventConsumer
from realtime.relay import ensure_embedded_relay

websocket_urlpatterns: list = [path("api/ws", EventConsumer.as_asgi())]


def websocket_application():
    return URLRouter(websocket_urlpatterns)


def wrap_http(app):
    """Start the embedded relay on the ASGI server's loop with the first request.

    daphne has no lifespan events, so the first call of any kind starts it (the
    launcher polls ``/api/health`` right after start, which does); it is a no-op when
    ``RELAY_IN_ASGI`` is off (production runs ``manage.py relay_events``).
    """

    async def http_application(scope, receive, send):
        ensure_embedded_relay()
        return await app(scope, receive, send)

    return http_application
