"""Kraken and Bybit shapes of the fake exchange, as ccxt speaks to them (read in ccxt's
``kraken.py`` and ``bybit.py``), on the shared :class:`~tests.fakes.ledger.Ledger`.

Kraken (``/0/public/*`` GET, ``/0/private/*`` POST form-encoded, signed with ``API-Key`` and
``API-Sign`` = base64 HMAC-SHA512 over path + SHA-256(nonce + body) with the base64 secret):
``AssetPairs``, ``Assets``, ``Ticker``, ``OHLC``; ``BalanceEx``, ``AddOrder`` (our id as
``cl_ord_id``; answers only a txid, like Kraken), ``OpenOrders`` and ``ClosedOrders`` (filtered
by ``cl_ord_id``, cumulative ``vol_exec``, average ``price``, ``fee`` with ``fciq``/``fcib``),
``QueryOrders`` (by ``txid``/``userref`` only: an empty txid with our id as ``userref`` finds
nothing, as on Kraken).

Bybit v5 (signed with ``X-BAPI-*`` headers, HMAC-SHA256 over timestamp + key + recv window +
query or body): instruments, tickers, klines; ``user/query-api``, ``account/info`` (a unified
account), ``asset/coin/query-info``, ``account/wallet-balance``, ``order/create`` (our id as
``orderLinkId``; answers only ids), ``order/realtime`` (open orders) and ``order/history``
(closed and canceled), both filtered by ``orderLinkId``, with cumulative ``cumExecQty``,
``cumExecValue``, ``avgPrice`` and ``cumFeeDetail``. ``order/realtime`` without a filter
refuses nothing, but ccxt's ``fetch_order`` on a unified account refuses without
``acknowledged``, as on Bybit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from decimal import Decimal
from urllib.parse import parse_qsl

from tests.fakes.ledger import Refused, VenueOrder, now_ms

KRAKEN_KEY = "fakeKrakenApiKey000000000000000000000000000000000000001"
KRAKEN_SECRET = base64.b64encode(b"fake-kraken-secret-" + b"0" * 45).decode()
BYBIT_KEY = "fakeBybitKey0001"
BYBIT_SECRET = "fakeBybitSecret000000000000000000001"

KRAKEN_PAIRS = {"XBTUSDT": ("XXBT", "USDT", "BTC/USDT"), "ETHUSDT": ("XETH", "USDT", "ETH/USDT")}
KRAKEN_ASSETS = {"XXBT": "XBT", "XETH": "ETH", "USDT": "USDT"}
BYBIT_SYMBOLS = {"BTCUSDT": "BTC/USDT", "ETHUSDT": "ETH/USDT", "BNBUSDT": "BNB/USDT"}


def _f(value: Decimal) -> str:
    return f"{value:f}"


# ---------------------------------------------------------------------------
# Kraken
# ---------------------------------------------------------------------------
def _kraken_signed(handler, fake, path: str, body: str) -> bool:
    if fake.reject_keys or handler.headers.get("API-Key") != fake.kraken_key:
        return False
    nonce = dict(parse_qsl(body)).get("nonce", "")
    digest = hashlib.sha256((nonce + body).encode()).digest()
    expected = hmac.new(base64.b64decode(fake.kraken_secret), path.encode() + digest, hashlib.sha512).digest()
    return hmac.compare_digest(base64.b64encode(expected).decode(), handler.headers.get("API-Sign", ""))


def _kraken_order(order: VenueOrder) -> dict:
    pair = order.symbol.replace("/", "").replace("BTC", "XBT")
    fee, asset = order.fee_total()
    base = order.symbol.split("/")[0]
    flags = "fcib" if asset == base else "fciq"
    return {
        "refid": None,
        "userref": None,
        "cl_ord_id": order.client_id,
        "status": order.status,
        "opentm": order.created_ms / 1000,
        "closetm": order.updated_ms / 1000 if order.status != "open" else 0,
        "starttm": 0,
        "expiretm": 0,
        "descr": {
            "pair": pair,
            "type": order.side,
            "ordertype": order.type,
            "price": "0",
            "price2": "0",
            "leverage": "none",
            "order": f"{order.side} {order.amount:.8f} {pair} @ {order.type}",
            "close": "",
        },
        "vol": f"{order.amount:.8f}",
        "vol_exec": f"{order.filled:.8f}",
        "cost": _f(order.cost),
        "fee": _f(fee),
        "price": _f(order.average or Decimal(0)),
        "stopprice": "0.00000",
        "limitprice": "0.00000",
        "misc": "",
        "oflags": flags,
    }


def kraken(handler, fake, method: str, path: str, query: str, body: str) -> None:
    params = dict(parse_qsl(query)) | dict(parse_qsl(body))

    def ok(result):
        handler._reply(200, {"error": [], "result": result})

    def fail(*errors):
        handler._reply(200, {"error": list(errors)})

    name = path.rsplit("/", 1)[-1]
    if path.startswith("/0/public/"):
        if name == "AssetPairs":
            return ok({pair: _kraken_pair(pair, base, quote) for pair, (base, quote, _) in KRAKEN_PAIRS.items()})
        if name == "Assets":
            return ok(
                {
                    asset: {
                        "aclass": "currency",
                        "altname": alt,
                        "decimals": 10,
                        "display_decimals": 5,
                        "status": "enabled",
                    }
                    for asset, alt in KRAKEN_ASSETS.items()
                }
            )
        if name == "Ticker":
            pair = params.get("pair", "XBTUSDT")
            price = _f(fake.ledger.prices.get(KRAKEN_PAIRS.get(pair, ("", "", ""))[2], Decimal(100)))
            return ok(
                {
                    pair: {
                        "a": [price, "1", "1.000"],
                        "b": [price, "1", "1.000"],
                        "c": [price, "0.1"],
                        "v": ["10", "100"],
                        "p": [price, price],
                        "t": [10, 100],
                        "l": [price, price],
                        "h": [price, price],
                        "o": price,
                    }
                }
            )
        if name == "OHLC":
            pair = params.get("pair", "XBTUSDT")
            price = _f(fake.ledger.prices.get(KRAKEN_PAIRS.get(pair, ("", "", ""))[2], Decimal(100)))
            start = int(time.time()) // 60 * 60 - 300
            rows = [[start + 60 * i, price, price, price, price, price, "1.0", 3] for i in range(5)]
            return ok({pair: rows, "last": start})
        return fail("EGeneral:Unknown method")
    if not _kraken_signed(handler, fake, path, body):
        return fail("EAPI:Invalid key")
    if name == "BalanceEx":
        return ok(
            {("XXBT" if a == "BTC" else a): {"balance": _f(v), "hold_trade": "0"} for a, v in fake.balances.items()}
        )
    if name == "AddOrder":
        pair = KRAKEN_PAIRS.get(params.get("pair", ""))
        if pair is None:
            return fail("EQuery:Unknown asset pair")
        try:
            order = fake.ledger.place(
                venue="kraken",
                symbol=pair[2],
                side=params.get("type", "buy"),
                amount=Decimal(params.get("volume", "0")),
                client_id=params.get("cl_ord_id") or f"k-{now_ms()}",
                type=params.get("ordertype", "market"),
            )
        except Refused as exc:
            return fail(
                {"funds": "EOrder:Insufficient funds", "duplicate": "EOrder:Duplicate order"}.get(
                    exc.code, "EGeneral:Invalid arguments"
                )
            )
        return ok({"descr": {"order": _kraken_order(order)["descr"]["order"]}, "txid": [order.id]})
    if name in ("OpenOrders", "ClosedOrders"):
        wanted = params.get("cl_ord_id")
        start = float(params.get("start") or 0)
        is_open = name == "OpenOrders"
        found = {
            o.id: _kraken_order(o)
            for o in list(fake.orders.values())
            if o.venue == "kraken"
            and (o.status == "open") == is_open
            and (wanted is None or o.client_id == wanted)
            and o.created_ms / 1000 >= start
        }
        return ok({"open": found} if is_open else {"closed": found, "count": len(found)})
    if name == "QueryOrders":
        ids = [i for i in params.get("txid", "").split(",") if i]
        found = {o.id: _kraken_order(o) for o in list(fake.orders.values()) if o.venue == "kraken" and o.id in ids}
        return ok(found)  # by userref (an integer tag we never set) nothing is found
    return fail("EGeneral:Unknown method")


def _kraken_pair(pair: str, base: str, quote: str) -> dict:
    return {
        "altname": pair,
        "wsname": f"{KRAKEN_ASSETS[base]}/{quote}",
        "aclass_base": "currency",
        "base": base,
        "aclass_quote": "currency",
        "quote": quote,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": 1,
        "lot_decimals": 8,
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        "fees": [[0, 0.26]],
        "fees_maker": [[0, 0.16]],
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": "0.00005",
        "costmin": "0.5",
        "tick_size": "0.1",
        "status": "online",
    }


# ---------------------------------------------------------------------------
# Bybit
# ---------------------------------------------------------------------------
def _bybit_signed(handler, fake, method: str, query: str, body: str) -> bool:
    if fake.reject_keys or handler.headers.get("X-BAPI-API-KEY") != fake.bybit_key:
        return False
    auth = (
        handler.headers.get("X-BAPI-TIMESTAMP", "")
        + fake.bybit_key
        + handler.headers.get("X-BAPI-RECV-WINDOW", "")
        + (body if method == "POST" else query)
    )
    expected = hmac.new(fake.bybit_secret.encode(), auth.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, handler.headers.get("X-BAPI-SIGN", ""))


def _bybit_order(order: VenueOrder) -> dict:
    fee, asset = order.fee_total()
    status = {"open": "PartiallyFilled" if order.fills else "New", "closed": "Filled"}.get(order.status)
    if order.status == "canceled":
        status = "PartiallyFilledCanceled" if order.fills else "Cancelled"
    return {
        "orderId": order.id,
        "orderLinkId": order.client_id,
        "blockTradeId": "",
        "symbol": order.symbol.replace("/", ""),
        "price": "0",
        "qty": _f(order.amount),
        "side": order.side.capitalize(),
        "isLeverage": "0",
        "positionIdx": 0,
        "orderStatus": status,
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": _f(order.average or Decimal(0)),
        "leavesQty": _f(order.amount - order.filled),
        "leavesValue": "0",
        "cumExecQty": _f(order.filled),
        "cumExecValue": _f(order.cost),
        "cumExecFee": _f(fee),
        "cumFeeDetail": {asset: _f(fee)} if order.fills and asset else {},
        "timeInForce": "IOC",
        "orderType": order.type.capitalize(),
        "marketUnit": "baseCoin",
        "stopOrderType": "",
        "orderIv": "",
        "triggerPrice": "0",
        "takeProfit": "0",
        "stopLoss": "0",
        "triggerBy": "",
        "reduceOnly": False,
        "closeOnTrigger": False,
        "createdTime": str(order.created_ms),
        "updatedTime": str(order.updated_ms),
    }


def bybit(handler, fake, method: str, path: str, query: str, body: str) -> None:
    params = dict(parse_qsl(query)) | (json.loads(body) if body else {})

    def ok(result):
        handler._reply(200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms()})

    def fail(code: int, message: str):
        handler._reply(200, {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": now_ms()})

    def price(symbol_id: str) -> str:
        return _f(fake.ledger.prices.get(BYBIT_SYMBOLS.get(symbol_id, ""), Decimal(100)))

    if path.startswith("/v5/market/"):
        name = path.rsplit("/", 1)[-1]
        if name == "instruments-info":
            rows = [
                {
                    "symbol": sid,
                    "baseCoin": unified.split("/")[0],
                    "quoteCoin": "USDT",
                    "innovation": "0",
                    "status": "Trading",
                    "marginTrading": "none",
                    "lotSizeFilter": {
                        "basePrecision": "0.000001",
                        "quotePrecision": "0.00000001",
                        "minOrderQty": "0.000048",
                        "maxOrderQty": "71.73956243",
                        "minOrderAmt": "1",
                        "maxOrderAmt": "2000000",
                    },
                    "priceFilter": {"tickSize": "0.01"},
                }
                for sid, unified in BYBIT_SYMBOLS.items()
            ]
            return ok({"category": "spot", "list": rows, "nextPageCursor": ""})
        if name == "tickers":
            sid = params.get("symbol", "BTCUSDT")
            p = price(sid)
            return ok(
                {
                    "category": "spot",
                    "list": [
                        {
                            "symbol": sid,
                            "lastPrice": p,
                            "bid1Price": p,
                            "ask1Price": p,
                            "highPrice24h": p,
                            "lowPrice24h": p,
                            "prevPrice24h": p,
                            "volume24h": "10",
                            "turnover24h": "100",
                        }
                    ],
                }
            )
        if name == "kline":
            sid = params.get("symbol", "BTCUSDT")
            p = price(sid)
            start = now_ms() // 60000 * 60000 - 5 * 60000
            rows = [[str(start + i * 60000), p, p, p, p, "1", "1"] for i in range(4, -1, -1)]
            return ok({"category": "spot", "symbol": sid, "list": rows})
        return fail(10001, "unknown market path")
    if path == "/v5/market/time" or path == "/v5/market/time/":
        return ok({"timeSecond": str(int(time.time())), "timeNano": str(time.time_ns())})
    if not _bybit_signed(handler, fake, method, query, body):
        return fail(10003, "API key is invalid.")
    if path == "/v5/user/query-api":
        return ok({"id": "1", "apiKey": fake.bybit_key, "readOnly": 0, "unified": 0, "uta": 1, "type": 1})
    if path == "/v5/account/info":
        return ok({"marginMode": "REGULAR_MARGIN", "unifiedMarginStatus": 4, "updatedTime": str(now_ms())})
    if path == "/v5/asset/coin/query-info":
        return ok(
            {
                "rows": [
                    {"name": c, "coin": c, "remainAmount": "1000", "chains": []} for c in ("BTC", "ETH", "USDT", "BNB")
                ]
            }
        )
    if path == "/v5/account/wallet-balance":
        coins = [
            {
                "coin": a,
                "walletBalance": _f(v),
                "equity": _f(v),
                "locked": "0",
                "free": _f(v),
                "availableToWithdraw": _f(v),
                "usdValue": "0",
                "borrowAmount": "0",
            }
            for a, v in fake.balances.items()
        ]
        return ok({"list": [{"accountType": "UNIFIED", "coin": coins, "totalEquity": "0"}]})
    if path == "/v5/order/create":
        symbol = BYBIT_SYMBOLS.get(params.get("symbol", ""))
        if symbol is None:
            return fail(170121, "Invalid symbol.")
        try:
            order = fake.ledger.place(
                venue="bybit",
                symbol=symbol,
                side=str(params.get("side", "Buy")).lower(),
                amount=Decimal(str(params.get("qty", "0"))),
                client_id=params.get("orderLinkId") or f"y-{now_ms()}",
                type=str(params.get("orderType", "Market")).lower(),
            )
        except Refused as exc:
            code, message = {
                "funds": (170131, "Insufficient balance."),
                "duplicate": (170141, "Duplicate clientOrderId."),
            }.get(exc.code, (170130, "Data sent for paramter '%s' is not valid."))
            return fail(code, message)
        return ok({"orderId": order.id, "orderLinkId": order.client_id})
    if path in ("/v5/order/realtime", "/v5/order/history"):
        is_open = path.endswith("realtime")
        wanted, sid = params.get("orderLinkId"), params.get("symbol")
        rows = [
            _bybit_order(o)
            for o in reversed(list(fake.orders.values()))
            if o.venue == "bybit"
            and (o.status == "open") == is_open
            and (wanted is None or o.client_id == wanted)
            and (sid is None or o.symbol.replace("/", "") == sid)
        ]
        return ok({"category": "spot", "list": rows, "nextPageCursor": ""})
    return fail(10001, f"unknown path {path}")
