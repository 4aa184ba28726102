"""The market-data seam that views, services and other apps read.

The implementation lives in :mod:`bots.engine.market` (the engine's market data); this
module re-exports its public functions so callers keep one stable import.

* ``candles(venue, symbol, timeframe, *, limit=200, end=None) -> list[Candle]``
* ``last_price(venue, symbol, *, at=None) -> Decimal | None``
* ``simulated_price(symbol, ts) -> float``
"""

from __future__ import annotations

from bots.engine.market import (
    MARKETS_CACHE_KEY,
    REPLAY_DIR,
    SIMULATED_SYMBOLS,
    Candle,
    candles,
    last_price,
    replay_default_timeframe,
    replay_symbols,
    replay_timeframe_refusal,
    simulated_price,
    venue_markets,
    venue_markets_store,
)

__all__ = [
    "MARKETS_CACHE_KEY",
    "REPLAY_DIR",
    "SIMULATED_SYMBOLS",
    "Candle",
    "candles",
    "last_price",
    "replay_default_timeframe",
    "replay_symbols",
    "replay_timeframe_refusal",
    "simulated_price",
    "venue_markets",
    "venue_markets_store",
]
