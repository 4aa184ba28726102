"""Market data for every bot: the simulated, replay and real (ccxt / broker) venues.

* ``simulated`` — a deterministic price process: a pure function of ``(symbol, second)``,
  so every process, bot and test agrees on the price without sharing any state.
* ``replay`` — recorded candles (CSV ``timestamp,open,high,low,close,volume`` or JSON
  ``[epoch_ms, o, h, l, c, v]``) played on a loop; missing candles (gaps) are filled
  flat from the previous close with zero volume, and coarser timeframes are aggregated.
* real venues — OHLCV through ``credentials.providers.public_client`` (keyless), fetched
  **once per symbol, timeframe and interval for the whole fleet**: the rows go to the
  shared cache (the database cache in the embedded mode, Redis in production) under a
  key that names the interval, a short ``cache.add`` lock keeps concurrent workers from
  fetching the same thing twice, and every bot reads the cached rows. Those candles feed
  the strategy's window (closed candles only); **the price now** — what exits, sizing and
  paper fills use — is a ticker fetched at most once per ``ENGINE_PRICE_MAX_AGE_SECONDS``
  per venue and symbol for the whole fleet (:func:`fresh_price`), never the close of a
  forming candle fetched up to a timeframe period ago.

Every venue answers "the price at t" with what was known at t: the simulated process at
t, the open of the recorded candle containing t (its close lies in the future), the last
ticker fetched at or before t.

On top of that, :class:`Snapshot` is the in-process memo of one tick batch: each
``(venue, symbol, timeframe)`` is computed or read from the cache once per batch however
many bots ask, and closed candles of the simulated/replay venues are additionally kept in
a small process-wide LRU (they never change once closed).

Views, services and other apps import this module directly; it is the one market-data path.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.core.cache import cache
from django.utils import timezone

from bots.strategies import TIMEFRAMES

logger = logging.getLogger("botfleet.engine.market")

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
REPLAY_DIR = Path(__file__).resolve().parent.parent / "data" / "replay"
MARKETS_CACHE_KEY = "bots:markets:{venue}"
CANDLES_CACHE_KEY = "bots:candles:{venue}:{symbol}:{timeframe}"
LOCAL_VENUES = ("simulated", "replay")
# How many candles the engine keeps per real-venue series (strategies need ≤ a few hundred).
FETCH_LIMIT = 300


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


def timeframe_seconds(timeframe: str) -> int:
    return TIMEFRAMES.get(timeframe, 60)


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


@lru_cache(maxsize=65536)
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


@lru_cache(maxsize=16384)
def _simulated_candle(symbol: str, start: int, seconds: int) -> Candle:
    samples = max(2, min(13, seconds // 60 + 1))
    step = seconds / (samples - 1)
    prices = [simulated_price(symbol, start + i * step) for i in range(samples)]
    volume = 10 + 990 * _seed(symbol, f"v{start}:{seconds}")
    return Candle(
        start, _round(prices[0]), _round(max(prices)), _round(min(prices)), _round(prices[-1]), _round(volume)
    )


def _simulated_forming(symbol: str, start: int, seconds: int, now: int) -> Candle:
    """The candle opening at ``start`` as it stands at ``now``: the same samples, up to ``now``."""
    samples = max(2, min(13, seconds // 60 + 1))
    step = seconds / (samples - 1)
    times = [start + i * step for i in range(samples) if start + i * step < now] + [now]
    prices = [simulated_price(symbol, t) for t in times]
    volume = (10 + 990 * _seed(symbol, f"v{start}:{seconds}")) * (now - start) / seconds
    return Candle(
        start, _round(prices[0]), _round(max(prices)), _round(min(prices)), _round(prices[-1]), _round(volume)
    )


# ---------------------------------------------------------------------------
# replay: recorded candles on a loop
# ---------------------------------------------------------------------------
def load_recorded(path: Path | str) -> tuple[Candle, ...]:
    """Parse a recording (CSV or JSON, see the module docstring), sorted by time, duplicates dropped."""
    path = Path(path)
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
        raise ValueError(f"unknown recording format: {path.name}")
    unique = {row.time: row for row in rows}
    return tuple(unique[t] for t in sorted(unique))


@lru_cache(maxsize=16)
def _replay_file(symbol: str) -> tuple[Candle, ...]:
    stem = symbol.replace("/", "_").replace(":", "_")
    for path in sorted(REPLAY_DIR.glob(f"{stem}-*")):
        if path.suffix in (".csv", ".json"):
            return load_recorded(path)
    return ()


def replay_symbols() -> list[str]:
    names = {p.name.split("-", 1)[0] for p in REPLAY_DIR.glob("*-*") if p.suffix in (".csv", ".json")}
    return sorted(name.replace("_", "/", 1) for name in names)


class Recording:
    """A recording as a function of time: the candle of any period, gaps filled, looped."""

    def __init__(self, rows: tuple[Candle, ...]):
        self.rows = rows
        self.times = [r.time for r in rows]
        steps = np.diff(self.times) if len(rows) > 1 else np.array([60])
        self.step = int(np.min(steps)) if len(steps) else 60  # the recording's own timeframe
        self.start = self.times[0] if rows else 0
        self.span = (self.times[-1] - self.start + self.step) if rows else 0

    def candle(self, start: int, seconds: int) -> Candle | None:
        """The candle opening at ``start`` (epoch s, "now" mapped into the loop) of ``seconds``."""
        if not self.rows:
            return None
        seconds = max(seconds, self.step)
        offset = (start - self.start) % self.span
        lo = self.start + offset - offset % self.step
        hi = lo + seconds
        i = bisect.bisect_left(self.times, lo)
        j = bisect.bisect_left(self.times, hi)
        inside = self.rows[i:j]
        if not inside:
            # A gap: flat at the last close before it (or the first row's open at the loop start).
            prev = self.rows[i - 1].close if i > 0 else self.rows[0].open
            return Candle(start, prev, prev, prev, prev, 0.0)
        first_open = inside[0].open if inside[0].time == lo else (self.rows[i - 1].close if i > 0 else inside[0].open)
        return Candle(
            start,
            first_open,
            max(r.high for r in inside),
            min(r.low for r in inside),
            inside[-1].close,
            sum(r.volume for r in inside),
        )


@lru_cache(maxsize=16)
def _recording(symbol: str) -> Recording:
    return Recording(_replay_file(symbol))


@lru_cache(maxsize=16384)
def _replay_candle(symbol: str, start: int, seconds: int) -> Candle | None:
    return _recording(symbol).candle(start, seconds)


def replay_step(symbol: str) -> int | None:
    """The recording's own timeframe in seconds (``None``: no recording of ``symbol``)."""
    recording = _recording(symbol)
    return recording.step if len(recording.rows) >= 2 else None


def _timeframe_name(seconds: int) -> str:
    return next((name for name, s in TIMEFRAMES.items() if s == seconds), f"{seconds}s")


def replay_timeframe_refusal(symbol: str, timeframe: str) -> str:
    """Why ``timeframe`` cannot be replayed from the recording of ``symbol`` ("" when it can).

    A candle finer than the recording (or straddling its candles) would have to be made
    from a recorded candle that closes after it: its close would be the future's.
    """
    step = replay_step(symbol)
    seconds = timeframe_seconds(timeframe)
    if step is None or (seconds >= step and seconds % step == 0):
        return ""
    name = _timeframe_name(step)
    return (
        f"timeframe {timeframe} is finer than the replay recording of {symbol} ({name} candles); "
        f"use {name} or a multiple of it"
    )


def replay_default_timeframe(symbol: str, preferred: str) -> str:
    """``preferred`` when the recording of ``symbol`` can serve it, else the finest timeframe it can."""
    if not replay_timeframe_refusal(symbol, preferred):
        return preferred
    step = replay_step(symbol) or 60
    return next((name for name, s in TIMEFRAMES.items() if s >= step and s % step == 0), preferred)


def _replay_candles(symbol: str, seconds: int, limit: int, end: int) -> list[Candle]:
    step = replay_step(symbol)
    if step is None or seconds < step or seconds % step:
        return []  # nothing honest to show: see replay_timeframe_refusal
    last_open = end - end % seconds
    out = [_replay_candle(symbol, last_open - i * seconds, seconds) for i in range(limit - 1, -1, -1)]
    out = [c for c in out if c is not None]
    if out and out[-1].time == last_open and last_open + seconds > end:
        out[-1] = _forming_replay_candle(symbol, last_open, seconds, end, step)
    return out


def _forming_replay_candle(symbol: str, start: int, seconds: int, now: int, step: int) -> Candle:
    """The candle opening at ``start`` as known at ``now``: its recorded candles closed by
    then, and the price at ``now`` as its close (never the recorded close still to come)."""
    price = price_at("replay", symbol, now)
    closed = (now - start) // step * step
    part = _replay_candle(symbol, start, closed) if closed else None
    opened = part.open if part else price
    return Candle(
        start,
        opened,
        max(opened, price, part.high if part else price),
        min(opened, price, part.low if part else price),
        price,
        part.volume if part else 0.0,
    )


# ---------------------------------------------------------------------------
# real venues: one fetch per symbol, timeframe and interval, shared through the cache
# ---------------------------------------------------------------------------
def _cache_key(venue: str, symbol: str, timeframe: str) -> str:
    return CANDLES_CACHE_KEY.format(venue=venue, symbol=symbol, timeframe=timeframe)


def fetch_venue_candles(venue: str, symbol: str, timeframe: str, *, now: int | None = None) -> list[Candle]:
    """The venue's recent candles, fetched at most once per timeframe period by the whole fleet.

    The cached entry carries the period it was fetched in; a later period triggers one
    new fetch (whoever wins ``cache.add`` on the fetch lock), the others keep serving
    the previous rows until it lands. Venue errors leave the previous rows in place.
    """
    from credentials.exceptions import VenueError
    from credentials.providers import public_client

    seconds = timeframe_seconds(timeframe)
    now = int(timezone.now().timestamp()) if now is None else now
    period = now // seconds
    key = _cache_key(venue, symbol, timeframe)
    cached = cache.get(key)
    if cached and cached["period"] >= period:
        return [Candle(*row) for row in cached["rows"]]
    if not cache.add(f"{key}:lock", 1, timeout=max(5, min(seconds, 30))):
        return [Candle(*row) for row in cached["rows"]] if cached else []
    try:
        rows = public_client(venue).fetch_ohlcv(symbol=symbol, timeframe=timeframe, limit=FETCH_LIMIT)
    except VenueError as exc:
        logger.warning("Market data for %s %s on %s unavailable: %s", symbol, timeframe, venue, exc)
        return [Candle(*row) for row in cached["rows"]] if cached else []
    finally:
        cache.delete(f"{key}:lock")
    candles_ = [(int(r[0]) // 1000, float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5] or 0)) for r in rows]
    cache.set(key, {"period": period, "rows": candles_}, timeout=max(seconds * 10, 600))
    return [Candle(*row) for row in candles_]


# ---------------------------------------------------------------------------
# real venues: the price now, one ticker per venue and symbol per few seconds
# ---------------------------------------------------------------------------
PRICE_CACHE_KEY = "bots:price:{venue}:{symbol}"
# How long fetched prices are remembered: "the price at t" of a paper intent re-executed
# after a crash (a lease expiry later) is still the one its decision used.
PRICE_HISTORY_SECONDS = 900
PRICE_HISTORY_MAX = 512


class MarketDataError(Exception):
    """A bot's market data cannot be served honestly (e.g. a replay timeframe finer than the recording)."""


def price_max_age() -> float:
    """``ENGINE_PRICE_MAX_AGE_SECONDS``: how old a ticker may be when exits and fills are judged on it."""
    from django.conf import settings

    value = getattr(settings, "ENGINE_PRICE_MAX_AGE_SECONDS", None)
    return 5.0 if value is None or value == "" else float(value)


def _price_key(venue: str, symbol: str) -> str:
    return PRICE_CACHE_KEY.format(venue=venue, symbol=symbol)


def _price_history(venue: str, symbol: str) -> list[tuple[int, float]]:
    """``(fetched at, price)`` pairs, oldest first (epoch seconds of the asking batch's clock)."""
    return [(int(t), float(p)) for t, p in cache.get(_price_key(venue, symbol)) or ()]


def _known_at(history: list[tuple[int, float]], ts: int) -> tuple[int, float] | None:
    i = bisect.bisect_right(history, (ts, math.inf))
    return history[i - 1] if i else None


def _ticker_price(venue: str, symbol: str) -> float | None:
    from credentials.exceptions import VenueError
    from credentials.providers import public_client

    try:
        ticker = public_client(venue).fetch_ticker(symbol=symbol)
    except VenueError as exc:
        logger.warning("Ticker of %s on %s unavailable: %s", symbol, venue, exc)
        return None
    price = ticker.last
    if (price is None or price <= 0) and ticker.bid and ticker.ask:
        price = (ticker.bid + ticker.ask) / 2
    return float(price) if price is not None and price > 0 else None


def _remember_price(venue: str, symbol: str, ts: int, price: float) -> None:
    history = _price_history(venue, symbol)
    bisect.insort(history, (ts, price))
    horizon = history[-1][0] - PRICE_HISTORY_SECONDS
    history = [row for row in history if row[0] >= horizon][-PRICE_HISTORY_MAX:]
    cache.set(_price_key(venue, symbol), history, timeout=PRICE_HISTORY_SECONDS)


def fresh_price(venue: str, symbol: str, *, now: int) -> float | None:
    """The real venue's price at ``now`` from a ticker at most ``price_max_age()`` seconds old.

    Shared by the fleet through the cache: whoever needs a price no remembered ticker
    covers takes a short ``cache.add`` lock and fetches one; the others wait for it (up
    to the venue timeout) instead of asking the venue again. Each price is remembered
    under the asking batch's clock, so :func:`price_at` later answers with exactly the
    price a decision at ``now`` used (the paper fill of that decision). ``None`` when the
    venue gives no price: the tick then has no market data and does not trade — it never
    falls back to a candle's stale close. Callers must hold no database lock.
    """
    from credentials.providers.base import venue_timeout

    max_age = price_max_age()

    def remembered() -> float | None:
        hit = _known_at(_price_history(venue, symbol), now)
        return hit[1] if hit is not None and now - hit[0] <= max_age else None

    price = remembered()
    if price is not None:
        return price
    lock = f"{_price_key(venue, symbol)}:lock"
    lock_ttl = int(venue_timeout()) + 2  # a worker killed mid-fetch frees it by itself
    deadline = time.monotonic() + lock_ttl + 1
    while not cache.add(lock, 1, timeout=lock_ttl):
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)
        price = remembered()
        if price is not None:
            return price
    try:
        price = remembered()  # fetched by the worker that held the lock
        if price is None:
            price = _ticker_price(venue, symbol)
            if price is not None:
                _remember_price(venue, symbol, now, price)
        return price
    finally:
        cache.delete(lock)


# ---------------------------------------------------------------------------
# The seam
# ---------------------------------------------------------------------------
def _epoch(end: datetime | None) -> int:
    return int((end or timezone.now()).timestamp())


def candles(
    venue: str, symbol: str, timeframe: str = "1m", *, limit: int = 200, end: datetime | None = None
) -> list[Candle]:
    """The last ``limit`` closed-or-forming candles up to ``end`` (default now), oldest first.

    The forming candle is what was known at ``end`` — its close is the price at ``end`` —
    on the local venues; a chart never shows a close that has not happened yet.

    Real venues return what the engine cached for them (the engine fetches once per
    symbol and interval for every bot); nothing here calls the network.
    """
    seconds = timeframe_seconds(timeframe)
    limit = max(1, min(int(limit), 1000))
    now = _epoch(end)
    if venue == "simulated":
        last_open = now - now % seconds
        rows = [_simulated_candle(symbol, last_open - i * seconds, seconds) for i in range(limit - 1, -1, -1)]
        if last_open < now:  # the forming candle, as far as it has formed
            rows[-1] = _simulated_forming(symbol, last_open, seconds, now)
        return rows
    if venue == "replay":
        return _replay_candles(symbol, seconds, limit, now)
    cached = cache.get(_cache_key(venue, symbol, timeframe))
    return [Candle(*row) for row in cached["rows"][-limit:]] if cached else []


def price_at(venue: str, symbol: str, ts: int) -> float | None:
    """The price known at epoch second ``ts``: exact for simulated, the open of the recorded
    candle containing ``ts`` for replay, the last ticker fetched at or before ``ts`` for real
    venues (else, when none is remembered, the last cached candle close at or before ``ts``)."""
    if venue == "simulated":
        return _round(simulated_price(symbol, ts))
    if venue == "replay":
        rec = _recording(symbol)
        if len(rec.rows) < 2:
            return None
        # The recorded candle containing ts closes after ts: only its open was known then.
        candle = _replay_candle(symbol, ts - ts % rec.step, rec.step)
        return candle.open if candle else None
    known = _known_at(_price_history(venue, symbol), ts)
    if known is not None:
        return known[1]
    for tf in ("1m", *TIMEFRAMES):
        cached = cache.get(_cache_key(venue, symbol, tf))
        if cached and cached["rows"]:
            before = [row for row in cached["rows"] if row[0] <= ts]
            return (before or cached["rows"])[-1][4]
    return None


def last_price(venue: str, symbol: str, *, at: datetime | None = None) -> Decimal | None:
    """The price a bot on ``venue`` sees for ``symbol`` now (or at ``at``), if known."""
    price = price_at(venue, symbol, _epoch(at))
    return Decimal(str(price)) if price is not None else None


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


# ---------------------------------------------------------------------------
# Venue rules (lot size, minimum notional) for sizing paper and live orders
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MarketRules:
    amount_step: Decimal | None = None  # quantities are multiples of this
    min_amount: Decimal | None = None
    min_notional: Decimal | None = None  # quote currency


# The simulated and replay venues behave like a typical spot exchange.
LOCAL_MIN_NOTIONAL = {"USDT": Decimal("5"), "USD": Decimal("5"), "BTC": Decimal("0.0001"), "INR": Decimal("10")}
RULES_CACHE_KEY = "bots:rules:{venue}:{symbol}"
RULES_LOADED_KEY = "bots:rules-loaded:{venue}"


def market_rules(venue: str, symbol: str) -> MarketRules:
    """What the venue says about order sizes for ``symbol`` (cached per venue); never calls out."""
    quote = symbol.split("/", 1)[1].split(":", 1)[0] if "/" in symbol else ""
    if venue in LOCAL_VENUES:
        return MarketRules(amount_step=Decimal("0.000001"), min_notional=LOCAL_MIN_NOTIONAL.get(quote))
    cached = cache.get(RULES_CACHE_KEY.format(venue=venue, symbol=symbol))
    if cached:
        return MarketRules(*(Decimal(v) if v is not None else None for v in cached))
    return MarketRules()


def market_rules_store(venue: str, rules: dict[str, MarketRules], *, ttl: int = 6 * 3600) -> None:
    cache.set_many(
        {
            RULES_CACHE_KEY.format(venue=venue, symbol=symbol): tuple(
                None if v is None else str(v) for v in (r.amount_step, r.min_amount, r.min_notional)
            )
            for symbol, r in rules.items()
        },
        ttl,
    )
    cache.set(RULES_LOADED_KEY.format(venue=venue), 1, ttl)


def market_rules_loaded(venue: str) -> bool:
    """Whether ``venue``'s markets were loaded lately (a symbol without rules then has none to load)."""
    return cache.get(RULES_LOADED_KEY.format(venue=venue)) is not None


def load_market_rules(venue: str, client) -> None:
    """Load ``venue``'s markets through ``client`` (network) and share their rules and symbols.

    Raises the client's ``VenueError``. Never call it while holding a database lock.
    """
    markets = client.fetch_markets()
    market_rules_store(
        venue,
        {
            m.symbol: MarketRules(amount_step=m.amount_step, min_amount=m.min_amount, min_notional=m.min_notional)
            for m in markets
        },
    )


# ---------------------------------------------------------------------------
# The batch memo
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    """What a strategy sees: closes of closed candles (oldest first) and the price now."""

    closes: np.ndarray
    price: float
    time: int  # epoch seconds of ``price``


_closed_lru: OrderedDict[tuple, np.ndarray] = OrderedDict()
_CLOSED_LRU_MAX = 512


def _closed_closes(venue: str, symbol: str, timeframe: str, last_closed_open: int, limit: int) -> np.ndarray:
    """Closes of the ``limit`` closed candles ending with the one opening at ``last_closed_open``."""
    key = (venue, symbol, timeframe, last_closed_open, limit)
    hit = _closed_lru.get(key)
    if hit is not None:
        _closed_lru.move_to_end(key)
        return hit
    # Up to the moment that candle closed, so it comes whole; the one opening then is dropped.
    closed_at = datetime.fromtimestamp(last_closed_open + timeframe_seconds(timeframe), UTC)
    rows = [c for c in candles(venue, symbol, timeframe, limit=limit + 1, end=closed_at) if c.time <= last_closed_open]
    closes = np.fromiter((c.close for c in rows), dtype=float, count=len(rows))
    closes.setflags(write=False)
    if venue in LOCAL_VENUES:  # closed local candles never change
        _closed_lru[key] = closes
        while len(_closed_lru) > _CLOSED_LRU_MAX:
            _closed_lru.popitem(last=False)
    return closes


class Snapshot:
    """Market data for one tick batch: every series is computed or fetched once per batch."""

    def __init__(self, now: datetime):
        self.now = now
        self.ts = int(now.timestamp())
        self._series: dict[tuple, Series | None] = {}
        self.fetches = 0  # how many real-venue fetches this batch triggered (tests, bench)

    def series(self, venue: str, symbol: str, timeframe: str, limit: int) -> Series | None:
        key = (venue, symbol, timeframe, limit)
        if key in self._series:
            return self._series[key]
        seconds = timeframe_seconds(timeframe)
        result: Series | None
        if venue in LOCAL_VENUES:
            if venue == "replay" and (refusal := replay_timeframe_refusal(symbol, timeframe)):
                raise MarketDataError(refusal)
            last_closed_open = self.ts - self.ts % seconds - seconds
            closes = _closed_closes(venue, symbol, timeframe, last_closed_open, limit)
            price = self.price(venue, symbol)
        else:
            self.fetches += 1
            self._load_rules(venue)
            rows = fetch_venue_candles(venue, symbol, timeframe, now=self.ts)
            closed = [c for c in rows if c.time + seconds <= self.ts][-limit:]
            closes = np.fromiter((c.close for c in closed), dtype=float, count=len(closed))
            price = self.price(venue, symbol) if len(closes) else None
        result = Series(closes, price, self.ts) if price is not None and len(closes) else None
        self._series[key] = result
        return result

    def price(self, venue: str, symbol: str) -> float | None:
        """The price now: computed at this batch's moment locally, a fresh ticker on real venues."""
        key = (venue, symbol, "price")
        if key not in self._series:
            if venue in LOCAL_VENUES:
                price = price_at(venue, symbol, self.ts)
            else:
                price = fresh_price(venue, symbol, now=self.ts)
            self._series[key] = Series(np.empty(0), price, self.ts) if price is not None else None
        hit = self._series[key]
        return hit.price if hit else None

    def _load_rules(self, venue: str) -> None:
        """The venue's order-size rules, loaded (keyless, once per venue for the fleet) before any
        row lock is taken, so paper fills in the training bay obey the limits a live order will."""
        if ("rules", venue) in self._series:
            return
        self._series[("rules", venue)] = None
        if market_rules_loaded(venue):
            return
        if not cache.add(f"{RULES_LOADED_KEY.format(venue=venue)}:lock", 1, timeout=60):
            return  # another worker loads them, or a failed load is retried after a minute
        from credentials.exceptions import VenueError
        from credentials.providers import public_client

        try:
            load_market_rules(venue, public_client(venue))
        except VenueError as exc:
            logger.warning("Markets of %s unavailable: %s", venue, exc)
