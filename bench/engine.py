"""Benchmark of the engine's tick (issue 6): 1,000 and 10,000 paper bots on the simulated venue.

For each fleet size, in one process (one "worker"), prints side by side:

* ticks/s — bot ticks per second of wall time through ``tick_batch`` (claim, market data,
  strategy, risk, bookkeeping), batches of ``--batch`` bots;
* queries per tick — database round trips per bot tick averaged over the batches, for
  idle ticks (RSI bots whose thresholds are never reached: the full decision, no order)
  and trading ticks (DCA bots that buy on every tick: intent, fill, trade, position,
  rollup, event);
* p95 batch latency.

Goals: ≥ 1,000 ticks/s per worker process, ≤ 0.2 queries per idle tick (issue 6); trading
ticks ≤ 10 queries each and ≥ 300/s per process (issue 19). A second table sets the trading
tick beside its baselines: the idle tick of the same run (the same decision, nothing booked)
and the figures issue 19 recorded before the trading tick was cut down (28 queries, 33/s on
PostgreSQL), each with its ratio.

Creates its own database on ``--database-url`` (or ``BENCH_DATABASE_URL``; default
postgres://postgres@127.0.0.1:5432/postgres, used only to create and drop it) and drops it
at the end; ``--database-url sqlite`` runs on the embedded default (SQLite in a temporary
directory). In-process; the cache is local memory (market data for the simulated venue
needs none).

    .venv/bin/python bench/engine.py [--sizes 1000 10000] [--rounds 3] [--batch 500] [--trading 1000]
        [--database-url URL|sqlite]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

T0 = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]


# Issue 19, "Figures": the trading tick before it was cut down (PostgreSQL, one process).
BEFORE = {"queries_per_tick": 28.0, "ticks_s": 33.0}
GOALS = {"queries_per_tick": 10.0, "ticks_s": 300.0}


def _setup(db_url: str) -> None:
    from cryptography.fernet import Fernet

    if db_url:
        os.environ["DATABASE_URL"] = db_url
    else:  # the embedded default: SQLite in its own data directory
        os.environ.pop("DATABASE_URL", None)
        os.environ["BOTFLEET_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-engine-")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "FERNET_KEYS": Fernet.generate_key().decode(),
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "BOTFLEET_LOCAL_SECRETS": "0",
            "ALLOWED_HOSTS": "localhost",
            "LOG_LEVEL": "WARNING",
            "CACHE_URL": "locmemcache://",
            "ENGINE_MAX_DAILY_TRADES": "0",
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _fleet(n: int, *, strategy: str, params: dict) -> None:
    from accounts.models import User
    from bots.models import Bot, BotDailyPnl, Order, Position, Trade
    from realtime.models import Event

    Event.objects.all().delete()
    Trade.objects.all().delete()
    Order.objects.all().delete()
    Position.objects.all().delete()
    BotDailyPnl.objects.all().delete()
    Bot.objects.all().delete()
    user, _ = User.objects.get_or_create(email="bench@example.com", defaults={"username": "bench"})
    Bot.objects.bulk_create(
        [
            Bot(
                owner=user,
                name=f"bench-{i}",
                exchange="simulated",
                symbol=SYMBOLS[i % len(SYMBOLS)],
                strategy=strategy,
                params=params,
                timeframe="1m",
                interval_seconds=60,
                capital=Decimal("100000"),
                cash_balance=Decimal("100000"),
                quote_currency="USDT",
                status=Bot.Status.RUNNING,
                next_tick_at=T0 - timedelta(seconds=1),
            )
            for i in range(n)
        ],
        batch_size=2000,
    )


def _round(now: datetime, batch: int, counter: QueryCounter) -> tuple[int, int, int, float, list[float]]:
    """Tick every due bot once at ``now``: (ticks, orders, queries, seconds, batch latencies)."""
    from bots.engine import tick
    from bots.models import Bot

    Bot.objects.update(next_tick_at=now - timedelta(seconds=1), claimed_until=None)
    ticks = orders = 0
    latencies = []
    before = counter.count
    started = time.perf_counter()
    while True:
        t = time.perf_counter()
        report = tick.tick_batch(limit=batch, now=now)
        if not report.claimed:
            break
        latencies.append(time.perf_counter() - t)
        ticks += report.claimed
        orders += report.orders
    return ticks, orders, counter.count - before, time.perf_counter() - started, latencies


def _measure(n: int, *, rounds: int, batch: int, strategy: str, params: dict, counter) -> dict:
    _fleet(n, strategy=strategy, params=params)
    ticks = orders = queries = 0
    seconds = 0.0
    latencies: list[float] = []
    for r in range(rounds):
        t, o, q, s, lat = _round(T0 + timedelta(minutes=r), batch, counter)
        ticks, orders, queries, seconds = ticks + t, orders + o, queries + q, seconds + s
        latencies += lat
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else latencies[0]
    return {
        "bots": n,
        "ticks": ticks,
        "orders": orders,
        "ticks_s": ticks / seconds,
        "queries_per_tick": queries / ticks,
        "p95_ms": p95 * 1000,
        "batches": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--trading", type=int, default=1000, help="trading bots per size (capped at the size)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to create the bench database on, or 'sqlite' (the embedded default)",
    )
    args = parser.parse_args()

    sqlite = args.database_url == "sqlite"
    admin_url = args.database_url
    name = f"bench_engine_{os.getpid()}"
    if not sqlite:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _setup("" if sqlite else urlunparse(urlparse(admin_url)._replace(path=f"/{name}")))
        from django.db import connection

        counter = QueryCounter()
        rows = []
        with connection.execute_wrapper(counter):
            for n in args.sizes:
                idle = _measure(
                    n,
                    rounds=args.rounds,
                    batch=args.batch,
                    strategy="rsi",
                    params={"period": 14, "oversold": 1, "overbought": 99},
                    counter=counter,
                )
                trading = _measure(
                    min(n, args.trading),
                    rounds=1,
                    batch=args.batch,
                    strategy="dca",
                    params={"order_pct": 0.001, "every_ticks": 1, "max_orders": 10000, "take_profit_pct": 10},
                    counter=counter,
                )
                rows.append((n, idle, trading))
        backend = "SQLite (embedded default)" if sqlite else "PostgreSQL"
        print(f"\nEngine tick on {backend}, one process, batches of {args.batch} (paper, simulated venue)\n")
        head = (
            f"{'fleet':>7} | {'idle ticks/s':>12} {'q/idle tick':>11} {'p95 batch':>10} | "
            f"{'trading bots':>12} {'ticks/s':>8} {'q/trade tick':>12} {'p95 batch':>10} {'orders':>7}"
        )
        print(head)
        print("-" * len(head))
        for n, idle, trading in rows:
            print(
                f"{n:>7,} | {idle['ticks_s']:>12,.0f} {idle['queries_per_tick']:>11.3f} {idle['p95_ms']:>8.1f}ms | "
                f"{trading['bots']:>12,} {trading['ticks_s']:>8,.0f} {trading['queries_per_tick']:>12.2f} "
                f"{trading['p95_ms']:>8.1f}ms {trading['orders']:>7,}"
            )
        print(f"\nIdle: {args.rounds} rounds of every bot; trading: one round, every tick places and fills an order.")
        print("Goal: >= 1,000 ticks/s per worker process; <= 0.2 queries per idle tick.")
        _baselines(rows)
    finally:
        from django.db import connections

        connections.close_all()
        if not sqlite:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _baselines(rows) -> None:
    """The trading tick beside the idle tick of the same run and the issue's "before", with ratios."""
    print("\nTrading tick (issue 19) beside its baselines: the idle tick of this run and the figure before\n")
    head = (
        f"{'fleet':>7} {'figure':>13} | {'trading':>9} | {'idle':>9} {'ratio':>7} | "
        f"{'before':>7} {'ratio':>7} | {'goal':>7} {'met':>4}"
    )
    print(head)
    print("-" * len(head))
    for n, idle, trading in rows:
        for key, label, fmt, better in (
            ("queries_per_tick", "queries/tick", "{:>9.2f}", min),
            ("ticks_s", "ticks/s", "{:>9,.0f}", max),
        ):
            figure, base, before, goal = trading[key], idle[key], BEFORE[key], GOALS[key]
            met = figure <= goal if better is min else figure >= goal
            idle_ratio = f"{figure / base:>6.1f}x" if base else f"{'-':>7}"
            print(
                f"{n:>7,} {label:>13} | {fmt.format(figure)} | {fmt.format(base)} {idle_ratio} | "
                f"{before:>7,.0f} {figure / before:>6.2f}x | {goal:>7,.0f} {'yes' if met else 'NO':>4}"
            )
    print("\nRatios: the trading figure divided by the baseline's. 'before': issue 19, PostgreSQL, one process.")


if __name__ == "__main__":
    main()
