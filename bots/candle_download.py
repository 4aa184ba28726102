"""``manage.py candles download``: history through a venue's public OHLCV endpoint (ccxt).

Resumable: a download starts after the last candle already stored in the range, so an
interrupted one (Ctrl-C, a network error) is simply run again. Pages are stored as they
arrive, one short transaction each; no transaction is held across a request. A venue that
needs keys for history uses the user's **backtest** key set (``--user``), never a live one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Max

from bots import candles
from bots.models import Candle
from core.errors import Invalid

PAGE = 1000


@dataclass
class Report:
    stored: int = 0
    pages: int = 0
    resumed_from: int | None = None  # epoch s where a resumed download started
    last: int | None = None  # the last candle's time seen


def client_for(exchange: str, *, user=None):
    from credentials import providers

    if user is None:
        return providers.public_client(exchange)
    from credentials.selectors import credential_for_order

    credential = credential_for_order(user=user, provider=exchange, purpose="backtest")
    return providers.client_for(credential) if credential is not None else providers.public_client(exchange)


def download(
    exchange: str,
    symbol: str,
    timeframe: str,
    *,
    since: int,
    until: int,
    client,
    progress: Callable[[int, int], None] | None = None,
    page: int = PAGE,
) -> Report:
    """Fetch and store candles opening in ``[since, until]`` (epoch s). ``progress(done, total)``
    in candles of the range."""
    seconds = candles.timeframe_seconds(timeframe)
    if since > until:
        raise Invalid("--since must be before --until", code="INVERTED_RANGE")
    start = since - since % seconds if since % seconds == 0 else since - since % seconds + seconds
    total = max((until - start) // seconds + 1, 0)
    report = Report()
    stored_last = Candle.objects.filter(
        exchange=exchange, symbol=symbol, timeframe=timeframe, time__gte=start, time__lte=until
    ).aggregate(last=Max("time"))["last"]
    if stored_last is not None:
        start = stored_last + seconds
        report.resumed_from = start
    while start <= until:
        rows = client.fetch_ohlcv(symbol=symbol, timeframe=timeframe, since_ms=start * 1000, limit=page)
        report.pages += 1
        batch = [
            (int(r[0]) // 1000, float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5] or 0))
            for r in rows
            if start <= int(r[0]) // 1000 <= until
        ]
        if not batch:
            break  # the venue has nothing more (the range's end lies in the future, or before its listing)
        report.stored += candles.store(exchange, symbol, timeframe, batch)
        report.last = batch[-1][0]
        start = batch[-1][0] + seconds
        if progress is not None:
            progress(min(total, (report.last - since) // seconds + 1), total)
    return report
