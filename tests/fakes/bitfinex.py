"""A local fake of Bitfinex's public REST API v2: a venue that counts precision in digits.

Just what ccxt's ``bitfinex`` reads for market data: ``GET /v2/conf/<labels>`` (markets and
currencies), ``/v2/ticker/t<PAIR>`` and ``/v2/candles/trade:<tf>:t<PAIR>/hist``. ccxt reads
its markets with ``precisionMode = SIGNIFICANT_DIGITS`` and an amount precision of 8 —
which, for Bitfinex, means eight *decimals*. Prices are set per pair in ``prices``.
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest


class FakeBitfinex:
    def __init__(self):
        self.prices: dict[str, Decimal] = {"BTCUSD": Decimal("30000")}
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-bitfinex", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeBitfinex:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(fake: FakeBitfinex):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):
            return

        def _reply(self, status: int, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = unquote(urlsplit(self.path).path)
            fake.requests.append(path)
            if path.startswith("/v2/conf/"):
                return self._reply(200, [self._conf(label) for label in path[len("/v2/conf/") :].split(",")])
            if path.startswith("/v2/ticker/t"):
                price = fake.prices.get(path[len("/v2/ticker/t") :])
                if price is None:
                    return self._reply(500, ["error", 10020, "symbol: invalid"])
                p = float(price)
                return self._reply(200, [p - 1, 1.0, p + 1, 1.0, 0.0, 0.0, p, 100.0, p + 10, p - 10])
            if path.startswith("/v2/candles/trade:"):
                _, timeframe, pair = path.split("/")[3].split(":")
                price = float(fake.prices.get(pair[1:], Decimal(100)))
                now = int(time.time()) // 60 * 60
                # [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME], one per minute whatever the timeframe.
                rows = [[(now - 60 * i) * 1000, price, price, price + 5, price - 5, 2.0] for i in range(300)]
                return self._reply(200, rows)
            return self._reply(404, ["error", 10020, "unknown path"])

        def _conf(self, label: str):
            if label == "pub:info:pair":
                # [pair, [_, _, _, min order size, max order size, ...]]
                return [[pair, [None, None, None, "0.00004", "2000.0", None, None, None]] for pair in fake.prices]
            return []

    return Handler


@pytest.fixture
def fake_bitfinex(settings):
    from credentials import providers

    fake = FakeBitfinex().start()
    settings.VENUE_URLS = {**(settings.VENUE_URLS or {}), "bitfinex": fake.url}
    settings.VENUE_TIMEOUT_SECONDS = 2.0
    providers.reset_clients()
    yield fake
    providers.reset_clients()
    fake.stop()
