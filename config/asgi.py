"""ASGI entry point: WebSocket and SSE (and, in the embedded mode, all of HTTP).

In production only the streams are routed here (a reverse proxy sends the rest of
HTTP to the WSGI server; DESIGN.md explains why).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()  # sets Django up before any app import below

from channels.routing import ProtocolTypeRouter  # noqa: E402

from realtime.routing import websocket_application, wrap_http  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": wrap_http(django_asgi_app),
        "websocket": websocket_application(),
    }
)
