"""The same test clients, driven through the ASGI application that daphne serves.

``make run`` serves all of HTTP through ``config.asgi:application`` (Channels' router in
front of Django's ASGI handler), while Django's and DRF's test clients call the WSGI
handler: bugs that live only on the async path (axes' async middleware, ASGI request
parsing) slipped past a suite that only spoke WSGI. ``AsgiAPIClient`` is DRF's
``APIClient`` with one difference: the request environ it builds (the same arguments,
encodings, headers, cookies and ``REMOTE_ADDR``) is turned into an ASGI scope and sent
to ``config.asgi:application`` in-process, synchronously. Sync views run back on the
calling thread (asgiref's thread-sensitive mode), so the test's database transaction is
the one the view sees.

The ``api`` fixture runs a test once per handler; ``owner_api`` and ``staff_api`` are
bearer-authenticated clients on the same handler.
"""

from __future__ import annotations

import asyncio
from http.cookies import SimpleCookie
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponse
from django.test import override_settings
from rest_framework.test import APIClient

_CHUNK = 65536


def _scope(environ: dict) -> tuple[dict, bytes]:
    """An ASGI HTTP scope and body for a WSGI environ built by Django's RequestFactory."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").lower()
        else:
            continue
        if value in ("", None) and name in ("cookie", "content-type", "content-length"):
            continue
        headers.append((name.encode("latin-1"), str(value).encode("latin-1")))
    if not any(name == b"host" for name, _ in headers):
        headers.append((b"host", environ.get("SERVER_NAME", "testserver").encode("latin-1")))
    body = environ["wsgi.input"].read() if environ.get("wsgi.input") is not None else b""
    # RequestFactory keeps the unquoted path as latin-1 text of its UTF-8 bytes.
    raw_path = environ.get("PATH_INFO", "/").encode("iso-8859-1")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": environ.get("REQUEST_METHOD", "GET").upper(),
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": raw_path.decode("utf-8", "replace"),
        "raw_path": quote(raw_path).encode("ascii"),
        "root_path": "",
        "query_string": str(environ.get("QUERY_STRING", "")).encode("iso-8859-1"),
        "headers": headers,
        "client": (environ.get("REMOTE_ADDR", "127.0.0.1"), int(environ.get("REMOTE_PORT", 50000))),
        "server": (environ.get("SERVER_NAME", "testserver"), int(environ.get("SERVER_PORT", 80))),
    }
    return scope, body


async def _call(application, scope: dict, body: bytes) -> tuple[int, list, bytes]:
    chunks = [body[i : i + _CHUNK] for i in range(0, len(body), _CHUNK)] or [b""]
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    done = asyncio.Event()
    start: dict = {}
    parts: list[bytes] = []

    async def receive():
        if incoming:
            return incoming.pop(0)
        await done.wait()  # the client stays connected until the answer is complete
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                done.set()

    await asyncio.wait_for(application(scope, receive, send), timeout=60)
    assert start, "the application sent no response"
    return start["status"], start.get("headers", []), b"".join(parts)


class AsgiHandler:
    """Takes the test client's environ, answers through ``config.asgi:application``."""

    def __init__(self):
        from config.asgi import application

        self.application = application

    def __call__(self, environ: dict) -> HttpResponse:
        scope, body = _scope(environ)
        # As Django's own test handlers do: the test's connection (inside its transaction)
        # must not be closed by the per-request connection clean-up.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            # The embedded relay belongs to a long-lived server loop, not to one request's.
            with override_settings(RELAY_IN_ASGI=False):
                status, headers, content = async_to_sync(_call)(self.application, scope, body)
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        response = HttpResponse(content, status=status)
        del response["Content-Type"]
        cookies = SimpleCookie()
        for name, value in headers:
            name, value = name.decode("latin-1"), value.decode("latin-1")
            if name.lower() == "set-cookie":
                cookies.load(value)
            else:
                response[name] = value
        response.cookies = cookies
        response.wsgi_request = None
        response.asgi_scope = scope
        return response


class AsgiAPIClient(APIClient):
    """DRF's test client, answered by the ASGI application instead of the WSGI handler."""

    handler_name = "asgi"

    def __init__(self, **defaults):
        super().__init__(**defaults)
        self.handler = AsgiHandler()

    def force_authenticate(self, user=None, token=None):  # pragma: no cover - a misuse guard
        raise NotImplementedError("Send a real bearer token: the ASGI handler authenticates like a server.")


class WsgiAPIClient(APIClient):
    handler_name = "wsgi"


HANDLERS = {"wsgi": WsgiAPIClient, "asgi": AsgiAPIClient}


def client_for(handler: str, user=None) -> APIClient:
    client = HANDLERS[handler]()
    if user is not None:
        from accounts.tokens import token_pair_for

        pair = token_pair_for(user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
        client.tokens = pair
        client.user = user
    return client


@pytest.fixture(params=["wsgi", "asgi"])
def handler(request) -> str:
    return request.param


@pytest.fixture
def api(handler) -> APIClient:
    """An anonymous client, once through the WSGI handler and once through the ASGI application."""
    return client_for(handler)


@pytest.fixture
def owner_api(handler, owner) -> APIClient:
    return client_for(handler, owner)


@pytest.fixture
def staff_api(handler, staff) -> APIClient:
    return client_for(handler, staff)
