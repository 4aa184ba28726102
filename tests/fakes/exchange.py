"""A local fake exchange: enough of Binance spot's, Kraken's and Bybit's REST APIs (as
ccxt speaks them) and of Angel One's SmartAPI.

An HTTP server in a thread on a free port. Every exchange test talks to it (never to the
internet). It checks keys for real — Binance requests must carry the right
``X-MBX-APIKEY`` and a valid HMAC-SHA256 signature made with the right secret (Kraken and
Bybit: their own signatures, :mod:`tests.fakes.venues`); Angel One logins need the right
private key, client code, PIN and a current TOTP — and it can be told to reject every key
(``reject_keys``) or answer late (``delay`` seconds).

The crypto venues share one account (:class:`~tests.fakes.ledger.Ledger`): its orders by
client order id (``orders``), every execution (``fills``: the venue's record a test
compares the books with), balances that refuse an order larger than what is held, fees
(``fee_rate``, ``fee_mode``) and partial fills (``plan``, ``fill_next``).

Binance: ``GET /api/v3/exchangeInfo``, ``/api/v3/account``, ``/api/v3/order`` (by
``origClientOrderId`` or ``orderId``; no fee, as on Binance), ``/api/v3/myTrades`` (by
``orderId``, each trade with its commission), ``/api/v3/klines``, ``/api/v3/ticker/24hr``;
``POST /api/v3/order``.
Angel One: login, ``getRMS``, ``placeOrder``, ``getOrderBook`` (today's orders only, as
on Angel One), ``getLtpData``, ``getCandleData`` and the instrument master JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pyotp

from tests.fakes import venues
from tests.fakes.ledger import Ledger, Refused, VenueOrder

BINANCE_KEY = "fakeBinanceApiKey0000000000000000000000000000001"
BINANCE_SECRET = "fakeBinanceSecret000000000000000000000000000000001"
ANGEL_KEY = "fakeAngelKey01"
ANGEL_CLIENT = "F12345"
ANGEL_PIN = "4321"
ANGEL_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

BINANCE_SYMBOLS = {"BTCUSDT": "BTC/USDT", "ETHUSDT": "ETH/USDT", "BNBUSDT": "BNB/USDT"}
BINANCE_STATUS = {"open": "NEW", "closed": "FILLED", "canceled": "CANCELED"}
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
        self.kraken_key, self.kraken_secret = venues.KRAKEN_KEY, venues.KRAKEN_SECRET
        self.bybit_key, self.bybit_secret = venues.BYBIT_KEY, venues.BYBIT_SECRET
        self.angel_key, self.angel_client, self.angel_pin, self.angel_totp = (
            ANGEL_KEY,
            ANGEL_CLIENT,
            ANGEL_PIN,
            ANGEL_TOTP,
        )
        self.delay = 0.0
        self.requests: list[tuple[str, str]] = []
        self.ledger = Ledger()
        self.angel_orders: list[dict] = []
        self.angel_sessions: set[str] = set()
        self.angel_html_errors = False  # placeOrder answers a gateway's HTML page (after placing)
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

    def fill_angel(self, client_order_id: str) -> None:
        """The market reaches a resting Angel One limit order: filled whole, at its price."""
        from credentials.providers.angelone import ordertag

        order = next(o for o in self.angel_orders if o["ordertag"] == ordertag(client_order_id))
        order.update(
            status="complete",
            orderstatus="complete",
            filledshares=order["quantity"],
            unfilledshares="0",
            averageprice=order["price"],
        )

    def next_id(self) -> int:
        return self.ledger.next_id()

    # -- the venue's record ------------------------------------------------------------
    @property
    def orders(self) -> dict[str, VenueOrder]:
        return self.ledger.orders

    @property
    def fills(self):
        return self.ledger.fills

    @property
    def balances(self) -> dict[str, Decimal]:
        return self.ledger.balances

    def set_fees(self, rate: str, mode: str = "received") -> None:
        self.ledger.fee_rate, self.ledger.fee_mode = Decimal(rate), mode

    def set_plan(self, chunks: list[tuple[str, str | None]] | None) -> None:
        """The next orders fill in these chunks (fraction, price or None for the market)."""
        self.ledger.plan = (
            None if chunks is None else [(Decimal(f), None if p is None else Decimal(p)) for f, p in chunks]
        )

    def fill_next(self, client_order_id: str):
        return self.ledger.fill_next(client_order_id)


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

        def _reply_html(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
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
                elif split.path.startswith("/0/"):
                    venues.kraken(self, fake, method, split.path, split.query, body)
                elif split.path.startswith("/v5/"):
                    venues.bybit(self, fake, method, split.path, split.query, body)
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
                return self._reply(200, _klines(fake, params))
            if path == "ticker/24hr":
                return self._reply(200, _ticker(fake, params.get("symbol", "BTCUSDT")))
            if path in ("account", "order", "myTrades") and not self._signed_ok(query, body):
                return self._reply(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
            if path == "account":
                balances = [{"asset": a, "free": f"{v:f}", "locked": "0"} for a, v in fake.balances.items()]
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
            if path == "order" and method == "DELETE":
                order = fake.orders.get(params.get("origClientOrderId", ""))
                order = order or fake.ledger.by_id(params.get("orderId", ""))
                if order is None or order.status != "open":
                    return self._reply(400, {"code": -2011, "msg": "Unknown order sent."})
                fake.ledger.cancel(order.client_id)
                return self._reply(200, _binance_order(order))
            if path == "order" and method == "GET":
                if "origClientOrderId" in params:
                    order = fake.orders.get(params["origClientOrderId"])
                else:
                    order = fake.ledger.by_id(params.get("orderId", ""))
                if order is None or BINANCE_SYMBOLS.get(params.get("symbol")) != order.symbol:
                    return self._reply(400, {"code": -2013, "msg": "Order does not exist."})
                return self._reply(200, _binance_order(order))
            if path == "myTrades":
                symbol = BINANCE_SYMBOLS.get(params.get("symbol"))
                rows = [
                    _binance_trade(f)
                    for f in list(fake.fills)
                    if f.symbol == symbol and ("orderId" not in params or f.order_id == params["orderId"])
                ]
                return self._reply(200, rows)
            return self._reply(404, {"code": -1100, "msg": "Unknown path."})

        def _binance_place(self, params: dict) -> None:
            symbol = BINANCE_SYMBOLS.get(params.get("symbol", ""))
            if symbol is None:
                return self._reply(400, {"code": -1121, "msg": "Invalid symbol."})
            cid = params.get("newClientOrderId") or f"x-{uuid.uuid4().hex[:16]}"
            try:
                order = fake.ledger.place(
                    venue="binance",
                    symbol=symbol,
                    side=params.get("side", "BUY").lower(),
                    amount=Decimal(params.get("quantity", "0")),
                    client_id=cid,
                    type=params.get("type", "MARKET").lower(),
                    limit=Decimal(params["price"]) if params.get("price") else None,
                )
            except Refused as exc:
                code = {"duplicate": -2010, "funds": -2010, "amount": -1013}.get(exc.code, -1121)
                return self._reply(400, {"code": code, "msg": str(exc)})
            body = _binance_order(order)
            body["transactTime"] = order.created_ms
            body["fills"] = [
                {
                    "price": f"{f.price:f}",
                    "qty": f"{f.quantity:f}",
                    "commission": f"{f.fee:f}",
                    "commissionAsset": f.fee_asset,
                    "tradeId": int(f.trade_id),
                }
                for f in order.fills
            ]
            return self._reply(200, body)

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
                ltp = Decimal(ANGEL_LTP[token])
                limit = Decimal(str(data.get("price") or 0))
                buy = data.get("transactiontype") == "BUY"
                # A limit order the market has not reached rests (open, nothing filled); a market
                # or marketable one fills at once, at the last price.
                rests = data.get("ordertype") == "LIMIT" and (limit < ltp if buy else limit > ltp)
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
                    "averageprice": 0.0 if rests else float(ltp),
                    "filledshares": "0" if rests else data.get("quantity"),
                    "unfilledshares": data.get("quantity") if rests else "0",
                    "orderid": str(fake.next_id()),
                    "status": "open" if rests else "complete",
                    "orderstatus": "open" if rests else "complete",
                    "text": "",
                    "updatetime": (datetime.now(UTC) + IST).strftime("%d-%b-%Y %H:%M:%S"),
                }
                fake.angel_orders.append(order)
                if fake.angel_html_errors:  # the order is placed, the answer lost behind a gateway
                    return self._reply_html(200, "<html><body>Service temporarily unavailable</body></html>")
                return self._angel_ok(
                    {"script": order["tradingsymbol"], "orderid": order["orderid"], "uniqueorderid": uuid.uuid4().hex}
                )
            if path.endswith("/cancelOrder"):
                order = next((o for o in fake.angel_orders if o["orderid"] == data.get("orderid")), None)
                if order is None or data.get("variety") != order["variety"]:
                    return self._angel_fail("Invalid orderid or variety", "AB4017")
                if order["status"] != "open":
                    return self._angel_fail(f"Order is {order['status']}: it cannot be cancelled", "AB4008")
                order["status"] = order["orderstatus"] = "cancelled"
                return self._angel_ok({"orderid": order["orderid"], "uniqueorderid": uuid.uuid4().hex})
            if path.endswith("/getOrderBook"):
                today = (datetime.now(UTC) + IST).strftime("%d-%b-%Y")
                book = [o for o in fake.angel_orders if o["updatetime"].startswith(today)]
                return self._angel_ok(book or None)
            if path.endswith("/estimateCharges"):
                rows = data.get("orders") or []
                charges = [
                    {
                        "total_charges": float(_angel_charges(Decimal(o["quantity"]) * Decimal(o["price"]))),
                        "trade_value": float(Decimal(o["quantity"]) * Decimal(o["price"])),
                    }
                    for o in rows
                ]
                total = sum((Decimal(str(c["total_charges"])) for c in charges), Decimal(0))
                value = sum((Decimal(str(c["trade_value"])) for c in charges), Decimal(0))
                return self._angel_ok(
                    {"summary": {"total_charges": float(total), "trade_value": float(value)}, "charges": charges}
                )
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


IST = timedelta(hours=5, minutes=30)


def _angel_charges(trade_value: Decimal) -> Decimal:
    """Delivery: no brokerage; STT 0.1 %, exchange 0.00297 %, stamp 0.015 %, GST 18 % of exchange."""
    exchange = trade_value * Decimal("0.0000297")
    total = trade_value * Decimal("0.001") + exchange + trade_value * Decimal("0.00015") + exchange * Decimal("0.18")
    return total.quantize(Decimal("0.01"))


def _binance_id(symbol: str) -> str:
    return symbol.replace("/", "")


def _binance_order(order: VenueOrder) -> dict:
    status = BINANCE_STATUS[order.status]
    if status == "NEW" and order.fills:
        status = "PARTIALLY_FILLED"
    return {
        "symbol": _binance_id(order.symbol),
        "orderId": int(order.id),
        "orderListId": -1,
        "clientOrderId": order.client_id,
        "price": f"{order.limit:f}" if order.limit is not None else "0.00000000",
        "origQty": f"{order.amount:f}",
        "executedQty": f"{order.filled:f}",
        "cummulativeQuoteQty": f"{order.cost:f}",
        "status": status,
        "timeInForce": "GTC",
        "type": order.type.upper(),
        "side": order.side.upper(),
        "time": order.created_ms,
        "updateTime": order.updated_ms,
        "isWorking": True,
        "origQuoteOrderQty": "0.00000000",
    }


def _binance_trade(fill) -> dict:
    return {
        "symbol": _binance_id(fill.symbol),
        "id": int(fill.trade_id),
        "orderId": int(fill.order_id),
        "orderListId": -1,
        "price": f"{fill.price:f}",
        "qty": f"{fill.quantity:f}",
        "quoteQty": f"{fill.quantity * fill.price:f}",
        "commission": f"{fill.fee:f}",
        "commissionAsset": fill.fee_asset,
        "time": fill.ts_ms,
        "isBuyer": fill.side == "buy",
        "isMaker": False,
        "isBestMatch": True,
    }


def _exchange_info() -> dict:
    symbols = []
    for symbol, unified in BINANCE_SYMBOLS.items():
        base = unified.split("/")[0]
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


def price_of(fake: FakeExchange, symbol: str) -> Decimal:
    """The venue's price of a unified symbol (100 for one it does not list)."""
    return fake.ledger.prices.get(symbol, Decimal(100))


_INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


def _klines(fake: FakeExchange, params: dict) -> list:
    """The last ``limit`` minutes, flat at the venue's price; with ``startTime`` (a history
    download) candles of ``interval`` from then on, up to ``endTime`` and never past now, with
    a price that moves by the candle (the candle's index) and the minutes in ``fake.missing``
    (epoch ms) left out, as a venue with holes in its history serves them."""
    price = float(price_of(fake, BINANCE_SYMBOLS.get(params.get("symbol", "BTCUSDT"), "")))
    limit = int(params.get("limit") or 5)
    step = _INTERVAL_MS.get(params.get("interval", "1m"), 60_000)
    if params.get("startTime"):
        fake.kline_pages = getattr(fake, "kline_pages", 0) + 1
        begin = -(-int(params["startTime"]) // step) * step
        end = min(int(params.get("endTime") or 2**62), _now_ms() - step)
        times = range(begin, end + 1, step)[: min(limit, 1000)]
        missing = getattr(fake, "missing", set())
        return [_kline(t, price + (t // step) % 7, step) for t in times if t not in missing]
    start = (_now_ms() // 60000 - limit) * 60000
    return [_kline(start + i * 60000, price, 60000, swing=10) for i in range(limit)]


def _kline(t: int, price: float, step: int, swing: float = 1) -> list:
    return [
        t,
        f"{price:.2f}",
        f"{price + swing:.2f}",
        f"{price - swing:.2f}",
        f"{price:.2f}",  # flat: the engine's price is the venue's fill price
        "1.5",
        t + step - 1,
        "75000",
        10,
        "0.7",
        "35000",
        "0",
    ]


def _ticker(fake: FakeExchange, symbol: str) -> dict:
    price = price_of(fake, BINANCE_SYMBOLS.get(symbol, ""))
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
