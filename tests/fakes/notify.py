"""Local HTTP fakes for notifications: a webhook receiver that checks signatures, and
the Telegram Bot API (``/bot<token>/sendMessage``, ``/bot<token>/getUpdates``).

Both run a real HTTP server on 127.0.0.1 in a thread, so the code under test goes
through httpx, its timeouts and its error handling exactly as in production.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server:
    name = "fake"

    def __init__(self):
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.released = threading.Event()  # set to end a hang early (teardown)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{self.name}: {len(self.received)} requests, expected {count}")

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, reply = fake.handle(self.path, dict(self.headers), body)
                data = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (a hang test)

        return Handler


class WebhookReceiver(_Server):
    """Records each signed request; ``mode``: ``ok``, ``fail`` (HTTP 500), ``hang``.

    A request whose signature does not verify with ``secret`` is answered 401 and kept
    in ``bad_signatures``: tests assert none arrived.
    """

    name = "fake-webhook"

    def __init__(self):
        super().__init__()
        self.secret = ""
        self.secrets: dict[str, str] = {}  # per path (one receiver for many channels), else ``secret``
        self.mode = "ok"
        self.hang_seconds = 30.0
        self.bad_signatures: list[dict] = []
        self.attempts = 0
        self.delay = 0.0  # seconds between recording a request and answering it

    def handle(self, path: str, headers: dict, body: bytes):
        with self.lock:
            self.attempts += 1
            mode = self.mode
        timestamp = headers.get("X-Botfleet-Timestamp", "")
        secret = self.secrets.get(path, self.secret)
        expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not secret or not hmac.compare_digest(expected, headers.get("X-Botfleet-Signature", "")):
            with self.lock:
                self.bad_signatures.append({"headers": headers, "body": body})
            return 401, {"error": "bad signature"}
        if mode == "hang":
            self.released.wait(self.hang_seconds)
            return 200, {}
        if mode == "fail":
            return 500, {"error": "down"}
        with self.lock:
            self.received.append(
                {"key": headers.get("Idempotency-Key"), "path": path, "body": json.loads(body), "at": time.time()}
            )
        if self.delay:
            # Received but not yet answered: a sender killed now never learns it was delivered.
            self.released.wait(self.delay)
        return 200, {"ok": True}


class FakeTelegram(_Server):
    """The Bot API for one token: messages sent, and the updates the bot 'received'."""

    name = "fake-telegram"

    def __init__(self, token: str = "123456:TEST-TOKEN"):
        super().__init__()
        self.token = token
        self.updates: list[dict] = []  # received, not yet confirmed
        self._next_update = 1
        self.confirmed_up_to = 0

    def user_sends(self, chat_id: int, text: str) -> None:
        with self.lock:
            self.updates.append(
                {"update_id": self._next_update, "message": {"chat": {"id": chat_id, "type": "private"}, "text": text}}
            )
            self._next_update += 1

    def handle(self, path: str, headers: dict, body: bytes):
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path[len(prefix) :]
        params = json.loads(body or b"{}")
        if method == "getUpdates":
            with self.lock:
                # As the Bot API: an offset confirms every update before it (gone for good), and
                # at most ``limit`` (100) unconfirmed ones are returned, oldest first.
                if isinstance(params.get("offset"), int):
                    self.updates = [u for u in self.updates if u["update_id"] >= params["offset"]]
                    self.confirmed_up_to = max(self.confirmed_up_to, params["offset"])
                return 200, {"ok": True, "result": self.updates[: min(int(params.get("limit", 100)), 100)]}
        if method == "sendMessage":
            if not params.get("chat_id") or not params.get("text"):
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat_id and text"}
            with self.lock:
                self.received.append({"chat_id": str(params["chat_id"]), "text": params["text"], "at": time.time()})
            return 200, {"ok": True, "result": {"message_id": len(self.received)}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
