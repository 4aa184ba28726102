"""ASGI routing for the realtime app (filled in by the realtime issue)."""

from channels.routing import URLRouter

websocket_urlpatterns: list = []


def websocket_application():
    return URLRouter(websocket_urlpatterns)


def wrap_http(app):
    """Hook for process-level tasks that live inside the ASGI server (the embedded relay)."""
    return app
