"""Soak: 1,000 paper bots trading and 100 WebSocket clients for a bounded time, on the
production layout (the same processes as ``bench/load.py``: its own PostgreSQL database
and ``redis-server``, granian, daphne, the relay, a Celery worker and beat).

    .venv/bin/python bench/soak.py                 # 30 minutes
    .venv/bin/python bench/soak.py --minutes 5     # a short proof

Every minute it samples the RSS of every process (children included: granian's and
Celery's workers), the open connections to PostgreSQL (``pg_stat_activity`` for its
database) and to Redis (``CLIENT LIST`` on its own server), and the events and trades
so far. At the end it stops the trading, lets the relay drain, and checks that every
client received every event of its user exactly once (its seqs against the event
table). Verdicts: RSS growth < 10 % after warm-up, no connection growth, nothing lost.
Not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import PASSWORD, Layout, PostgresDatabase, RedisServer, environment, manage

SEED = """
import json
from datetime import timedelta
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.utils import timezone
from accounts.tokens import token_pair_for
from bots.models import Bot
User = get_user_model()
template = User(email="t@example.com"); template.set_password("{password}")
users = User.objects.bulk_create([
    User(email=f"soak{{i}}@example.com", username=f"soak{{i}}", password=template.password, is_active=True)
    for i in range({users})
])
now = timezone.now()
symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]
bots = []
for n in range({bots}):
    owner = users[n % len(users)]
    # DCA with a small take-profit: buys every tick and sells on small rises, so bots keep trading.
    bots.append(Bot(owner=owner, name=f"soak-{{n}}", exchange="simulated", symbol=symbols[n % 4],
        symbol_verified=True, strategy="dca",
        params={{"order_pct": 0.01, "every_ticks": 1, "max_orders": 100000, "take_profit_pct": 0.001}},
        timeframe="1m", interval_seconds={interval}, trading_mode="paper", capital=Decimal("10000"),
        cash_balance=Decimal("10000"), quote_currency="USDT", status="running",
        next_tick_at=now + timedelta(seconds=n % {interval})))
Bot.objects.bulk_create(bots, batch_size=1000)
print("SEED " + json.dumps([{{"id": u.pk, "token": token_pair_for(u)["access_token"]}} for u in users]))
"""


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def process_table(layout: Layout) -> dict[str, int]:
    """name -> pid for every process of the layout and its children."""
    table = {}
    for name in layout.processes:
        pids = layout.pids(name)
        table[name] = pids[0]
        for i, child in enumerate(pids[1:], 1):
            table[f"{name}.{i}"] = child
    return table


class Clients(threading.Thread):
    """100 WebSocket clients in their own event loop, each resuming from a baseline seq."""

    def __init__(self, port: int, users: list[dict], baseline: int):
        super().__init__(daemon=True)
        self.port, self.users, self.baseline = port, users, baseline
        self.seqs: dict[int, list[int]] = defaultdict(list)
        self.connected = 0
        self.reconnects = 0
        self.stop_event = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def _client(self, user: dict):
        import orjson
        import websockets

        last = self.baseline
        while not self.stop_event.is_set():
            url = f"ws://127.0.0.1:{self.port}/api/ws?token={user['token']}&last_seq={last}"
            try:
                async with websockets.connect(url, max_queue=None, ping_interval=None, open_timeout=60) as ws:
                    self.connected += 1
                    async for raw in ws:
                        message = orjson.loads(raw)
                        seq = message.get("seq")
                        if seq is not None:
                            self.seqs[user["id"]].append(seq)
                            last = max(last, seq)
            except (TimeoutError, OSError, websockets.WebSocketException):
                pass
            finally:
                self.connected -= 1
            if not self.stop_event.is_set():
                self.reconnects += 1
                await asyncio.sleep(1)

    async def _main(self):
        tasks = [asyncio.create_task(self._client(u)) for u in self.users]
        while not self.stop_event.is_set():
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def run(self):
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._main())


def sample(layout: Layout, db: PostgresDatabase, redis: RedisServer, pids: dict[str, int]) -> dict:
    import redis as redis_lib

    pg = db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [db.name])[0][0]
    client = redis_lib.Redis.from_url(redis.url, socket_timeout=5)
    redis_clients = len(client.client_list()) - 1  # less this sampler
    client.close()
    events, published = db.query("SELECT count(*), count(seq) FROM realtime_event")[0]
    trades = db.query("SELECT count(*) FROM bots_trade")[0][0]
    return {
        "rss": {name: rss_mb(pid) for name, pid in pids.items()},
        "pg": pg,
        "redis": redis_clients,
        "events": events,
        "published": published,
        "trades": trades,
    }


def print_samples(samples: list[dict], names: list[str]) -> None:
    headers = ["min", *names, "pg conns", "redis clients", "events", "trades", "ws recv"]
    rows = []
    for s in samples:
        rows.append(
            [f"{s['minute']:g}", *(f"{s['rss'].get(n, 0):.0f}" for n in names)]
            + [s["pg"], s["redis"], s["events"], s["trades"], s["ws"]]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=False)))
    for row in rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=False)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--interval", type=int, default=60, help="each bot's tick period, seconds")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--warmup-minutes", type=float, default=None, help="default: a fifth of the run, >= 1")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    warmup = args.warmup_minutes if args.warmup_minutes is not None else max(1.0, args.minutes / 5)

    data_dir = Path(tempfile.mkdtemp(prefix="botfleet-soak-"))
    db = PostgresDatabase(name=f"bench_soak_{os.getpid()}").create()
    redis = RedisServer().start()
    layout = None
    clients = None
    try:
        env = environment(db, redis, data_dir)
        env["JWT_ACCESS_MINUTES"] = str(int(args.minutes) + 60)  # one token per client for the whole run
        print(f"database {db.name}, redis on {redis.port}; seeding {args.bots} bots, {args.clients} users ...")
        manage(env, "migrate", "--noinput")
        code = SEED.format(users=args.clients, bots=args.bots, password=PASSWORD, interval=args.interval)
        out = manage(env, "shell", "-c", code)
        users = json.loads(next(line for line in out.splitlines() if line.startswith("SEED "))[5:])
        layout = Layout(env, data_dir, args.web_workers)
        layout.start()
        time.sleep(3)  # let Celery fork its pool before the process table is taken
        pids = process_table(layout)
        clients = Clients(layout.ws_port, users, baseline=0)
        clients.start()
        print(f"processes: {', '.join(f'{n}={p}' for n, p in pids.items())}", flush=True)

        samples = []
        started = time.monotonic()
        for minute in range(int(args.minutes) + 1):
            target = started + 60 * minute
            time.sleep(max(0.0, target - time.monotonic()))
            s = sample(layout, db, redis, pids)
            s["minute"] = minute
            s["ws"] = sum(len(v) for v in clients.seqs.values())
            samples.append(s)
            print(
                f"  min {minute}: pg {s['pg']}, redis {s['redis']}, events {s['events']} "
                f"(published {s['published']}), trades {s['trades']}, ws received {s['ws']}, "
                f"clients {clients.connected}, rss total {sum(s['rss'].values()):.0f} MB",
                flush=True,
            )

        # Stop the trading, let the relay publish the rest and the clients receive it.
        db.query("UPDATE bots_bot SET status = 'stopped' RETURNING id")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            total, published = db.query("SELECT count(*), count(seq) FROM realtime_event")[0]
            if total == published:
                break
            time.sleep(1)
        time.sleep(5)
        clients.stop_event.set()
        clients.join(timeout=30)

        # Every event of each client's user, exactly once.
        expected: dict[int, list[int]] = defaultdict(list)
        rows = db.query("SELECT user_id, seq FROM realtime_event WHERE seq IS NOT NULL AND user_id IS NOT NULL")
        for user_id, seq in rows:
            expected[user_id].append(seq)
        missing = sum(len(set(expected[u["id"]]) - set(clients.seqs[u["id"]])) for u in users)
        duplicates = sum(len(clients.seqs[u["id"]]) - len(set(clients.seqs[u["id"]])) for u in users)
        expected_total = sum(len(expected[u["id"]]) for u in users)

        names = list(pids)
        print()
        print_samples(samples, names)
        base = next((s for s in samples if s["minute"] >= warmup), samples[-1])
        last = samples[-1]
        print(f"\nafter warm-up (minute {base['minute']}) to the end (minute {last['minute']}):")
        growth_ok = True
        rows = []
        for name in names:
            before, after = base["rss"][name], last["rss"][name]
            growth = 100 * (after - before) / before if before else 0.0
            ok = growth < 10
            growth_ok &= ok
            rows.append(
                f"  {name:<10} {before:7.1f} MB -> {after:7.1f} MB  {growth:+6.1f} %  {'ok' if ok else 'GROWS'}"
            )
        print("\n".join(rows))
        after_warmup = [s for s in samples if s["minute"] >= warmup]
        pg_ok = max(s["pg"] for s in after_warmup) <= base["pg"] + 2
        redis_ok = max(s["redis"] for s in after_warmup) <= base["redis"] + 2
        print(
            f"PostgreSQL connections {base['pg']} -> max {max(s['pg'] for s in after_warmup)} "
            f"({'no growth' if pg_ok else 'GROWS'}); Redis clients {base['redis']} -> max "
            f"{max(s['redis'] for s in after_warmup)} ({'no growth' if redis_ok else 'GROWS'})"
        )
        print(
            f"events delivered: {expected_total - missing}/{expected_total} expected, missing {missing}, "
            f"duplicates {duplicates}, client reconnects {clients.reconnects}; "
            f"trades {last['trades']}, events {last['events']}"
        )
        verdict = growth_ok and pg_ok and redis_ok and missing == 0 and duplicates == 0
        print(f"verdict: {'PASS' if verdict else 'FAIL'}")
        if args.json:
            args.json.write_text(
                json.dumps({"samples": samples, "missing": missing, "duplicates": duplicates}, indent=1)
            )
        return 0 if verdict else 1
    except BaseException:
        if layout is not None:
            print(layout.logs(), file=sys.stderr)
        raise
    finally:
        if clients is not None:
            clients.stop_event.set()
        if layout is not None:
            layout.stop()
        redis.stop()
        db.drop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
