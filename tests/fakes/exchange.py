"""A local fake exchange: enough of Binance spot's REST API and of Angel One's SmartAPI.

An HTTP server in a thread on a free port. Every exchange test talks to it (never to the
internet). It checks keys for real — Binance requests must carry the right
``X-MBX-APIKEY`` and a valid HMAC-SHA256 signature made with the right secret; Angel One
logins need the right private key, client code, PIN and a current TOTP — and it can be
told to reject every key (``reject_keys``) or answer late (``delay`` seconds).

Binance: ``GET /api/v3/exchangeInfo``, ``/api/v3/account``, ``/api/v3/order``
(by ``origClientOrderId``), ``/api/v3/klines``, ``/api/v3/ticker/24hr``; ``POST /api/v3/order``.
Angel One: login, ``getRMS``, ``placeOrder``, ``getOrderBook``, ``getLtpData``,
``getCandleData`` and the instrument master JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pyotp

BINANCE_KEY = "fakeBinanceApiKey0000000000000000000000000000001"
BINANCE_SECRET = "fakeBinanceSecret000000000000000000000000000000001"
ANGEL_KEY = "fakeAngelKey01"
ANGEL_CLIENT = "F12345"
ANGEL_PIN = "4321"
ANGEL_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

PRICES = {"BTCUSDT": Decimal("50000.00"), "ETHUSDT": Decimal("3000.00")}
ANGEL_INSTRUMENTS = [
    {
        "token": "3045",
        "symbol": "SBIN-EQ",
        "name": "SBIN",
        "expiry": "",
        "strike": "-1.000000",
        "lotsize": "1",
        "instrumenttype": "",
        "exch_seg": "NSE",
        "tick_size": "5.000000",
    },
    {
        "token": "2885",
        "symbol": "RELIANCE-EQ",
        "name": "RELIANCE",
        "expiry": "",
        "strike": "-1.000000",
        "lotsize": "1",
        "instrumenttype": "",
        "exch_seg": "NSE",
        "tick_size": "10.000000",
    },
]
ANGEL_LTP = {"3045": Decimal("600.50"), "2885": Decimal("2500.00")}


class FakeExchange:
    def __init__(self):
        self.reject_keys = False
        # The keys this fake accepts (tests may swap in their own, e.g. a canary).
        self.binance_key, self.binance_secret = BINANCE_KEY, BINANCE_SECRET
        self.angel_key, self.angel_client, self.angel_pin, self.angel_totp = (
            ANGEL_KEY,
            ANGEL_CLIENT,
            ANGEL_PIN,
            ANGEL_TOTP,
        )
        self.delay = 0.0
        self.requests: list[tuple[str, str]] = []
        self.orders: dict[str, dict] = {}  # binance, by clientOrderId
        self.angel_orders: list[dict] = []
        self.balances = {"BTC": ("0.50000000", "0.00000000"), "USDT": ("10000.00000000", "0.00000000")}
        self.angel_sessions: set[str] = set()
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-exchange", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeExchange:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def expire_angel_sessions(self) -> None:
        self.angel_sessions.clear()

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)


def _handler(fake: FakeExchange):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stall per request

        def log_message(self, format, *args):
            return

        # -- plumbing ---------------------------------------------------------------
        def _reply(self, status: int, body) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            split = urlsplit(self.path)
            fake.requests.append((method, split.path))
            if fake.delay:
                time.sleep(fake.delay)
            try:
                if split.path.startswith("/api/v3/"):
                    self._binance(method, split.path[len("/api/v3/") :], split.query, body)
                elif split.path.startswith(("/rest/", "/OpenAPI_File/")):
                    self._angel(method, split.path, body)
                else:
                    self._reply(404, {"error": "no such path"})
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def do_DELETE(self):
            self._handle("DELETE")

        # -- Binance spot --------------------------------------------------------------
        def _signed_ok(self, query: str, body: str) -> bool:
            if fake.reject_keys or self.headers.get("X-MBX-APIKEY") != fake.binance_key:
                return False
            raw = body or query
            if "&signature=" not in raw:
                return False
            payload, signature = raw.rsplit("&signature=", 1)
            expected = hmac.new(fake.binance_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, signature)

        def _binance(self, method: str, path: str, query: str, body: str) -> None:
            params = dict(parse_qsl(query)) | dict(parse_qsl(body))
            if path == "exchangeInfo":
                return self._reply(200, _exchange_info())
            if path == "klines":
                return self._reply(200, _klines(params))
            if path == "ticker/24hr":
                return self._reply(200, _ticker(params.get("symbol", "BTCUSDT")))
            if path in ("account", "order") and not self._signed_ok(query, body):
                return self._reply(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
            if path == "account":
                balances = [{"asset": a, "free": f, "locked": locked} for a, (f, locked) in fake.balances.items()]
                return self._reply(
                    200,
                    {
                        "accountType": "SPOT",
                        "canTrade": True,
                        "balances": balances,
                        "updateTime": _now_ms(),
                        "permissions": ["SPOT"],
                    },
                )
            if path == "order" and method == "POST":
                return self._binance_place(params)
            if path == "order" and method == "GET":
                order = fake.orders.get(params.get("origClientOrderId", ""))
                if order is None:
                    return self._reply(400, {"code": -2013, "msg": "Order does not exist."})
                return self._reply(200, order)
            return self._reply(404, {"code": -1100, "msg": "Unknown path."})

        def _binance_place(self, params: dict) -> None:
            symbol = params.get("symbol", "")
            if symbol not in PRICES:
                return self._reply(400, {"code": -1121, "msg": "Invalid symbol."})
            cid = params.get("newClientOrderId") or f"x-{uuid.uuid4().hex[:16]}"
            if cid in fake.orders:
                return self._reply(400, {"code": -2010, "msg": "Duplicate order sent."})
            qty = Decimal(params.get("quantity", "0"))
            price = PRICES[symbol]
            order = {
                "symbol": symbol,
                "orderId": fake.next_id(),
                "orderListId": -1,
                "clientOrderId": cid,
                "transactTime": _now_ms(),
                "price": "0.00000000",
                "origQty": str(qty),
                "executedQty": str(qty),
                "cummulativeQuoteQty": str(qty * price),
                "status": "FILLED",
                "timeInForce": "GTC",
                "type": params.get("type", "MARKET"),
                "side": params.get("side", "BUY"),
                "fills": [{"price": str(price), "qty": str(qty), "commission": "0", "commissionAsset": "BNB"}],
                "time": _now_ms(),
                "updateTime": _now_ms(),
            }
            fake.orders[cid] = order
            return self._reply(200, order)

        # -- Angel One SmartAPI ----------------------------------------------------------
        def _angel_fail(self, message: str, code: str) -> None:
            self._reply(200, {"status": False, "message": message, "errorcode": code, "data": None})

        def _angel_ok(self, data) -> None:
            self._reply(200, {"status": True, "message": "SUCCESS", "errorcode": "", "data": data})

        def _angel(self, method: str, path: str, body: str) -> None:
            data = json.loads(body) if body else {}
            if path.startswith("/OpenAPI_File/"):
                return self._reply(200, ANGEL_INSTRUMENTS)
            if path.endswith("/loginByPassword"):
                if fake.reject_keys or self.headers.get("X-PrivateKey") != fake.angel_key:
                    return self._angel_fail("Invalid API Key", "AG8004")
                if data.get("clientcode") != fake.angel_client or data.get("password") != fake.angel_pin:
                    return self._angel_fail("Invalid clientcode or password", "AB1007")
                if not pyotp.TOTP(fake.angel_totp).verify(str(data.get("totp", "")), valid_window=1):
                    return self._angel_fail("Invalid totp", "AB1050")
                token = uuid.uuid4().hex
                fake.angel_sessions.add(token)
                return self._angel_ok({"jwtToken": token, "refreshToken": uuid.uuid4().hex, "feedToken": "feed"})
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in fake.angel_sessions:
                return self._angel_fail("Invalid Token", "AG8001")
            if path.endswith("/getRMS"):
                return self._angel_ok({"net": "100000.00", "availablecash": "95000.00", "utiliseddebits": "5000.00"})
            if path.endswith("/placeOrder"):
                token = data.get("symboltoken")
                if token not in ANGEL_LTP:
                    return self._angel_fail("Invalid symbol token", "AB4008")
                order = {
                    "variety": data.get("variety"),
                    "ordertype": data.get("ordertype"),
                    "producttype": data.get("producttype"),
                    "duration": data.get("duration"),
                    "price": float(data.get("price") or 0),
                    "quantity": data.get("quantity"),
                    "tradingsymbol": data.get("tradingsymbol"),
                    "transactiontype": data.get("transactiontype"),
                    "exchange": data.get("exchange"),
                    "symboltoken": token,
                    "ordertag": data.get("ordertag", ""),
                    "averageprice": float(ANGEL_LTP[token]),
                    "filledshares": data.get("quantity"),
                    "unfilledshares": "0",
                    "orderid": str(fake.next_id()),
                    "status": "complete",
                    "orderstatus": "complete",
                    "text": "",
                }
                fake.angel_orders.append(order)
                return self._angel_ok(
                    {"script": order["tradingsymbol"], "orderid": order["orderid"], "uniqueorderid": uuid.uuid4().hex}
                )
            if path.endswith("/getOrderBook"):
                return self._angel_ok(list(fake.angel_orders) or None)
            if path.endswith("/getLtpData"):
                token = data.get("symboltoken")
                ltp = ANGEL_LTP.get(token)
                if ltp is None:
                    return self._angel_fail("Invalid symbol token", "AB4008")
                return self._angel_ok(
                    {
                        "exchange": data.get("exchange"),
                        "tradingsymbol": data.get("tradingsymbol"),
                        "symboltoken": token,
                        "ltp": float(ltp),
                    }
                )
            if path.endswith("/getCandleData"):
                ltp = float(ANGEL_LTP.get(data.get("symboltoken"), 100))
                candles = [
                    [f"2026-11-20T09:{15 + i:02d}:00+05:30", ltp, ltp + 1, ltp - 1, ltp + 0.5, 1000 + i]
                    for i in range(5)
                ]
                return self._angel_ok(candles)
            return self._reply(404, {"status": False, "message": "no such path", "errorcode": "404"})

    return Handler


def _now_ms() -> int:
    return int(time.time() * 1000)


def _exchange_info() -> dict:
    symbols = []
    for symbol, base in (("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")):
        symbols.append(
            {
                "symbol": symbol,
                "status": "TRADING",
                "baseAsset": base,
                "baseAssetPrecision": 8,
                "quoteAsset": "USDT",
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"],
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "permissions": ["SPOT"],
                "permissionSets": [["SPOT"]],
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00", "stepSize": "0.00001"},
                    {"filterType": "NOTIONAL", "minNotional": "5.00", "maxNotional": "9000000.00"},
                ],
            }
        )
    return {"timezone": "UTC", "serverTime": _now_ms(), "rateLimits": [], "exchangeFilters": [], "symbols": symbols}


def _klines(params: dict) -> list:
    price = float(PRICES.get(params.get("symbol", "BTCUSDT"), Decimal(100)))
    limit = int(params.get("limit") or 5)
    start = (_now_ms() // 60000 - limit) * 60000
    return [
        [
            start + i * 60000,
            f"{price:.2f}",
            f"{price + 10:.2f}",
            f"{price - 10:.2f}",
            f"{price + i:.2f}",
            "1.5",
            start + i * 60000 + 59999,
            "75000",
            10,
            "0.7",
            "35000",
            "0",
        ]
        for i in range(limit)
    ]


def _ticker(symbol: str) -> dict:
    price = PRICES.get(symbol, Decimal(100))
    return {
        "symbol": symbol,
        "lastPrice": str(price),
        "bidPrice": str(price - 1),
        "askPrice": str(price + 1),
        "openPrice": str(price),
        "highPrice": str(price + 10),
        "lowPrice": str(price - 10),
        "volume": "100",
        "quoteVolume": "5000000",
        "openTime": _now_ms() - 86400000,
        "closeTime": _now_ms(),
        "priceChange": "0",
        "priceChangePercent": "0",
        "weightedAvgPrice": str(price),
        "count": 100,
    }
