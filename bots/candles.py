"""The candle store: what backtests run on (DESIGN.md: ``bots`` owns it).

* **Shipped recordings** (``bots/data/replay``) are the ``replay`` venue's candles; they are
  loaded into the store the first time anyone asks for coverage or a backtest
  (:func:`ensure_shipped`), so a fresh clone backtests with no download.
* **Imports** (``manage.py candles import FILE``): the CSV ``timestamp,open,high,low,close,volume``
  and the JSON array ``[[epoch_ms, o, h, l, c, v], …]`` that freqtrade and ccxt users export.
* **Downloads** (``manage.py candles download``): ccxt's public OHLCV, see :mod:`bots.candle_download`.

Loading is one SQL statement into numpy arrays (:func:`load`): no model instances, no datetimes.
Gaps (missing periods) are counted by :func:`coverage` and filled flat by :func:`series` exactly
as the replay venue fills them, so a backtest and a replay bot see the same market.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from django.db import connection
from django.db.models import Count, Max, Min

from bots.engine import market
from bots.models import Candle
from bots.strategies import TIMEFRAMES
from core.errors import Invalid

BATCH = 5000


@dataclass(frozen=True)
class Rows:
    """Candles as columns (epoch seconds of the open; floats), oldest first."""

    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.time)


def timeframe_seconds(timeframe: str) -> int:
    if timeframe not in TIMEFRAMES:
        raise Invalid(f"unknown timeframe {timeframe!r}; one of {', '.join(TIMEFRAMES)}", code="INVALID_TIMEFRAME")
    return TIMEFRAMES[timeframe]


# ---------------------------------------------------------------------------
# Parsing and storing
# ---------------------------------------------------------------------------
def parse(text: str, *, name: str = "") -> list[tuple]:
    """Rows ``(time, o, h, l, c, v)`` of a CSV or JSON-array export; ``Invalid`` naming the line."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
            return [(int(r[0]) // 1000, *(float(v) for v in r[1:6])) for r in data]
        except (ValueError, TypeError, IndexError) as exc:
            raise Invalid(f"{name or 'file'}: not a JSON array of [epoch_ms, o, h, l, c, v] ({exc})") from None
    out = []
    reader = csv.DictReader(io.StringIO(text))
    missing = {"timestamp", "open", "high", "low", "close"} - set(reader.fieldnames or [])
    if missing:
        raise Invalid(f"{name or 'file'}: CSV without column(s) {', '.join(sorted(missing))}")
    for line, r in enumerate(reader, start=2):
        try:
            raw = r["timestamp"].strip()
            when = (
                int(raw) // 1000
                if raw.isdigit()
                else int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp())
            )
            out.append((when, *(float(r[k]) for k in ("open", "high", "low", "close")), float(r.get("volume") or 0)))
        except (ValueError, TypeError) as exc:
            raise Invalid(f"{name or 'file'} line {line}: {exc}") from None
    return out


def store(exchange: str, symbol: str, timeframe: str, rows: list[tuple]) -> int:
    """Insert rows not yet stored (a re-import or a resumed download adds only what is new)."""
    seconds = timeframe_seconds(timeframe)
    rows = [r for r in rows if r[0] % seconds == 0]
    added = 0
    for i in range(0, len(rows), BATCH):
        chunk = [
            Candle(
                exchange=exchange, symbol=symbol, timeframe=timeframe, time=t, open=o, high=h, low=lo, close=c, volume=v
            )
            for t, o, h, lo, c, v in rows[i : i + BATCH]
        ]
        before = Candle.objects.filter(
            exchange=exchange, symbol=symbol, timeframe=timeframe, time__gte=chunk[0].time, time__lte=chunk[-1].time
        ).count()
        Candle.objects.bulk_create(chunk, ignore_conflicts=True)
        after = Candle.objects.filter(
            exchange=exchange, symbol=symbol, timeframe=timeframe, time__gte=chunk[0].time, time__lte=chunk[-1].time
        ).count()
        added += after - before
    return added


def import_file(path: Path | str, *, exchange: str, symbol: str, timeframe: str) -> int:
    path = Path(path)
    return store(exchange, symbol, timeframe, parse(path.read_text(), name=path.name))


def ensure_shipped() -> None:
    """The recordings shipped with the product, as the ``replay`` venue's stored candles.

    One existence query per recording (no process-wide memo: a store emptied by a restore or a
    rolled-back test must be refilled)."""
    for symbol in market.replay_symbols():
        step = market.replay_step(symbol)
        timeframe = next((name for name, s in TIMEFRAMES.items() if s == step), None)
        if timeframe and not Candle.objects.filter(exchange="replay", symbol=symbol, timeframe=timeframe).exists():
            rows = [(c.time, c.open, c.high, c.low, c.close, c.volume) for c in market._replay_file(symbol)]
            store("replay", symbol, timeframe, rows)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------
def load(exchange: str, symbol: str, timeframe: str, *, since: int, until: int) -> Rows:
    """Stored candles opening in ``[since, until]`` (epoch seconds): one query into arrays."""
    table = connection.ops.quote_name(Candle._meta.db_table)
    sql = (
        f'SELECT "time", "open", "high", "low", "close", "volume" FROM {table} '  # noqa: S608 - fixed columns
        'WHERE exchange = %s AND symbol = %s AND timeframe = %s AND "time" >= %s AND "time" <= %s ORDER BY "time"'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [exchange, symbol, timeframe, int(since), int(until)])
        data = cursor.fetchall()
    if not data:
        empty = np.empty(0)
        return Rows(np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty)
    # Straight from the row tuples into one float block (np.array on a list of tuples inspects
    # every row first: twice as slow). Times are whole seconds, exact as doubles.
    arr = np.fromiter(itertools.chain.from_iterable(data), dtype=float, count=6 * len(data)).reshape(-1, 6)
    columns = arr.T.copy()  # one contiguous array per column
    return Rows(columns[0].astype(np.int64), columns[1], columns[2], columns[3], columns[4], columns[5])


def filled(rows: Rows, seconds: int, *, since: int | None = None, until: int | None = None) -> Rows:
    """Every period from the first stored candle to the last (within ``since``/``until``), gaps
    filled flat at the previous close with no volume: what the replay venue shows for a gap."""
    if not len(rows):
        return rows
    start = rows.time[0] if since is None else max(int(rows.time[0]), since - since % seconds)
    end = rows.time[-1] if until is None else min(int(rows.time[-1]), until)
    times = np.arange(start, end + 1, seconds, dtype=np.int64)
    if len(times) == len(rows) and np.array_equal(times, rows.time):
        return rows
    index = np.searchsorted(rows.time, times, side="right") - 1  # the last stored candle at or before
    exact = rows.time[np.clip(index, 0, None)] == times
    prev_close = rows.close[np.clip(index, 0, None)]
    pick = np.clip(index, 0, None)

    def column(values: np.ndarray) -> np.ndarray:
        return np.where(exact, values[pick], prev_close)

    return Rows(
        times,
        column(rows.open),
        column(rows.high),
        column(rows.low),
        rows.close[pick],
        np.where(exact, rows.volume[pick], 0.0),
    )


def coverage(*, exchange: str | None = None, symbol: str | None = None, timeframe: str | None = None) -> list[dict]:
    """What the store holds per market: first and last candle, how many, how many periods missing."""
    ensure_shipped()
    qs = Candle.objects.all()
    if exchange:
        qs = qs.filter(exchange=exchange)
    if symbol:
        qs = qs.filter(symbol=symbol)
    if timeframe:
        qs = qs.filter(timeframe=timeframe)
    groups = (
        qs.values("exchange", "symbol", "timeframe")
        .annotate(first=Min("time"), last=Max("time"), n=Count("id"))
        .order_by("exchange", "symbol", "timeframe")
    )
    out = []
    for g in groups:
        seconds = TIMEFRAMES.get(g["timeframe"], 60)
        expected = (g["last"] - g["first"]) // seconds + 1
        out.append(
            {
                "exchange": g["exchange"],
                "symbol": g["symbol"],
                "timeframe": g["timeframe"],
                "since": iso(g["first"]),
                "until": iso(g["last"]),
                "candles": g["n"],
                "gaps": int(expected - g["n"]),
            }
        )
    return out


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def as_dicts(rows: Rows) -> list[dict]:
    return [
        {"time": iso(int(t)), "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for t, o, h, lo, c, v in zip(
            rows.time.tolist(),
            rows.open.tolist(),
            rows.high.tolist(),
            rows.low.tolist(),
            rows.close.tolist(),
            rows.volume.tolist(),
            strict=True,
        )
    ]
