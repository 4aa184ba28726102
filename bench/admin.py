"""Benchmark of the staff resource views (issue 8).

Creates its own PostgreSQL database, seeds it with ``manage.py seed_bulk`` (10,000 users,
10,000 bots, 1,000,000 trades) plus 100,000 published events (one ``INSERT … SELECT``),
reconciles the usage counters (timed: that is the periodic job's cost), then measures
in-process, request by request, with Django's test client:

* ``GET /api/admin/resources/users?sort=-total_storage_mb`` (first page, by storage);
* ``GET /admin/resources/`` (the admin page, same sort, session login);

side by side with a bare Django view (``/api/_bench/bare``), each with its query count.
Drops the database at the end. Goal: under 300 ms each.

    .venv/bin/python bench/admin.py [--users 10000] [--trades 1000000] [--events 100000] [--runs 30]

Needs ``BENCH_DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/postgres, used
only to create and drop the bench database) and Redis (``BENCH_REDIS_URL``, default db 13)
for the cache; keys carry a per-run prefix and nothing is flushed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
sys.path.insert(0, str(ROOT))


def _env(db_url: str, redis_url: str, prefix: str) -> dict:
    from cryptography.fernet import Fernet

    return {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "BOTFLEET_LOCAL_SECRETS": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "0",
        "THROTTLE_USER": "10000000/min",
        "THROTTLE_ANON": "10000000/min",
        "BOTFLEET_BENCH_ROUTES": "1",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "600",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


def _manage(env: dict, *args: str) -> str:
    out = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True, text=True
    )
    return out.stdout


def _seed_events(db_url: str, n: int) -> None:
    """``n`` published events spread over every user (what the relay leaves behind)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            """
            WITH u AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k, count(*) OVER () AS n FROM accounts_user)
            INSERT INTO realtime_event (user_id, type, payload, message, bot_id, created_at, seq, published_at)
            SELECT u.id, 'trade_executed',
                   jsonb_build_object('bot_id', g, 'trade', jsonb_build_object('id', g, 'side', 'buy', 'price', 100.5)),
                   'Bot ''bench'' bought 0.01 BTC/USDT at 100.5', NULL,
                   now() - (g || ' seconds')::interval, g, now()
            FROM generate_series(1, %s) g JOIN u ON u.k = (g * 7919) %% u.n
            """,
            [n],
        )
        conn.execute("VACUUM ANALYZE")


def _measure(client, path: str, runs: int, **headers) -> tuple[list[float], int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm-up: connections, caches (row sizes), imports
        client.get(path, **headers)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path, **headers)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
    with CaptureQueriesContext(connection) as queries:
        client.get(path, **headers)
    return times, len(queries.captured_queries), response.status_code


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--bots", type=int, default=10_000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    admin_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    name = f"botfleet_bench_admin_{os.getpid()}"
    db_url = urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
    env = _env(db_url, redis_url, f"benchadm{os.getpid()}")

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        t0 = time.monotonic()
        _manage(env, "migrate", "-v0")
        seeded = _manage(
            env,
            "seed_bulk",
            *("--users", str(args.users), "--bots", str(args.bots), "--trades", str(args.trades)),
        )
        print(seeded.strip())
        _seed_events(db_url, args.events)
        print(f"migrate + seed ({args.events} events): {time.monotonic() - t0:.1f}s")

        os.environ.update(env)
        import django

        django.setup()
        from django.test import Client

        from accounts.models import User
        from accounts.tokens import token_pair_for
        from adminpanel.services import usage_reconcile

        t1 = time.monotonic()
        result = usage_reconcile()
        reconcile_s = time.monotonic() - t1
        t1 = time.monotonic()
        again = usage_reconcile()
        print(
            f"usage_reconcile (the hourly job): first {reconcile_s:.1f}s ({result}), "
            f"in step {time.monotonic() - t1:.1f}s ({again})"
        )

        staff = User.objects.create_user(email="bench-staff@bench.local", password="x" * 16, is_staff=True)
        User.objects.filter(pk=staff.pk).update(is_superuser=True)
        staff.refresh_from_db()
        bearer = {"HTTP_AUTHORIZATION": f"Bearer {token_pair_for(staff)['access_token']}"}
        api, site, bare = Client(), Client(), Client()
        site.force_login(staff)

        targets = [
            ("bare view (/api/_bench/bare)", bare, "/api/_bench/bare", {}),
            (
                "GET admin/resources/users (by storage)",
                api,
                "/api/admin/resources/users?sort=-total_storage_mb",
                bearer,
            ),
            ("admin resource page (by storage)", site, "/admin/resources/?o=-total_storage_mb", {}),
            ("GET admin/bots (first page)", api, "/api/admin/bots", bearer),
            ("admin bots changelist", site, "/admin/bots/bot/", {}),
        ]
        top = api.get("/api/admin/resources/users?sort=-total_storage_mb&page_size=1", **bearer).json()
        first = top["users"][0]
        print(
            f"\n{top['total']} users; top user {first['email']}: {first['total_storage_mb']:.3f} MB; "
            f"system: {top['system_totals']['total_trades']} trades, {top['system_totals']['total_events']} events, "
            f"{top['system_totals']['total_storage_mb']:.1f} MB; {args.runs} sequential requests each, in-process\n"
        )
        print("| view | queries | p50 ms | p95 ms | max ms | goal < 300 ms |")
        print("|---|---|---|---|---|---|")
        for label, client, path, headers in targets:
            times, queries, _status = _measure(client, path, args.runs, **headers)
            p95 = _p(times, 95)
            verdict = "—" if "bare" in label else ("yes" if p95 < 300 else "NO")
            print(
                f"| {label} | {queries} | {statistics.median(times):.1f} | {p95:.1f} | {max(times):.1f} | {verdict} |"
            )
        from django.db import connections

        connections.close_all()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
