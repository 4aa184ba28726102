"""The candle store: imports (CSV, JSON array), downloads through ccxt (resumable), coverage and gaps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bots import candle_download, candles
from bots.models import Candle

DAY = datetime(2024, 1, 1, tzinfo=UTC)


def _csv(path, times, price=1.0):
    lines = ["timestamp,open,high,low,close,volume"]
    for i, t in enumerate(times):
        stamp = datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
        lines.append(f"{stamp},{price + i},{price + i + 1},{price + i - 1},{price + i + 0.5},{i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_csv_is_imported_once_and_its_gaps_are_known(tmp_path, db, capsys):
    start = int(DAY.timestamp())
    times = [start + 300 * i for i in range(10) if i not in (3, 4, 7)]  # three 5m periods missing
    path = _csv(tmp_path / "FOO_BAR-5m.csv", times)

    call_command("candles", "import", str(path), "--exchange", "mine")
    call_command("candles", "import", str(path), "--exchange", "mine")  # a re-import adds nothing

    out = capsys.readouterr().out
    assert "Imported 7 new 5m candles of FOO/BAR on mine" in out and "Imported 0 new" in out
    [cover] = candles.coverage(exchange="mine")
    assert cover == {
        "exchange": "mine",
        "symbol": "FOO/BAR",
        "timeframe": "5m",
        "since": "2024-01-01T00:00:00Z",
        "until": "2024-01-01T00:45:00Z",
        "candles": 7,
        "gaps": 3,
    }


def test_a_json_array_export_is_imported(tmp_path, db):
    start = int(DAY.timestamp()) * 1000
    rows = [[start + 60_000 * i, 1, 2, 0.5, 1.5, 10] for i in range(5)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(rows))
    call_command("candles", "import", str(path), "--exchange", "mine", "--symbol", "A/B", "--timeframe", "1m")
    loaded = candles.load("mine", "A/B", "1m", since=0, until=2**40)
    assert loaded.time.tolist() == [start // 1000 + 60 * i for i in range(5)]
    assert loaded.close.tolist() == [1.5] * 5


def test_a_broken_file_is_refused_naming_the_line(tmp_path, db):
    path = tmp_path / "X_Y-1m.csv"
    path.write_text("timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0,1,1\nnot-a-date,1,2,0,1,1\n")
    with pytest.raises(CommandError, match="line 3"):
        call_command("candles", "import", str(path))
    assert not Candle.objects.filter(symbol="X/Y").exists()


def test_gaps_are_filled_flat_at_the_previous_close_as_the_replay_venue_shows_them(db):
    start = int(DAY.timestamp())
    candles.store("mine", "A/B", "1m", [(start, 1, 2, 0.5, 1.5, 3), (start + 180, 2, 3, 1, 2.5, 4)])
    rows = candles.filled(candles.load("mine", "A/B", "1m", since=0, until=2**40), 60)
    assert rows.time.tolist() == [start, start + 60, start + 120, start + 180]
    assert rows.open.tolist() == [1, 1.5, 1.5, 2]
    assert rows.close.tolist() == [1.5, 1.5, 1.5, 2.5]
    assert rows.volume.tolist() == [3, 0, 0, 4]


def test_the_shipped_recordings_are_in_the_store_with_their_gaps(owner_api):
    body = owner_api.get("/api/candles/coverage").json()
    by_symbol = {c["symbol"]: c for c in body["coverage"] if c["exchange"] == "replay"}
    recorded = json.loads(Path("bots/data/replay/UNITTEST_BTC-1m.json").read_text())
    span = (recorded[-1][0] - recorded[0][0]) // 60_000 + 1
    assert by_symbol["UNITTEST/BTC"]["candles"] == len(recorded)
    assert by_symbol["UNITTEST/BTC"]["gaps"] == span - len(recorded) > 0
    assert by_symbol["ETH/BTC"]["timeframe"] == "5m" and by_symbol["ETH/BTC"]["gaps"] == 0


def test_get_candles_serves_a_range_of_the_store(owner_api):
    response = owner_api.get(
        "/api/candles?exchange=replay&symbol=ETH/BTC&timeframe=5m&since=2018-01-12T00:00:00Z&until=2018-01-12T01:00:00Z"
    )
    body = response.json()
    assert response.status_code == 200 and len(body["candles"]) == 13
    assert body["candles"][0]["time"] == "2018-01-12T00:00:00Z"
    assert set(body["candles"][0]) == {"time", "open", "high", "low", "close", "volume"}
    assert owner_api.get("/api/candles?exchange=replay&symbol=ETH/BTC").status_code == 400
    assert owner_api.get("/api/candles?exchange=replay&symbol=ETH/BTC&timeframe=5m&since=x").status_code == 400


def test_a_download_stores_history_page_by_page_and_resumes_after_an_interruption(fake_exchange, db):
    since = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2500)
    until = since + timedelta(minutes=2399)
    fake_exchange.missing = {int((since + timedelta(minutes=m)).timestamp()) * 1000 for m in (10, 11)}
    client = candle_download.client_for("binance")

    class Flaky:
        """The venue goes away after the first page."""

        calls = 0

        def fetch_ohlcv(self, **kwargs):
            Flaky.calls += 1
            if Flaky.calls > 1:
                from credentials.exceptions import VenueError

                raise VenueError("connection reset")
            return client.fetch_ohlcv(**kwargs)

    from credentials.exceptions import VenueError

    with pytest.raises(VenueError):
        candle_download.download(
            "binance", "BTC/USDT", "1m", since=int(since.timestamp()), until=int(until.timestamp()), client=Flaky()
        )
    first = Candle.objects.filter(exchange="binance").count()
    assert first == 998  # one page of 1,000 minutes, two of them missing on the venue

    pages_before = fake_exchange.kline_pages
    seen = []
    report = candle_download.download(
        "binance",
        "BTC/USDT",
        "1m",
        since=int(since.timestamp()),
        until=int(until.timestamp()),
        client=client,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert report.resumed_from == int(since.timestamp()) + 1000 * 60
    assert fake_exchange.kline_pages - pages_before == 2  # the rest: 1,400 minutes, not all 2,400 again
    [cover] = candles.coverage(exchange="binance")
    assert (cover["candles"], cover["gaps"]) == (2398, 2)
    assert seen[-1] == (2400, 2400)


def test_the_download_command_prints_progress_and_coverage(fake_exchange, db, capsys):
    since = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    until = since + timedelta(minutes=59)
    call_command(
        "candles",
        "download",
        "--exchange",
        "binance",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1m",
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
    )
    captured = capsys.readouterr()
    assert "60/60 candles" in captured.err
    assert "Downloaded 60 new candles" in captured.out and "60 candles, 0 gaps" in captured.out
