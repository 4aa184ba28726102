"""Benchmark of the training bay (issue 7), in process, with a baseline in the same run.

1. ``GET training/live-bay`` for one user with 1,000 quarantined bots (half of them
   eligible), through the DRF test client with a real JWT: queries per request and
   p50/p95 latency, beside a bare DRF view without auth or query (``GET version``) and
   an authenticated view with nothing to read (``GET auth/me``). Goal: ≤ 2 queries, p95 < 30 ms.
2. The cost the training bay adds to a bot start: ``bots.services.bot_transition(start)``
   of a live bot in training against the same start of a paper bot (same data, alternated,
   each followed by an untimed stop), and the countdown itself (``training_countdown``).
   Goal: < 1 ms added.

Runs on a fresh PostgreSQL database (created and dropped here; ``BENCH_DATABASE_URL``,
default postgres://postgres@127.0.0.1:5432/postgres, is only used to create it) with
Redis db 13 for the cache (per-run key prefix, nothing flushed), or on SQLite in memory
with ``--sqlite``. The client runs in the same process as the server, so latencies
include no network and no WSGI server: compare rows with each other, not with HTTP loads.

    .venv/bin/python bench/training.py [--requests 300] [--starts 200] [--sqlite]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _configure(sqlite: bool) -> None:
    from cryptography.fernet import Fernet

    pid = os.getpid()
    env = {
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "BOTFLEET_LOCAL_SECRETS": "0",
        "ALLOWED_HOSTS": "testserver,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "THROTTLE_USER": "10000000/min",
        "THROTTLE_ANON": "10000000/min",
        "LOG_LEVEL": "WARNING",
    }
    if not sqlite:
        env.update(
            DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
            TEST_DATABASE_NAME=f"bench_training_{pid}",
            REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
            CACHE_KEY_PREFIX=f"benchtrn{pid}",
        )
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"bench/training.py: {what}")


def _timed_get(client, path: str, requests: int) -> tuple[list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(20):  # warm up (imports, compiled queries, connection)
        _check(client.get(path).status_code == 200, f"GET {path} failed")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    _check(response.status_code == 200, f"GET {path}: {response.content[:300]!r}")
    count = len(queries)  # now: later requests reset the connection's query log
    latencies = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path)
        latencies.append((time.perf_counter() - start) * 1000)
        _check(response.status_code == 200, f"GET {path} failed")
    return latencies, count


def _seed(user, bots: int):
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from bots.models import Bot

    now = timezone.now()
    Bot.objects.bulk_create(
        Bot(
            owner=user,
            name=f"Q-{i}",
            symbol="BTC/USDT",
            strategy="sma_cross",
            trading_mode="live",
            capital=Decimal(1000),
            cash_balance=Decimal(1000),
            quote_currency="USDT",
            in_training=True,
            training_started_at=now - timedelta(minutes=3 * i),
        )
        for i in range(bots)
    )


def _start_costs(user, starts: int) -> tuple[list[float], list[float]]:
    """Times of ``start`` for a bot in training and a paper bot, alternated, stops untimed."""
    from bots import services
    from bots.models import Bot

    training = Bot.objects.filter(owner=user, in_training=True).order_by("pk").first()
    paper = Bot.objects.create(
        owner=user,
        name="Paper",
        symbol="BTC/USDT",
        strategy="sma_cross",
        capital=1000,
        cash_balance=1000,
        quote_currency="USDT",
    )
    _bot, message = services.bot_start(user=user, bot_id=training.pk)
    _check("training bay" in message, f"a bot in training started without saying so: {message}")
    services.bot_stop(user=user, bot_id=training.pk)
    times: dict[int, list[float]] = {training.pk: [], paper.pk: []}
    for i in range(starts + 10):
        for bot in (training, paper) if i % 2 else (paper, training):
            start = time.perf_counter()
            services.bot_start(user=user, bot_id=bot.pk)
            elapsed = (time.perf_counter() - start) * 1000
            services.bot_stop(user=user, bot_id=bot.pk)
            if i >= 10:  # the first rounds warm caches up
                times[bot.pk].append(elapsed)
    return times[training.pk], times[paper.pk]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--starts", type=int, default=200)
    parser.add_argument("--sqlite", action="store_true", help="SQLite in memory instead of PostgreSQL")
    args = parser.parse_args()

    _configure(args.sqlite)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment
    from rest_framework.test import APIClient

    setup_test_environment(debug=False)  # DEBUG would log every query and skew both counts and times
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from datetime import UTC, datetime, timedelta

        from accounts.models import User
        from accounts.tokens import token_pair_for
        from bots.serializers import training_countdown

        user = User.objects.create_user(email="bench@example.com", username="bench", password="x" * 16)
        _seed(user, args.bots)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(user)['access_token']}")
        anonymous = APIClient()

        rows = []
        for label, path, who in (
            ("bare DRF view (GET health)", "/api/health", anonymous),
            ("auth only (GET auth/me)", "/api/auth/me", client),
            (f"GET training/live-bay ({args.bots} bots)", "/api/training/live-bay", client),
        ):
            latencies, queries = _timed_get(who, path, args.requests)
            rows.append((label, queries, statistics.median(latencies), _percentile(latencies, 0.95)))

        in_training, paper = _start_costs(user, args.starts)
        t0 = datetime(2025, 1, 1, tzinfo=UTC)
        loops = 100_000
        start = time.perf_counter()
        for i in range(loops):
            training_countdown(t0, t0 + timedelta(seconds=i), 24.0)
        countdown_us = (time.perf_counter() - start) / loops * 1e6

        database = "SQLite (memory)" if settings.EMBEDDED else "PostgreSQL"
        print(f"\nTraining bay benchmark — {database}, in-process DRF test client, {args.requests} requests each\n")
        print(f"| {'request':<40} | {'queries':>7} | {'p50 ms':>7} | {'p95 ms':>7} | goal |")
        print(f"|{'-' * 42}|{'-' * 9}|{'-' * 9}|{'-' * 9}|------|")
        for label, queries, p50, p95 in rows:
            goal = "—" if "live-bay" not in label else ("yes" if queries <= 2 and p95 < 30 else "NO")
            print(f"| {label:<40} | {queries:>7} | {p50:>7.2f} | {p95:>7.2f} | {goal:<4} |")
        p50_t, p50_p = statistics.median(in_training), statistics.median(paper)
        added = p50_t - p50_p
        print(f"\n| {'bot start (service, ' + str(args.starts) + ' each)':<40} | {'p50 ms':>7} | {'p95 ms':>7} |")
        print(f"|{'-' * 42}|{'-' * 9}|{'-' * 9}|")
        print(f"| {'paper bot (baseline)':<40} | {p50_p:>7.3f} | {_percentile(paper, 0.95):>7.3f} |")
        print(f"| {'live bot in training':<40} | {p50_t:>7.3f} | {_percentile(in_training, 0.95):>7.3f} |")
        print(f"| {'added by the training bay (p50)':<40} | {added:>7.3f} |         |")
        print(f"\ncountdown (training_countdown) alone: {countdown_us:.2f} µs per call")
        print(f"added cost under 1 ms: {'yes' if added < 1 else 'NO'}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
