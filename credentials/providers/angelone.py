"""``angelone``: a thin client of Angel One's SmartAPI over httpx.

Not the ``smartapi-python`` package: it fails to import here and calls the internet at
import time. Only what the engine needs is spoken:

* login — ``POST /rest/auth/angelbroking/user/v1/loginByPassword`` with the client code,
  the PIN (``password``) and a TOTP computed from ``totp_secret`` (pyotp); the API key
  goes in ``X-PrivateKey``. The session's JWT is kept by the client and renewed by
  logging in again once when the venue says it expired;
* funds ``GET …/user/v1/getRMS``; order book ``GET …/order/v1/getOrderBook``; place order
  ``POST …/order/v1/placeOrder`` (our client order id travels as ``ordertag``); cancel a
  resting order ``POST …/order/v1/cancelOrder`` (``variety``, ``orderid``); last price
  ``POST …/order/v1/getLtpData``; candles ``POST …/historical/v1/getCandleData``; charges
  ``POST …/brokerage/v1/estimateCharges`` (brokerage and taxes of a filled quantity: the
  order book carries none, so they are what a fill's fee is);
* only a ``status: false`` answer to ``placeOrder`` is a refusal. Anything else (a gateway's
  HTML page, a 5xx, a timeout) may hide a placed order: its outcome is unknown, and the
  engine looks it up by its tag;
* the order book lists the current (IST) day's orders only: an order sent before today that
  is not in it cannot be resolved here, and the lookup says so (``VenueNotSupported``)
  instead of answering "never placed";
* markets — the public instrument master (JSON list), cached per client.

Symbols are ``EXCHANGE:TRADINGSYMBOL`` (``NSE:SBIN-EQ``). The base URL and the instrument
list URL come from ``VENUE_URLS["angelone"]`` / ``VENUE_URLS["angelone_instruments"]``.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pyotp

from credentials.exceptions import (
    VenueAuthError,
    VenueError,
    VenueNotSupported,
    VenueOrderRejected,
    VenueTimeout,
    VenueUnreachable,
)
from credentials.providers.base import (
    FILLS_CUMULATIVE,
    LOOKUP_ORDER_BOOK,
    Balance,
    Candle,
    Capabilities,
    KeySet,
    Market,
    OrderInfo,
    Provider,
    Ticker,
    VenueClient,
    dec,
    venue_timeout,
    venue_url,
)

BASE_URL = "https://apiconnect.angelone.in"
INSTRUMENTS_URL = "https://margincalculator.angelbroking.com/OpenAPI_File/files/OpenAPIScripMaster.json"
INSTRUMENTS_PATH = "/OpenAPI_File/files/OpenAPIScripMaster.json"

LOGIN = "/rest/auth/angelbroking/user/v1/loginByPassword"
RMS = "/rest/secure/angelbroking/user/v1/getRMS"
ORDER_BOOK = "/rest/secure/angelbroking/order/v1/getOrderBook"
PLACE_ORDER = "/rest/secure/angelbroking/order/v1/placeOrder"
CANCEL_ORDER = "/rest/secure/angelbroking/order/v1/cancelOrder"
LTP = "/rest/secure/angelbroking/order/v1/getLtpData"
CANDLES = "/rest/secure/angelbroking/historical/v1/getCandleData"
CHARGES = "/rest/secure/angelbroking/brokerage/v1/estimateCharges"

# Error codes meaning "log in again" (token invalid or expired).
SESSION_CODES = {"AG8001", "AG8002", "AG8003"}
INTERVALS = {
    "1m": "ONE_MINUTE",
    "3m": "THREE_MINUTE",
    "5m": "FIVE_MINUTE",
    "10m": "TEN_MINUTE",
    "15m": "FIFTEEN_MINUTE",
    "30m": "THIRTY_MINUTE",
    "1h": "ONE_HOUR",
    "1d": "ONE_DAY",
}
STATUSES = {"complete": "closed", "rejected": "rejected", "cancelled": "canceled", "canceled": "canceled"}
IST = timedelta(hours=5, minutes=30)
ORDERTAG_MAX = 20


class _VenueSaysNo(VenueError):
    """Angel One answered, in JSON, ``status: false``: the request was refused."""


def ordertag(client_order_id: str) -> str:
    """Angel One keeps at most 20 characters of a tag: longer ids map to a stable digest."""
    if len(client_order_id) <= ORDERTAG_MAX:
        return client_order_id
    return hashlib.sha256(client_order_id.encode()).hexdigest()[:ORDERTAG_MAX]


class AngelOneClient(VenueClient):
    provider_id = "angelone"

    def __init__(self, keyset: KeySet | None, *, timeout: float):
        self._keyset = keyset
        base = venue_url("angelone")
        self._instruments_url = venue_url("angelone_instruments") or (
            base.rstrip("/") + INSTRUMENTS_PATH if base else INSTRUMENTS_URL
        )
        self._http = httpx.Client(
            base_url=base or BASE_URL,
            timeout=httpx.Timeout(timeout),
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "X-UserType": "USER",
                "X-SourceID": "WEB",
                "X-ClientLocalIP": "127.0.0.1",
                "X-ClientPublicIP": "127.0.0.1",
                "X-MACAddress": "00:00:00:00:00:00",
            },
        )
        self._jwt = ""
        self._lock = threading.Lock()
        self._instruments: dict[str, dict] | None = None

    # -- transport -------------------------------------------------------------------
    def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise VenueTimeout("Angel One did not answer in time.") from exc
        except httpx.TransportError as exc:
            raise VenueUnreachable(f"Angel One is unreachable ({exc.__class__.__name__}).") from exc

    def _json(self, response: httpx.Response):
        if response.status_code in (401, 403):
            raise VenueAuthError(f"Angel One rejected the keys (HTTP {response.status_code}).")
        if response.status_code >= 500:
            raise VenueUnreachable(f"Angel One answered HTTP {response.status_code}; try again later.")
        try:
            return response.json()
        except ValueError as exc:
            raise VenueError(f"Angel One answered something that is not JSON (HTTP {response.status_code}).") from exc

    def _says(self, body: dict) -> str:
        text = f"{body.get('message') or 'error'} ({body.get('errorcode') or 'no code'})"
        return (self._keyset.redact(text) if self._keyset else text)[:200]

    def _login(self) -> None:
        keys = self._keyset
        if keys is None or not (keys.api_key and keys.client_code and keys.password and keys.totp_secret):
            raise VenueAuthError("Angel One needs api_key, client_code, password and totp_secret.")
        try:
            totp = pyotp.TOTP(keys.totp_secret).now()
        except (ValueError, TypeError) as exc:
            raise VenueAuthError("The Angel One TOTP secret is not valid base32.") from exc
        body = self._json(
            self._send(
                "POST",
                LOGIN,
                json={"clientcode": keys.client_code, "password": keys.password, "totp": totp},
                headers={"X-PrivateKey": keys.api_key},
            )
        )
        token = (body.get("data") or {}).get("jwtToken") if body.get("status") else ""
        if not token:
            raise VenueAuthError(f"Angel One rejected the keys: {self._says(body)}")
        self._jwt = token

    def _api(self, method: str, path: str, payload: dict | None = None):
        """An authenticated call; logs in first, and once more if the session expired."""
        with self._lock:
            for attempt in (1, 2):
                if not self._jwt:
                    self._login()
                body = self._json(
                    self._send(
                        method,
                        path,
                        json=payload,
                        headers={"Authorization": f"Bearer {self._jwt}", "X-PrivateKey": self._keyset.api_key},
                    )
                )
                if body.get("status") or body.get("errorcode") not in SESSION_CODES or attempt == 2:
                    break
                self._jwt = ""
        if not body.get("status"):
            if body.get("errorcode") in SESSION_CODES:
                raise VenueAuthError(f"Angel One rejected the session: {self._says(body)}")
            raise _VenueSaysNo(f"Angel One error: {self._says(body)}")
        return body.get("data")

    # -- instruments -----------------------------------------------------------------
    def _instrument_map(self) -> dict[str, dict]:
        if self._instruments is None:
            rows = self._json(self._send("GET", self._instruments_url))
            self._instruments = {f"{r['exch_seg']}:{r['symbol']}": r for r in rows if r.get("symbol")}
        return self._instruments

    def _instrument(self, symbol: str) -> dict:
        row = self._instrument_map().get(symbol)
        if row is None:
            raise VenueOrderRejected(f"Angel One has no instrument {symbol!r} (use EXCHANGE:SYMBOL, e.g. NSE:SBIN-EQ).")
        return row

    # -- interface -------------------------------------------------------------------
    def check_keys(self) -> None:
        self._api("GET", RMS)

    def fetch_balance(self) -> dict[str, Balance]:
        data = self._api("GET", RMS) or {}
        used = dec(data.get("utiliseddebits")) or Decimal(0)
        free = dec(data.get("availablecash")) or Decimal(0)
        return {"INR": Balance(free=free, used=used, total=dec(data.get("net")) or free + used)}

    def fetch_markets(self) -> list[Market]:
        return [
            Market(
                symbol=symbol,
                base=row["symbol"],
                quote="INR",
                min_amount=dec(row.get("lotsize")),
                amount_step=dec(row.get("lotsize")),
                price_step=(dec(row.get("tick_size")) or Decimal(0)) / 100 or None,  # tick_size is in paise
                venue_id=str(row.get("token", "")),
            )
            for symbol, row in self._instrument_map().items()
        ]

    def create_order(self, *, symbol, side, type, amount, price=None, client_order_id) -> OrderInfo:
        row = self._instrument(symbol)
        payload = {
            "variety": "NORMAL",
            "tradingsymbol": row["symbol"],
            "symboltoken": str(row["token"]),
            "transactiontype": side.upper(),
            "exchange": row["exch_seg"],
            "ordertype": "LIMIT" if type == "limit" else "MARKET",
            "producttype": "DELIVERY",
            "duration": "DAY",
            "price": str(price or 0),
            "quantity": str(int(amount)),
            "ordertag": ordertag(client_order_id),
        }
        try:
            data = self._api("POST", PLACE_ORDER, payload) or {}
        except _VenueSaysNo as exc:
            raise VenueOrderRejected(str(exc)) from exc
        found = self.fetch_order_by_client_id(symbol=symbol, client_order_id=client_order_id)
        if found is not None:
            return found
        return OrderInfo(
            id=str(data.get("orderid", "")),
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            type=type,
            status="open",
            amount=Decimal(int(amount)),
            filled=Decimal(0),
            price=dec(price),
        )

    def cancel_order(self, *, symbol, venue_order_id, client_order_id) -> None:
        """Cancel a resting order (a limit order the market has not reached). Angel One knows
        our client id only as the order's tag: an order whose id we never learned (its answer
        lost) is found by it in today's order book first."""
        if not venue_order_id:
            found = self.fetch_order_by_client_id(symbol=symbol, client_order_id=client_order_id)
            if found is None:
                raise VenueOrderRejected(f"Angel One has no order {client_order_id} in today's order book.")
            venue_order_id = found.id
        try:
            self._api("POST", CANCEL_ORDER, {"variety": "NORMAL", "orderid": venue_order_id})
        except _VenueSaysNo as exc:  # filled or canceled meanwhile: the caller reads it back
            raise VenueOrderRejected(str(exc)) from exc

    def fetch_order_by_client_id(self, *, symbol, client_order_id, since_ms=None) -> OrderInfo | None:
        tag = ordertag(client_order_id)
        for row in self._api("GET", ORDER_BOOK) or []:
            if row.get("ordertag") == tag:
                status = STATUSES.get(str(row.get("status", "")).lower(), "open")
                filled = dec(row.get("filledshares")) or Decimal(0)
                average = dec(row.get("averageprice"))
                return OrderInfo(
                    id=str(row.get("orderid", "")),
                    client_order_id=client_order_id,
                    symbol=f"{row.get('exchange')}:{row.get('tradingsymbol')}",
                    side=str(row.get("transactiontype", "")).lower(),
                    type=str(row.get("ordertype", "")).lower(),
                    status=status,
                    amount=dec(row.get("quantity")) or Decimal(0),
                    filled=filled,
                    price=dec(row.get("price")),
                    average=average,
                    fee=self._charges(row, filled, average) if filled and average else Decimal(0),
                    fee_currency="INR",
                    raw=row,
                )
        if since_ms is not None and since_ms < _ist_day_start_ms():
            raise VenueNotSupported(
                f"Angel One's order book lists today's orders only; order {client_order_id} was sent on "
                f"{datetime.fromtimestamp(since_ms / 1000, tz=UTC) + IST:%Y-%m-%d} (IST) and cannot be looked up: "
                "check it in Angel One's order history and settle it by hand"
            )
        return None

    def _charges(self, row: dict, filled: Decimal, average: Decimal) -> Decimal:
        """Brokerage and taxes of the filled quantity (cumulative, in INR), as Angel One computes them."""
        order = {
            "product_type": row.get("producttype") or "DELIVERY",
            "transaction_type": str(row.get("transactiontype", "")).upper(),
            "quantity": f"{filled.normalize():f}",
            "price": f"{average.normalize():f}",
            "exchange": row.get("exchange"),
            "symbol_name": row.get("tradingsymbol"),
            "token": str(row.get("symboltoken", "")),
        }
        data = self._api("POST", CHARGES, {"orders": [order]}) or {}
        total = dec((data.get("summary") or {}).get("total_charges"))
        if total is None:
            raise VenueError("Angel One did not say what the order's charges are.")
        return total

    def fetch_ohlcv(self, *, symbol, timeframe="1m", since_ms=None, limit=100) -> list[Candle]:
        row = self._instrument(symbol)
        interval = INTERVALS.get(timeframe)
        if interval is None:
            raise VenueError(f"Angel One has no {timeframe!r} candles (one of {', '.join(INTERVALS)}).")
        now = datetime.now(tz=UTC)
        start = datetime.fromtimestamp(since_ms / 1000, tz=UTC) if since_ms else now - timedelta(days=5)
        ist = "%Y-%m-%d %H:%M"
        data = self._api(
            "POST",
            CANDLES,
            {
                "exchange": row["exch_seg"],
                "symboltoken": str(row["token"]),
                "interval": interval,
                "fromdate": (start + IST).strftime(ist),
                "todate": (now + IST).strftime(ist),
            },
        )
        candles = [
            (
                int(datetime.fromisoformat(c[0]).timestamp() * 1000),
                dec(c[1]),
                dec(c[2]),
                dec(c[3]),
                dec(c[4]),
                dec(c[5]),
            )
            for c in data or []
        ]
        return candles[-limit:] if limit else candles

    def fetch_ticker(self, *, symbol) -> Ticker:
        row = self._instrument(symbol)
        data = self._api(
            "POST", LTP, {"exchange": row["exch_seg"], "tradingsymbol": row["symbol"], "symboltoken": str(row["token"])}
        )
        return Ticker(symbol=symbol, last=dec((data or {}).get("ltp")))

    def close(self) -> None:
        self._http.close()


def _ist_day_start_ms() -> int:
    """When today's (IST) trading day began, in epoch milliseconds: the order book's horizon."""
    now_ist = datetime.now(tz=UTC) + IST
    start = now_ist.replace(hour=0, minute=0, second=0, microsecond=0) - IST
    return int(start.timestamp() * 1000)


class AngelOneProvider(Provider):
    id = "angelone"
    name = "Angel One"
    kind = "broker"
    required_fields = ("api_key", "client_code", "password", "totp_secret")
    capabilities = Capabilities(client_id_lookup=LOOKUP_ORDER_BOOK, fills=FILLS_CUMULATIVE)

    def client(self, keyset: KeySet | None = None, *, timeout: float | None = None) -> VenueClient:
        return AngelOneClient(keyset, timeout=venue_timeout() if timeout is None else timeout)


PROVIDER = AngelOneProvider()
