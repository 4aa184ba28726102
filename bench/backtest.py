"""Benchmark of backtests (issue 19): one table, each figure beside its baseline measured in this run.

Rows:

* **decision core** — candles/s per process (CPU time: the machine may be shared) of
  :func:`bots.engine.backtest.run` (the in-memory ledger) for each strategy on ``UNITTEST/BTC 1m``
  and ``ETH/BTC 5m`` (the full recordings of ``../shared/data`` when present), beside the same
  run ticking every candle (``fast=False``: the baseline; both must place the same orders). The
  notes give the wall-clock rate and the database ledger (a paper bot on the ``replay`` venue,
  ``tick_bot`` once per candle, over ``--db-ticks`` candles): the path a backtest does not take.
  Goal ≥ 100,000 candles/s for ``sma_cross`` and ``rsi``.
* **candle load** — 100,000 stored candles into arrays (:func:`bots.candles.load`), beside the
  ORM reading the same rows (``values_list``). Goal < 0.3 s.
* **end to end** — ``backtest_create`` + the task (Celery eager, in process) over 5,760 ETH/BTC 5m
  candles: created → finished. Goal < 1 s. And a 100-combination sweep over the same candles
  through the service: created, its runs taken by ``--workers`` processes (as Celery workers
  take its tasks) until the sweep is finished, beside the same sweep on one process. Goal < 10 s
  on 2.

Runs on a fresh SQLite database in a temporary folder (the embedded default), or on
``--database-url`` (an empty database made for it: the bench migrates it and leaves its rows).

    .venv/bin/python bench/backtest.py [--db-ticks 300] [--workers 2] [--database-url postgres://...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The full recordings (../shared/data beside a checkout; a worktree's is further up), else the shipped ones.
SHARED = next((p / "shared" / "data" for p in ROOT.parents if (p / "shared" / "data").is_dir()), None)
DATA = SHARED or ROOT / "bots" / "data" / "replay"
PARAMS = {
    "sma_cross": {"fast": 10, "slow": 30},
    "rsi": {"period": 14, "oversold": 30, "overbought": 70},
    "grid": None,  # around each market's price (set below)
    "dca": {"order_pct": 0.05, "every_ticks": 12, "max_orders": 10, "take_profit_pct": 0.01},
}
NAN = float("nan")
MARKETS = [("UNITTEST/BTC", "1m", "UNITTEST_BTC-1m.json"), ("ETH/BTC", "5m", "ETH_BTC-5m.csv")]


def _setup(database_url: str | None) -> None:
    from cryptography.fernet import Fernet

    folder = tempfile.mkdtemp(prefix="bench-backtest-")
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
            "DISABLE_AI_BODYGUARD": "1",
            "BOTFLEET_DATA_DIR": folder,
        }
    )
    os.environ.pop("REDIS_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:  # the embedded default (SQLite with exact decimals) in a fresh folder
        os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from config.celery import app

    # End to end in this process: the task runs where it is sent (no broker in a benchmark).
    app.conf.task_always_eager = True


def _import_markets() -> None:
    from bots import candles

    for symbol, timeframe, name in MARKETS:
        candles.import_file(DATA / name, exchange="bench", symbol=symbol, timeframe=timeframe)


def _params(strategy: str, rows) -> dict:
    if strategy != "grid":
        return PARAMS[strategy]
    low, high = float(rows.close.min()), float(rows.close.max())
    return {"lower": round(low, 8), "upper": round(high, 8), "levels": 10}


def _config(strategy, symbol, timeframe, rows, *, exchange="bench", params=None):
    from bots.engine import backtest

    return backtest.Config(
        strategy=strategy,
        params=params or _params(strategy, rows),
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        since=int(rows.time[0]),
        until=int(rows.time[-1]),
        capital=Decimal(1),
        fee_pct=Decimal("0.001"),
        slippage_pct=Decimal("0.0005"),
    )


def _best(fn, repeat: int = 3) -> tuple[float, float, object]:
    """Best wall and CPU seconds of ``repeat`` calls (CPU time: the process's own work, what a
    busy shared machine does not inflate), and the last result."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return wall, cpu, result


def _core_rate(strategy, symbol, timeframe) -> tuple[float, float, float, int, int]:
    """Candles/s (CPU) of a run skipping quiet candles (the default) and of one ticking every
    candle (``fast=False``, the baseline), with the same orders; and the wall rate of the first."""
    from bots import candles
    from bots.engine import backtest

    seconds = candles.timeframe_seconds(timeframe)
    rows = candles.filled(candles.load("bench", symbol, timeframe, since=0, until=2**40), seconds)
    config = _config(strategy, symbol, timeframe, rows)
    wall, cpu, result = _best(lambda: backtest.run(config, rows))
    _, cpu_every, every = _best(lambda: backtest.run(config, rows, fast=False), repeat=2)
    if every.ledger.orders != result.ledger.orders:
        raise SystemExit(f"{strategy} {symbol}: the fast run's orders differ from the per-candle run's")
    return (
        result.candles / cpu,
        result.candles / cpu_every,
        result.candles / wall,
        result.candles,
        len(result.ledger.orders),
    )


def _db_rate(strategy, symbol, timeframe, ticks: int) -> float:
    """The same market ticked through the database ledger: a replay paper bot, one tick a candle."""
    from accounts.models import User
    from bots import candles
    from bots.engine import market, tick
    from bots.models import Bot

    seconds = candles.timeframe_seconds(timeframe)
    recording = market._replay_file(symbol)
    if not recording or market.replay_step(symbol) != seconds:
        return float("nan")
    rows = candles.load("replay", symbol, timeframe, since=0, until=2**40)
    user, _ = User.objects.get_or_create(email="bench@example.com", defaults={"username": "bench"})
    bot = Bot.objects.create(
        owner=user,
        name=f"db-{strategy}",
        exchange="replay",
        symbol=symbol,
        strategy=strategy,
        params=_params(strategy, rows),
        timeframe=timeframe,
        interval_seconds=seconds,
        capital=Decimal(1),
        cash_balance=Decimal(1),
        quote_currency=symbol.split("/")[1],
        status="running",
    )
    start = recording[0].time + seconds * 1000  # past every strategy's lookback
    started = time.perf_counter()
    for i in range(ticks):
        tick.tick_bot(bot.pk, now=datetime.fromtimestamp(start + i * seconds, UTC))
    return ticks / (time.perf_counter() - started)


def _load_rows() -> tuple[float, float, float]:
    """Median wall seconds of :func:`bots.candles.load` for 100,000 stored candles, its CPU
    seconds, and the ORM reading the same rows (``values_list``)."""
    from bots import candles
    from bots.models import Candle

    rows = [(1_000_000_020 + 60 * i, 1.0 + i * 1e-6, 1.1, 0.9, 1.0, 5.0) for i in range(100_000)]
    candles.store("load", "L/OAD", "1m", rows)
    times, cpu = [], []
    for _ in range(5):
        started, started_cpu = time.perf_counter(), time.process_time()
        loaded = candles.load("load", "L/OAD", "1m", since=0, until=2**40)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    if len(loaded) != 100_000:
        raise SystemExit(f"loaded {len(loaded)} candles, not 100,000")
    orm = []
    for _ in range(3):
        started = time.perf_counter()
        listed = list(
            Candle.objects.filter(exchange="load", symbol="L/OAD", timeframe="1m")
            .order_by("time")
            .values_list("time", "open", "high", "low", "close", "volume")
        )
        orm.append(time.perf_counter() - started)
    if len(listed) != 100_000:
        raise SystemExit(f"the ORM read {len(listed)} candles, not 100,000")
    return statistics.median(times), statistics.median(cpu), statistics.median(orm)


E2E = {
    "strategy": "sma_cross",
    "params": {"fast": 10, "slow": 30},
    "exchange": "bench",
    "symbol": "ETH/BTC",
    "timeframe": "5m",
    "since": "2018-01-10T04:55:00Z",  # the recording's 5,760 candles
    "until": "2018-01-30T04:50:00Z",
    "capital": "1",
}


def _end_to_end() -> tuple[float, float]:
    """``backtest_create`` → finished (the eager task runs it on commit): wall and CPU seconds."""
    from accounts.models import User
    from bots.models import Backtest
    from bots.services import backtests as service

    user, _ = User.objects.get_or_create(email="e2e@example.com", defaults={"username": "e2e"})

    def once():
        created = service.backtest_create(user=user, data=E2E)
        done = Backtest.objects.get(pk=created.pk)
        if done.status != "finished" or done.candles != 5760:
            raise SystemExit(f"the end-to-end backtest ended {done.status} after {done.candles} candles")

    wall, cpu, _ = _best(once)
    return wall, cpu


def _run_share(ids: list[int]) -> tuple[int, float]:
    """One worker process's share of a sweep's runs, each through the task's service: how many,
    and the CPU seconds they took."""
    from django.db import connections

    from bots.services import backtests as service

    connections.close_all()  # a forked child opens its own connection
    started = time.process_time()
    for pk in ids:
        if service.backtest_run(pk) != "finished":
            raise SystemExit(f"sweep run {pk} did not finish")
    connections.close_all()
    return len(ids), time.process_time() - started


def _sweep(workers: int) -> tuple[float, float]:
    """A 100-combination sweep through the service: created, its runs shared among ``workers``
    processes (as Celery workers take its tasks), until the sweep is finished. Wall seconds, and
    CPU seconds on the critical path (creating it, then the busiest worker's share): the wall
    time with a free core per worker."""
    from multiprocessing import get_context

    from django.db import connections

    from accounts.models import User
    from bots.models import Backtest
    from bots.services import backtests as service

    user, _ = User.objects.get_or_create(email="sweep@example.com", defaults={"username": "sweep"})
    grid = {"fast": list(range(5, 15)), "slow": list(range(20, 70, 5))}  # 100 combinations
    dispatch, service._dispatch = service._dispatch, lambda ids: None  # the workers below take them
    try:
        started, started_cpu = time.perf_counter(), time.process_time()
        sweep = service.backtest_create(user=user, data={**E2E, "params_grid": grid})
    finally:
        service._dispatch = dispatch
    ids = list(sweep.runs.order_by("pk").values_list("pk", flat=True))
    create_cpu = time.process_time() - started_cpu
    if workers == 1:
        shares = [_run_share(ids)]
    else:
        connections.close_all()
        with get_context("fork").Pool(workers) as pool:
            shares = pool.map(_run_share, [ids[i::workers] for i in range(workers)])
    if sum(n for n, _ in shares) != len(ids):
        raise SystemExit("a sweep share went missing")
    sweep = Backtest.objects.get(pk=sweep.pk)
    elapsed = time.perf_counter() - started
    if sweep.status != "finished" or len(ids) != 100:
        raise SystemExit(f"the sweep ended {sweep.status} with {len(ids)} runs")
    return elapsed, create_cpu + max(cpu for _, cpu in shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-ticks", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    _setup(args.database_url)
    _import_markets()
    from bots import candles

    candles.ensure_shipped()
    from django.db import connections

    table = []
    for symbol, timeframe, _ in MARKETS:
        for strategy in PARAMS:
            rate, every, wall, n, orders = _core_rate(strategy, symbol, timeframe)
            db = _db_rate(strategy, symbol, timeframe, args.db_ticks)
            print(f"  measured {strategy} {symbol} {timeframe}: {rate:,.0f} candles/s (wall {wall:,.0f})", flush=True)
            table.append(
                (
                    f"decision core {strategy} {symbol} {timeframe} ({n} candles, {orders} orders)",
                    f"{rate:,.0f} candles/s",
                    f"{every:,.0f}/s every candle",
                    rate / every,
                    f"wall {wall:,.0f}/s; DB ledger {db:,.0f} ticks/s",
                )
            )
    load, load_cpu, orm = _load_rows()
    table.append(
        (
            "load 100,000 candles (goal < 0.3 s)",
            f"{load:.3f} s",
            f"{orm:.3f} s ORM values_list",
            orm / load,
            f"CPU {load_cpu:.3f} s",
        )
    )
    e2e, e2e_cpu = _end_to_end()
    table.append(
        ("create → finished, 5,760 ETH/BTC 5m candles (goal < 1 s)", f"{e2e:.3f} s", "", NAN, f"CPU {e2e_cpu:.3f} s")
    )
    connections.close_all()
    one, one_cpu = _sweep(1)
    many, many_cpu = _sweep(args.workers)
    table.append(
        (
            f"sweep of 100 combinations, 5,760 candles, {args.workers} processes (goal < 10 s)",
            f"{many:.2f} s",
            f"{one:.2f} s on 1 process",
            one / many,
            f"CPU on the critical path {many_cpu:.2f} s ({one_cpu:.2f} s on 1)",
        )
    )
    width = max(len(r[0]) for r in table)
    print(f"{'figure':{width}}  {'measured':>18}  {'baseline':>26}  {'ratio':>8}  notes")
    for name, value, baseline, ratio, notes in table:
        shown = "" if ratio != ratio else f"{ratio:,.1f}x"
        print(f"{name:{width}}  {value:>18}  {baseline:>26}  {shown:>8}  {notes}")
    print(f"(machine load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
