"""Venues (API.md "Venues, symbols, strategies"): ids, symbol rules, quote currencies.

``simulated`` and ``replay`` are ours and never leave the machine; ``angelone`` is the
Angel One broker; any other id must be a ccxt exchange id. ccxt is imported lazily
(a third of a second) and only for its list of ids.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bots.engine import market

LOCAL_VENUES = ("simulated", "replay")
BROKER_VENUES = ("angelone",)
DEFAULT_VENUE = "simulated"

_CCXT_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,31}/[A-Z0-9][A-Z0-9._-]{0,31}(:[A-Z0-9][A-Z0-9._-]{0,31})?$")
_ANGEL_SYMBOL = re.compile(r"^[A-Z]{2,8}:[A-Z0-9&._-]{1,48}$")


class VenueError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@lru_cache(maxsize=1)
def ccxt_ids() -> tuple[str, ...]:
    import ccxt

    return tuple(sorted(ccxt.exchanges))


def is_known(venue: str) -> bool:
    return venue in LOCAL_VENUES or venue in BROKER_VENUES or venue in ccxt_ids()


def kind(venue: str) -> str:
    if venue in LOCAL_VENUES:
        return venue
    return "broker" if venue in BROKER_VENUES else "ccxt"


def is_real(venue: str) -> bool:
    """Whether a live bot on this venue sends real orders (and so needs a live key set)."""
    return venue not in LOCAL_VENUES


def catalogue() -> list[dict]:
    rows = [
        {"id": "simulated", "name": "Simulated market", "kind": "simulated", "needs_keys_for_live": False},
        {"id": "replay", "name": "Recorded candles (replay)", "kind": "replay", "needs_keys_for_live": False},
        {"id": "angelone", "name": "Angel One", "kind": "broker", "needs_keys_for_live": True},
    ]
    rows += [{"id": vid, "name": vid, "kind": "ccxt", "needs_keys_for_live": True} for vid in ccxt_ids()]
    return rows


def symbols(venue: str) -> tuple[list[str], bool]:
    """``(symbols, verified)``: the venue's markets when known, else ``([], False)``."""
    markets = market.venue_markets(venue)
    return (markets, True) if markets is not None else ([], False)


def normalize_symbol(venue: str, raw: str) -> tuple[str, bool]:
    """``(symbol, verified)`` or ``VenueError``: the unified form, checked when markets are known."""
    symbol = (raw or "").strip().upper()
    if not symbol:
        raise VenueError("symbol", "symbol is required")
    pattern = _ANGEL_SYMBOL if venue == "angelone" else _CCXT_SYMBOL
    if not pattern.match(symbol):
        form = "EXCHANGE:SYMBOL (e.g. NSE:SBIN-EQ)" if venue == "angelone" else "BASE/QUOTE (e.g. BTC/USDT)"
        raise VenueError("symbol", f"{raw!r} is not a valid symbol for {venue}; use {form}")
    markets = market.venue_markets(venue)
    if markets is None:
        return symbol, False
    if symbol not in markets:
        sample = ", ".join(markets[:8])
        raise VenueError("symbol", f"{symbol} is not listed on {venue}; try one of {sample}")
    return symbol, True


def quote_currency(venue: str, symbol: str) -> str:
    if venue == "angelone":
        return "INR"
    return symbol.split("/", 1)[1].split(":", 1)[0]


def timeframe_refusal(venue: str, symbol: str, timeframe: str) -> str:
    """Why ``venue`` cannot serve ``timeframe`` candles of ``symbol`` without looking ahead ("" if it can).

    Only the replay venue has a floor: its recording's own timeframe (a finer candle
    would carry the close of a recorded candle that ends after it).
    """
    if venue != "replay":
        return ""
    return market.replay_timeframe_refusal((symbol or "").strip().upper(), timeframe)


def default_timeframe(venue: str, symbol: str, preferred: str) -> str:
    """``preferred``, or on replay the finest timeframe the recording of ``symbol`` can serve."""
    if venue != "replay":
        return preferred
    return market.replay_default_timeframe((symbol or "").strip().upper(), preferred)
