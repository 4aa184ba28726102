"""Realtime fan-out benchmark: commit → client receipt over WebSocket and SSE.

One run on PostgreSQL + channels-redis, loopback only, bounded by ``--duration``:

1. **raw Redis baseline** — 1,000 subscriber connections over 100 channels, 1 message
   per second per channel, publish → receipt;
2. **WebSocket** — daphne (one process) + ``manage.py relay_events``; 1,000 clients
   over 100 users (10 each); every user gets 1 event per second recorded through the
   real service path (``event_record`` in a transaction); latency from commit to
   receipt, delivered events/s, and losses (every client must get every event of its user);
3. **SSE** — 200 clients (2 per user), same load.

It creates its own database (``bench_rt_<pid>``, dropped afterwards) and uses Redis db 12
under its own key prefix (deleted afterwards). Raises RLIMIT_NOFILE for the clients.

    .venv/bin/python bench/realtime.py --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
sys.path.insert(0, str(BASE_DIR))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(name: str, latencies_s: list[float], expected: int, received: int, seconds: float) -> dict:
    ms = [x * 1000 for x in latencies_s]
    return {
        "name": name,
        "p50": pct(ms, 50),
        "p95": pct(ms, 95),
        "p99": pct(ms, 99),
        "mean": statistics.fmean(ms) if ms else float("nan"),
        "rate": received / seconds,
        "expected": expected,
        "received": received,
        "lost": expected - received,
    }


# ---------------------------------------------------------------------------------------------
def prepare_environment(pid: int) -> dict:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/bench_rt_{pid}",
        REDIS_URL="redis://127.0.0.1:6379/12",
        CACHE_KEY_PREFIX=f"rtbench{pid}",
        SECRET_KEY=secrets.token_urlsafe(40),
        FERNET_KEYS=Fernet.generate_key().decode(),
        BOTFLEET_LOCAL_SECRETS="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        DATABASE_POOL="1",
        DATABASE_POOL_MAX="8",
        RELAY_IN_ASGI="0",
        LOG_LEVEL="WARNING",
        DEBUG="0",
        THROTTLE_USER="1000000/min",
        THROTTLE_ANON="1000000/min",
        REALTIME_SSE_OVERVIEW_SECONDS="3600",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return env


def create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


# ---------------------------------------------------------------------------------------------
class Producer(threading.Thread):
    """Records ``rate`` events per second per user through ``event_record``; notes commit times."""

    def __init__(self, user_ids: list[int], seconds: float, rate: float, tag: str):
        super().__init__(daemon=True)
        self.user_ids, self.seconds, self.rate, self.tag = user_ids, seconds, rate, tag
        self.committed: dict[str, tuple[int, float]] = {}

    def run(self) -> None:
        from django.db import connection, transaction

        from realtime.services import event_record

        total = int(self.seconds * self.rate * len(self.user_ids))
        interval = 1 / (self.rate * len(self.user_ids))
        start = time.perf_counter()
        for i in range(total):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            user_id = self.user_ids[i % len(self.user_ids)]
            key = f"{self.tag}{i}"
            with transaction.atomic():
                event_record(type="bench_tick", user_id=user_id, payload={"k": key}, message="tick")
            self.committed[key] = (user_id, time.perf_counter())
        connection.close()


async def raw_redis_baseline(seconds: float, subscribers: int, channels: int, prefix: str) -> dict:
    import orjson
    from redis import asyncio as aioredis

    received: list[float] = []
    sent: dict[str, float] = {}
    ready = 0

    async def subscriber(index: int):
        nonlocal ready
        client = aioredis.Redis.from_url("redis://127.0.0.1:6379/12")
        pubsub = client.pubsub()
        await pubsub.subscribe(f"{prefix}:raw:{index % channels}")
        ready += 1
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    now = time.perf_counter()
                    key = orjson.loads(message["data"])["k"]
                    received.append(now - sent[key])
        finally:
            await pubsub.aclose()
            await client.aclose()

    tasks = [asyncio.create_task(subscriber(i)) for i in range(subscribers)]
    while ready < subscribers:
        await asyncio.sleep(0.05)
    publisher = aioredis.Redis.from_url("redis://127.0.0.1:6379/12")
    total = int(seconds * channels)
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / channels - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        key = f"r{i}"
        sent[key] = time.perf_counter()
        await publisher.publish(f"{prefix}:raw:{i % channels}", orjson.dumps({"k": key, "type": "bench_tick"}))
    await asyncio.sleep(2)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await publisher.aclose()
    expected = total * (subscribers // channels)
    return summary("raw Redis pub/sub (baseline)", received, expected, len(received), seconds)


async def websocket_phase(port: int, tokens: dict[int, str], per_user: int, seconds: float, rate: float) -> dict:
    import orjson
    import websockets

    received: dict[str, list[float]] = {}
    connected = 0

    gate = asyncio.Semaphore(100)  # connect in waves, not 1,000 handshakes at once

    async def client(token: str):
        nonlocal connected
        async with gate:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}/api/ws?token={token}", max_queue=None, ping_interval=None, open_timeout=60
            )
            first = orjson.loads(await ws.recv())
            if first["type"] != "connection":
                raise RuntimeError(f"unexpected first message {first}")
        connected += 1
        try:
            async for raw in ws:
                now = time.perf_counter()
                message = orjson.loads(raw)
                if message.get("type") == "bench_tick":
                    received.setdefault(message["k"], []).append(now)
        finally:
            await ws.close()

    tasks = [asyncio.create_task(client(token)) for token in tokens.values() for _ in range(per_user)]
    deadline = time.monotonic() + 60
    while connected < len(tasks) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    print(f"  {connected} WebSocket clients connected", flush=True)
    producer = Producer(list(tokens), seconds, rate, "w")
    producer.start()
    while producer.is_alive():
        await asyncio.sleep(0.1)
    await asyncio.sleep(3)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [t - producer.committed[k][1] for k, times in received.items() for t in times]
    count = sum(len(times) for times in received.values())
    expected = len(producer.committed) * per_user
    return summary(f"WebSocket, {len(tasks)} clients (daphne + relay)", latencies, expected, count, seconds)


async def sse_phase(port: int, tokens: dict[int, str], per_user: int, seconds: float, rate: float) -> dict:
    import aiohttp
    import orjson

    received: dict[str, list[float]] = {}
    opened = 0

    async def client(session, token):
        nonlocal opened
        async with session.get(f"http://127.0.0.1:{port}/api/realtime/events?token={token}") as response:
            if response.status != 200:
                raise RuntimeError(f"SSE answered {response.status}")
            opened += 1
            async for line in response.content:
                if line.startswith(b"data: "):
                    now = time.perf_counter()
                    message = orjson.loads(line[6:])
                    if message.get("type") == "bench_tick":
                        received.setdefault(message["k"], []).append(now)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        tasks = [asyncio.create_task(client(session, token)) for token in tokens.values() for _ in range(per_user)]
        deadline = time.monotonic() + 60
        while opened < len(tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        print(f"  {opened} SSE clients connected", flush=True)
        producer = Producer(list(tokens), seconds, rate, "s")
        producer.start()
        while producer.is_alive():
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [t - producer.committed[k][1] for k, times in received.items() for t in times]
    count = sum(len(times) for times in received.values())
    return summary(f"SSE, {len(tasks)} clients", latencies, len(producer.committed) * per_user, count, seconds)


def print_table(rows: list[dict]) -> None:
    print("\n| path | p50 ms | p95 ms | p99 ms | delivered/s | expected | received | lost |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['name']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['rate']:.0f} "
            f"| {r['expected']} | {r['received']} | {r['lost']} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per phase")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--clients-per-user", type=int, default=10)
    parser.add_argument("--sse-per-user", type=int, default=2)
    parser.add_argument("--rate", type=float, default=1.0, help="events per second per user")
    args = parser.parse_args()

    nofile = raise_nofile()
    pid = os.getpid()
    env = prepare_environment(pid)
    os.environ.update(env)
    dbname = f"bench_rt_{pid}"
    create_database(dbname)
    processes: list[subprocess.Popen] = []
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0", "--noinput"], cwd=BASE_DIR, env=env, check=True)
        import django

        django.setup()
        from accounts.models import User
        from accounts.tokens import token_pair_for
        from realtime import registry

        registry.register(
            registry.EventType(
                name="bench_tick", category=registry.BOT_UPDATE, description="bench", required={"k": str}
            )
        )
        users = [
            User.objects.create_user(email=f"bench{i}@example.com", username=f"bench{i}", password="x" * 12)
            for i in range(args.users)
        ]
        tokens = {user.pk: token_pair_for(user)["access_token"] for user in users}

        port = free_port()
        quiet = {"stdout": subprocess.DEVNULL, "cwd": BASE_DIR, "env": env}
        processes.append(
            subprocess.Popen(
                [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"], **quiet
            )
        )
        processes.append(subprocess.Popen([PYTHON, "manage.py", "relay_events"], **quiet))
        wait_port(port)
        time.sleep(1.5)
        print(
            f"realtime bench: {args.users} users, {args.clients_per_user} WS / {args.sse_per_user} SSE clients each, "
            f"{args.rate:g} event/s/user, {args.duration:g} s per phase, "
            f"RLIMIT_NOFILE {nofile}, {os.cpu_count()} cores",
            flush=True,
        )
        rows = []
        print("phase 1: raw Redis pub/sub baseline", flush=True)
        rows.append(
            asyncio.run(
                raw_redis_baseline(
                    args.duration, args.users * args.clients_per_user, args.users, env["CACHE_KEY_PREFIX"]
                )
            )
        )
        print("phase 2: WebSocket", flush=True)
        rows.append(asyncio.run(websocket_phase(port, tokens, args.clients_per_user, args.duration, args.rate)))
        print("phase 3: SSE", flush=True)
        rows.append(asyncio.run(sse_phase(port, tokens, args.sse_per_user, args.duration, args.rate)))
        print_table(rows)
        ws = rows[1]
        print(
            f"\ngoal: WebSocket p95 < 100 ms and nothing lost: "
            f"{'met' if ws['p95'] < 100 and ws['lost'] == 0 else 'NOT met'} "
            f"(p95 {ws['p95']:.1f} ms, lost {ws['lost']}); SSE lost {rows[2]['lost']}"
        )
        return 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        from django.db import connections

        connections.close_all()
        drop_database(dbname)
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/12")
        keys = list(client.scan_iter(match=f"*{env['CACHE_KEY_PREFIX']}*", count=1000))
        if keys:
            client.delete(*keys)


if __name__ == "__main__":
    sys.exit(main())
