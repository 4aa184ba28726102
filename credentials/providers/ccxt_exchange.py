"""Any ccxt exchange id (``binance``, ``kraken``, …), through ccxt's synchronous API.

ccxt is imported lazily (it takes ~0.5 s): listing providers or parsing a payload for
``simulated`` never pays for it. Required key fields come from the exchange class's
``requiredCredentials``, mapped onto our field names by :data:`CCXT_FIELDS`.

Clients are built with ``verbose=False`` (ccxt's verbose mode prints request headers,
and so keys), ccxt's own rate limiter on, a timeout in milliseconds, spot markets only,
and — when ``VENUE_URLS[exchange_id]`` is set — every API URL re-pointed at that base
(scheme and host replaced, paths kept), which is how tests reach the local fake exchange.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import replace
from decimal import Decimal
from urllib.parse import urlsplit

from credentials.exceptions import (
    VenueAuthError,
    VenueError,
    VenueNotSupported,
    VenueOrderRejected,
    VenueTimeout,
    VenueUnreachable,
)
from credentials.logging import venue_logger
from credentials.providers.base import (
    FILLS_CUMULATIVE,
    FILLS_TRADES,
    LOOKUP_FETCH_ORDER,
    LOOKUP_OPEN_CLOSED,
    Balance,
    Candle,
    Capabilities,
    KeySet,
    Market,
    OrderInfo,
    Provider,
    Ticker,
    TradeInfo,
    VenueClient,
    dec,
    venue_timeout,
    venue_url,
)

# ccxt credential name → our field. ccxt's "password" is an API passphrase (OKX, KuCoin).
CCXT_FIELDS = {
    "apiKey": "api_key",
    "secret": "api_secret",
    "password": "passphrase",
    "uid": "client_code",
    "accountId": "client_code",
    "login": "client_code",
    "twofa": "totp_secret",
    "walletAddress": "api_key",
    "privateKey": "api_secret",
    "token": "api_key",
}

# Per-exchange constructor options: Botfleet trades long-only spot, so only spot markets
# are loaded, and binance's authenticated currency and margin-pair lists (extra private calls) are skipped.
EXCHANGE_OPTIONS = {
    "bybit": {"fetchMarkets": {"types": ["spot"]}},
    "binance": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
}


# How each venue finds an order by our client id, and where a fill's price and fee come
# from (ccxt's unified API, read in its source for each venue):
# * binance: ``GET /api/v3/order?origClientOrderId=`` (fetch_order with ``clientOrderId``) —
#   it carries no fee, so fills come from ``GET /api/v3/myTrades?orderId=`` (each with its
#   own commission and commission asset);
# * kraken: ``fetch_order`` sends the id as ``userref`` (an integer tag, not ours) and finds
#   nothing; ``OpenOrders``/``ClosedOrders`` filter by ``cl_ord_id`` (ccxt's ``clientOrderId``),
#   and each order carries cumulative ``vol_exec``, average ``price`` and ``fee``;
# * bybit: ``fetch_order`` refuses without ``acknowledged`` and only sees the last 500
#   orders; ``/v5/order/realtime`` and ``/v5/order/history`` filter by ``orderLinkId`` and
#   carry cumulative ``cumExecQty``, ``cumExecValue`` and ``cumFeeDetail``. Its
#   ``fetch_closed_orders`` asks for ``Filled`` only, so a canceled partial fill would be
#   missed: ``fetch_canceled_and_closed_orders`` it is.
# Any other ccxt venue is not declared, and so refused for live trading until it is
# (with a test against a fake of its API).
CAPABILITIES = {
    "binance": Capabilities(client_id_lookup=LOOKUP_FETCH_ORDER, fills=FILLS_TRADES),
    "kraken": Capabilities(client_id_lookup=LOOKUP_OPEN_CLOSED, fills=FILLS_CUMULATIVE),
    "bybit": Capabilities(client_id_lookup=LOOKUP_OPEN_CLOSED, fills=FILLS_CUMULATIVE),
}
# open_closed venues: (the closed-orders method, the param that filters by client id)
_OPEN_CLOSED = {
    "kraken": ("fetch_closed_orders", "clientOrderId"),
    "bybit": ("fetch_canceled_and_closed_orders", "orderLinkId"),
}
# How far before the send time a lookup by time window starts (venue clocks drift).
LOOKUP_MARGIN_MS = 5 * 60 * 1000


def capabilities(exchange_id: str) -> Capabilities:
    return CAPABILITIES.get(
        exchange_id, Capabilities(note="no way to look an order up by its client order id is declared for it")
    )


def _ccxt():
    import ccxt

    return ccxt


@functools.cache
def exchange_ids() -> tuple[str, ...]:
    return tuple(_ccxt().exchanges)


@functools.cache
def _required_credentials(exchange_id: str) -> dict[str, bool]:
    return dict(getattr(_ccxt(), exchange_id)().requiredCredentials)


def _retarget(urls, base: str):
    """Every URL string in ccxt's nested ``urls['api']`` with scheme and host replaced by ``base``."""
    if isinstance(urls, dict):
        return {key: _retarget(value, base) for key, value in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        return base.rstrip("/") + urlsplit(urls).path
    return urls


_KNOWN_NOISE = re.compile(r"https?://\S+")


def _step(precision, mode) -> Decimal | None:
    """A market precision number as a step, per ccxt's ``precisionMode``; ``None`` when it has none.

    TICK_SIZE: the number is the step (0.001). DECIMAL_PLACES: it counts decimals (3 → 0.001).
    SIGNIFICANT_DIGITS: the step depends on the value's magnitude, so there is no fixed one.
    """
    value = dec(precision)
    if value is None:
        return None
    ccxt = _ccxt()
    if mode == ccxt.TICK_SIZE:
        return value if value > 0 else None
    if mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    return None


class CcxtClient(VenueClient):
    def __init__(self, exchange_id: str, name: str, keyset: KeySet | None, timeout: float):
        ccxt = _ccxt()
        self.provider_id = exchange_id
        self._name = name
        self._keyset = keyset
        config = {
            "enableRateLimit": True,
            "timeout": int(timeout * 1000),
            "verbose": False,
            # ccxt logs request headers (keys) at DEBUG through this logger: ours redacts.
            "logger": venue_logger(exchange_id),
            "options": {"defaultType": "spot", **EXCHANGE_OPTIONS.get(exchange_id, {})},
        }
        if keyset is not None:
            for ccxt_name, required in _required_credentials(exchange_id).items():
                ours = CCXT_FIELDS.get(ccxt_name)
                primary = ccxt_name in ("apiKey", "secret", "password", "uid")
                value = getattr(keyset, ours, "") if ours else ""
                if value and (required or primary):
                    config[ccxt_name] = value
        self._exchange = getattr(ccxt, exchange_id)(config)
        self._exchange.verbose = False
        base = venue_url(exchange_id)
        if base:
            self._exchange.urls["api"] = _retarget(self._exchange.urls["api"], base)
        # ccxt's sync instances are not made for concurrent use; one call at a time also
        # keeps its rate limiter honest for every bot sharing this key set.
        self._lock = threading.Lock()

    # -- error mapping ---------------------------------------------------------------
    def _call(self, method: str, *args, missing_ok: bool = False, **kwargs):
        ccxt = _ccxt()
        try:
            with self._lock:
                return getattr(self._exchange, method)(*args, **kwargs)
        except ccxt.OrderNotFound as exc:
            if missing_ok:
                return None
            raise VenueError(f"{self._name}: no such order.") from exc
        except ccxt.RequestTimeout as exc:
            raise VenueTimeout(f"{self._name} did not answer in time.") from exc
        except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended) as exc:
            raise VenueAuthError(f"{self._name} rejected the keys: {self._venue_says(exc)}") from exc
        except (ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.BadSymbol) as exc:
            raise VenueOrderRejected(f"{self._name} refused the order: {self._venue_says(exc)}") from exc
        except ccxt.NotSupported as exc:
            raise VenueNotSupported(f"{self._name} does not support {method}.") from exc
        except ccxt.NetworkError as exc:
            raise VenueUnreachable(f"{self._name} is unreachable ({exc.__class__.__name__}).") from exc
        except ccxt.BaseError as exc:
            raise VenueError(f"{self._name} error: {self._venue_says(exc)}") from exc

    def _venue_says(self, exc: Exception) -> str:
        """ccxt's message (``"<id> <body>"``) without URLs, the exchange id, or any secret."""
        text = str(exc)
        if text.startswith(self.provider_id + " "):
            text = text[len(self.provider_id) + 1 :]
        text = _KNOWN_NOISE.sub("[url]", text)
        if self._keyset is not None:
            text = self._keyset.redact(text)
        return text[:200] or exc.__class__.__name__

    # -- interface -------------------------------------------------------------------
    def check_keys(self) -> None:
        self._call("fetch_balance")

    def fetch_balance(self) -> dict[str, Balance]:
        raw = self._call("fetch_balance")
        out = {}
        for asset, total in (raw.get("total") or {}).items():
            free, used = raw.get("free", {}).get(asset), raw.get("used", {}).get(asset)
            out[asset] = Balance(free=dec(free) or Decimal(0), used=dec(used) or Decimal(0), total=dec(total))
        return out

    def fetch_markets(self) -> list[Market]:
        markets = self._call("load_markets")
        out = []
        for symbol, m in markets.items():
            if m.get("spot") is False:
                continue
            limits = m.get("limits") or {}
            precision = m.get("precision") or {}
            out.append(
                Market(
                    symbol=symbol,
                    base=m.get("base", ""),
                    quote=m.get("quote", ""),
                    active=m.get("active") is not False,
                    min_amount=dec((limits.get("amount") or {}).get("min")),
                    amount_step=self._amount_step(symbol, precision.get("amount")),
                    price_step=_step(precision.get("price"), self._exchange.precisionMode),
                    venue_id=str(m.get("id", "")),
                    min_notional=dec((limits.get("cost") or {}).get("min")),
                )
            )
        return out

    def _amount_step(self, symbol: str, precision) -> Decimal | None:
        """The amount step, read the way ccxt reads ``precision['amount']`` for this exchange.

        ``precisionMode`` says what the market's precision numbers are (a tick size, a count
        of decimal places, a count of significant digits). The exchanges that declare
        significant digits (Bitfinex, Bithumb) count *amounts* in decimal places (their
        ``amount_to_precision`` says so), so for that mode ccxt's own rounding is asked at two
        magnitudes: the same number of decimals means decimal places, a fixed step; anything
        else has no fixed step (``None``: ccxt rounds the amount when the order is sent).
        """
        ccxt = _ccxt()
        mode = self._exchange.precisionMode
        if precision is None or mode != ccxt.SIGNIFICANT_DIGITS:
            return _step(precision, mode)
        try:
            with self._lock:
                small = self._exchange.amount_to_precision(symbol, "0.0011111111111111111")
                large = self._exchange.amount_to_precision(symbol, "1111.1111111111111111")
        except ccxt.BaseError:
            return None
        places = {-Decimal(value).as_tuple().exponent for value in (small, large)}
        return Decimal(1).scaleb(-places.pop()) if len(places) == 1 else None

    def create_order(self, *, symbol, side, type, amount, price=None, client_order_id) -> OrderInfo:
        params = {"clientOrderId": client_order_id}
        raw = self._call(
            "create_order", symbol, type, side, float(amount), None if price is None else float(price), params
        )
        info = self._order(raw, client_order_id)
        if info.status == "unknown":
            # Kraken and Bybit answer an order with its id only: what happened to it is read at once
            # (the order exists now, so a failure here is only a slower answer: reconciliation reads it).
            try:
                found = self.fetch_order_by_client_id(symbol=symbol, client_order_id=client_order_id)
            except VenueError:
                found = None
            return found or info
        return self._with_trades(info, symbol)

    def cancel_order(self, *, symbol, venue_order_id, client_order_id) -> None:
        self._call("cancel_order", venue_order_id, symbol, {})

    def fetch_order_by_client_id(self, *, symbol, client_order_id, since_ms=None) -> OrderInfo | None:
        way = capabilities(self.provider_id).client_id_lookup
        if way == LOOKUP_FETCH_ORDER:
            raw = self._call("fetch_order", "", symbol, {"clientOrderId": client_order_id}, missing_ok=True)
        elif way == LOOKUP_OPEN_CLOSED:
            raw = self._find_listed(symbol, client_order_id, since_ms)
        else:
            raise VenueNotSupported(f"{self._name}: {capabilities(self.provider_id).note}.")
        return None if raw is None else self._with_trades(self._order(raw, client_order_id), symbol)

    def _find_listed(self, symbol: str, client_order_id: str, since_ms: int | None) -> dict | None:
        """The order in the venue's open, then closed, orders filtered by our client id."""
        closed_method, key = _OPEN_CLOSED[self.provider_id]
        since = None if since_ms is None else max(0, since_ms - LOOKUP_MARGIN_MS)
        for method, start in (("fetch_open_orders", None), (closed_method, since)):
            for raw in self._call(method, symbol, start, None, {key: client_order_id}) or []:
                # Filtered again here: a venue that ignored the filter must not match another order.
                if raw.get("clientOrderId") == client_order_id:
                    return raw
        return None

    def _with_trades(self, info: OrderInfo, symbol: str) -> OrderInfo:
        """The order with its executions, on venues whose fills come from the trades endpoint.

        If they cannot be read now, ``trades`` stays ``None``: the engine books nothing and
        asks again (by client id) on the next tick, rather than book a guessed fee.
        """
        if capabilities(self.provider_id).fills != FILLS_TRADES or not info.filled or not info.id:
            return info
        try:
            rows = self._call("fetch_order_trades", info.id, symbol)
        except VenueError:
            return info
        trades = tuple(
            TradeInfo(
                id=str(t.get("id") or ""),
                amount=dec(t.get("amount")) or Decimal(0),
                price=dec(t.get("price")) or Decimal(0),
                fee=dec((t.get("fee") or {}).get("cost")) or Decimal(0),
                fee_currency=(t.get("fee") or {}).get("currency") or "",
                timestamp_ms=t.get("timestamp"),
            )
            for t in rows or []
            if str(t.get("order") or info.id) == info.id
        )
        return replace(info, trades=trades)

    def fetch_ohlcv(self, *, symbol, timeframe="1m", since_ms=None, limit=100) -> list[Candle]:
        rows = self._call("fetch_ohlcv", symbol, timeframe, since_ms, limit)
        return [(int(r[0]), dec(r[1]), dec(r[2]), dec(r[3]), dec(r[4]), dec(r[5]) or Decimal(0)) for r in rows]

    def fetch_ticker(self, *, symbol) -> Ticker:
        raw = self._call("fetch_ticker", symbol)
        return Ticker(
            symbol=symbol,
            last=dec(raw.get("last") or raw.get("close")),
            bid=dec(raw.get("bid")),
            ask=dec(raw.get("ask")),
            timestamp_ms=raw.get("timestamp"),
        )

    def close(self) -> None:
        session = getattr(self._exchange, "session", None)
        if session is not None:
            session.close()

    @staticmethod
    def _order(raw: dict, client_order_id: str) -> OrderInfo:
        status = raw.get("status") or "unknown"
        if status == "expired":
            status = "canceled"
        fee = raw.get("fee") or {}
        if fee.get("cost") is None and len(raw.get("fees") or []) == 1:
            fee = raw["fees"][0] or {}
        return OrderInfo(
            id=str(raw.get("id") or ""),
            client_order_id=raw.get("clientOrderId") or client_order_id,
            symbol=raw.get("symbol") or "",
            side=raw.get("side") or "",
            type=raw.get("type") or "",
            status=status,
            amount=dec(raw.get("amount")) or Decimal(0),
            filled=dec(raw.get("filled")) or Decimal(0),
            price=dec(raw.get("price")),
            average=dec(raw.get("average")),
            fee=dec(fee.get("cost")),
            fee_currency=fee.get("currency") or "",
            timestamp_ms=raw.get("timestamp"),
            raw=raw.get("info") or {},
            cost=dec(raw.get("cost")),
        )


class CcxtProvider(Provider):
    kind = "ccxt"

    def __init__(self, exchange_id: str):
        self.id = exchange_id
        self.name = exchange_id.capitalize() if exchange_id.islower() else exchange_id
        required, optional = [], []
        for ccxt_name, needed in _required_credentials(exchange_id).items():
            ours = CCXT_FIELDS.get(ccxt_name)
            if ours and needed and ours not in required:
                required.append(ours)
        for ours in ("api_key", "api_secret", "passphrase"):
            if ours not in required:
                optional.append(ours)
        self.required_fields = tuple(required)
        self.optional_fields = tuple(optional)
        self.capabilities = capabilities(exchange_id)

    def client(self, keyset: KeySet | None = None, *, timeout: float | None = None) -> VenueClient:
        return CcxtClient(self.id, self.name, keyset, venue_timeout() if timeout is None else timeout)


@functools.cache
def provider(exchange_id: str) -> CcxtProvider:
    return CcxtProvider(exchange_id)
