"""The market-data seam: what bots, charts and valuations read.

This is the seed of the engine's market data (``bots/engine/market.py`` takes over
behind these same functions): the ``simulated`` venue is a deterministic price
process — a pure function of ``(symbol, timestamp)``, so every process, every bot and
every test agrees on the price at a given second without sharing any state — and the
``replay`` venue plays recorded candles on a loop.

Public functions (keep their signatures; the engine may re-implement them):

* ``candles(venue, symbol, timeframe, *, limit=200, end=None) -> list[Candle]``
* ``last_price(venue, symbol, *, at=None) -> Decimal | None``
* ``simulated_price(symbol, ts) -> float``
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from django.core.cache import cache
from django.utils import timezone

from bots.strategies import TIMEFRAMES

# Familiar symbols and their base prices (quote units) for the simulated venue.
SIMULATED_SYMBOLS: dict[str, float] = {
    "BTC/USDT": 60000.0,
    "ETH/USDT": 3000.0,
    "SOL/USDT": 150.0,
    "XRP/USDT": 0.6,
    "ETH/BTC": 0.05,
    "LTC/BTC": 0.0015,
}
# Recorded candles shipped with the project (a fresh clone has no ../shared).
REPLAY_DIR = Path(__file__).resolve().parent / "data" / "replay"
MARKETS_CACHE_KEY = "bots:markets:{venue}"


@dataclass(frozen=True, slots=True)
class Candle:
    time: int  # open time, epoch seconds (UTC)
    open: float
    high: float
    low: float
    close: float
    volume: float

    def as_dict(self) -> dict:
        return {
            "time": self.time,
            "timestamp": datetime.fromtimestamp(self.time, UTC).isoformat(),
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }


# ---------------------------------------------------------------------------
# simulated: deterministic price process
# ---------------------------------------------------------------------------
def _seed(symbol: str, salt: str) -> float:
    """A stable number in [0, 1) from a string (``hash()`` is randomised per process)."""
    digest = hashlib.blake2b(f"{symbol}|{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@lru_cache(maxsize=256)
def _params(symbol: str) -> tuple:
    base = SIMULATED_SYMBOLS.get(symbol) or 10 ** (1 + 3 * _seed(symbol, "base"))
    waves = tuple(
        (0.02 + 0.06 * _seed(symbol, f"amp{i}"), period, 2 * math.pi * _seed(symbol, f"phase{i}"))
        for i, period in enumerate((97.0, 1440.0 * 1.7, 1440.0 * 11.3))
    )
    return base, waves


def _knot_noise(symbol: str, knot: int) -> float:
    return _seed(symbol, f"n{knot}") * 2 - 1


def simulated_price(symbol: str, ts: float) -> float:
    """The simulated price of ``symbol`` at epoch second ``ts``: smooth, bounded, repeatable.

    Log-price is the sum of three sine waves (about 1.6 h, 1.7 d and 11 d) with
    per-symbol amplitudes and phases, plus noise interpolated between per-minute
    hashed knots — so consecutive minutes move realistically and strategies trade.
    """
    base, waves = _params(symbol)
    minute = ts / 60.0
    log_move = sum(amp * math.sin(2 * math.pi * minute / period + phase) for amp, period, phase in waves)
    knot = math.floor(minute)
    frac = minute - knot
    noise = _knot_noise(symbol, knot) * (1 - frac) + _knot_noise(symbol, knot + 1) * frac
    return base * math.exp(log_move + 0.004 * noise)


def _round(value: float) -> float:
    # Eight significant digits: plausible ticks, and identical in every process.
    return float(f"{value:.8g}")


def _simulated_candle(symbol: str, start: int, seconds: int) -> Candle:
    samples = max(2, min(13, seconds // 60 + 1))
    step = seconds / (samples - 1)
    prices = [simulated_price(symbol, start + i * step) for i in range(samples)]
    volume = 10 + 990 * _seed(symbol, f"v{start}:{seconds}")
    return Candle(
        start, _round(prices[0]), _round(max(prices)), _round(min(prices)), _round(prices[-1]), _round(volume)
    )


# ---------------------------------------------------------------------------
# replay: recorded candles on a loop
# ---------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _replay_file(symbol: str) -> tuple[Candle, ...]:
    stem = symbol.replace("/", "_").replace(":", "_")
    for path in sorted(REPLAY_DIR.glob(f"{stem}-*")):
        if path.suffix == ".csv":
            with path.open() as handle:
                rows = [
                    Candle(
                        int(datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).timestamp()),
                        *(float(r[k]) for k in ("open", "high", "low", "close", "volume")),
                    )
                    for r in csv.DictReader(handle)
                ]
        elif path.suffix == ".json":
            rows = [Candle(int(r[0]) // 1000, *map(float, r[1:6])) for r in json.loads(path.read_text())]
        else:
            continue
        return tuple(rows)
    return ()


def replay_symbols() -> list[str]:
    names = {p.name.split("-", 1)[0] for p in REPLAY_DIR.glob("*-*") if p.suffix in (".csv", ".json")}
    return sorted(name.replace("_", "/", 1) for name in names)


def _replay_candles(symbol: str, timeframe_seconds: int, limit: int, end: int) -> list[Candle]:
    rows = _replay_file(symbol)
    if len(rows) < 2:
        return []
    step = rows[1].time - rows[0].time
    span = rows[-1].time - rows[0].time + step
    # The recording loops: "now" maps to an offset inside it, the same in every process.
    out: list[Candle] = []
    first_open = end - end % timeframe_seconds - (limit - 1) * timeframe_seconds
    for start in range(first_open, end + 1, timeframe_seconds):
        offset = (start - rows[0].time) % span
        idx = min(len(rows) - 1, offset // step)
        out.append(Candle(start, rows[idx].open, rows[idx].high, rows[idx].low, rows[idx].close, rows[idx].volume))
    return out


# ---------------------------------------------------------------------------
# The seam
# ---------------------------------------------------------------------------
def _epoch(end: datetime | None) -> int:
    return int((end or timezone.now()).timestamp())


def candles(
    venue: str, symbol: str, timeframe: str = "1m", *, limit: int = 200, end: datetime | None = None
) -> list[Candle]:
    """The last ``limit`` closed-or-forming candles up to ``end`` (default now), oldest first.

    Real venues return what the engine cached for them (the engine fetches once per
    symbol and interval for every bot); nothing here calls the network.
    """
    seconds = TIMEFRAMES.get(timeframe, 60)
    limit = max(1, min(int(limit), 1000))
    now = _epoch(end)
    if venue == "simulated":
        last_open = now - now % seconds
        return [_simulated_candle(symbol, last_open - i * seconds, seconds) for i in range(limit - 1, -1, -1)]
    if venue == "replay":
        return _replay_candles(symbol, seconds, limit, now)
    cached = cache.get(f"bots:candles:{venue}:{symbol}:{timeframe}")
    return [Candle(*row) for row in cached[-limit:]] if cached else []


def last_price(venue: str, symbol: str, *, at: datetime | None = None) -> Decimal | None:
    """The price a bot on ``venue`` sees for ``symbol`` now (or at ``at``), if known."""
    if venue == "simulated":
        return Decimal(str(_round(simulated_price(symbol, _epoch(at)))))
    rows = candles(venue, symbol, "1m", limit=1, end=at)
    return Decimal(str(rows[-1].close)) if rows else None


def venue_markets(venue: str) -> list[str] | None:
    """The symbols ``venue`` lists, or ``None`` when its markets are not known here."""
    if venue == "simulated":
        return list(SIMULATED_SYMBOLS)
    if venue == "replay":
        return replay_symbols()
    return cache.get(MARKETS_CACHE_KEY.format(venue=venue))


def venue_markets_store(venue: str, symbols: list[str], *, ttl: int = 6 * 3600) -> None:
    """Called by whoever loads a real venue's markets (engine, key test) to share them."""
    cache.set(MARKETS_CACHE_KEY.format(venue=venue), sorted(symbols), ttl)
