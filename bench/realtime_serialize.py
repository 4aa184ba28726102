"""How long a typical event takes to serialize: orjson (what the relay uses) vs stdlib json.

    .venv/bin/python bench/realtime_serialize.py

Goal: < 10 µs per event with the path the relay takes (``realtime.serialization.event_json``).
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from realtime.serialization import event_json  # noqa: E402

NOW = datetime.datetime(2026, 11, 21, 10, 0, tzinfo=datetime.UTC)
PAYLOAD = {
    "trade": {
        "id": 123456,
        "bot_id": 42,
        "symbol": "BTC/USDT",
        "side": "buy",
        "price": decimal.Decimal("64123.45"),
        "quantity": decimal.Decimal("0.0156"),
        "fee": decimal.Decimal("0.998"),
        "pnl": None,
        "executed_at": NOW,
    },
    "bot": {"id": 42, "name": "Bot-1", "status": "running"},
}


def stdlib_default(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return str(value)


def with_orjson() -> str:
    return event_json(type="trade_executed", seq=987654, payload=PAYLOAD, message="Bought 0.0156 BTC", created_at=NOW)


def with_stdlib() -> str:
    body = {"type": "trade_executed", "seq": 987654, **PAYLOAD, "message": "Bought 0.0156 BTC", "timestamp": NOW}
    return json.dumps(body, default=stdlib_default, separators=(",", ":"))


def measure(fn, number=50_000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    size = len(with_orjson().encode())
    rows = [("orjson (realtime.serialization)", measure(with_orjson)), ("stdlib json", measure(with_stdlib))]
    print(f"typical event: {size} bytes (trade_executed with decimals, datetimes, nested bot)\n")
    print("| serializer | µs per event | goal < 10 µs |")
    print("|---|---:|---|")
    for name, micros in rows:
        print(f"| {name} | {micros:.2f} | {'yes' if micros < 10 else 'no'} |")


if __name__ == "__main__":
    main()
