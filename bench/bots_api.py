"""Benchmark of the bots read API (issue 5).

Creates its own PostgreSQL database, seeds it with ``manage.py seed_bulk`` (1,000 bots,
1,000,000 trades, 100 users by default), serves it with granian (WSGI, 2 workers,
1 blocking thread each), and measures the p95 latency of ``GET bots``,
``GET platforms/{p}/bots`` and ``GET analytics/summary`` for one user at 20 concurrent
connections, side by side with a bare Django view (``/api/_bench/bare`` when the
foundation's bench routes exist, else ``/api/health``: a tiny DRF view without a query).
``analytics/summary`` is served from a per-user cache the services retire on every
change; a second server with ``ANALYTICS_SUMMARY_CACHE_SECONDS=0`` gives the row of a
request that computes it (every cache miss). Drops the database at the end. Prints a
table; goal p95 < 50 ms each.

    .venv/bin/python bench/bots_api.py [--trades 1000000] [--seconds 8]

Needs ``BENCH_DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/postgres, used
only to create and drop the bench database) and Redis (``BENCH_REDIS_URL``, default db 13)
for the cache; keys carry a per-run prefix and nothing is flushed. The load driver is a
wrk (through ``bench/http_load.py``'s runner) when it is installed — a Python client
saturates before the server does (it held the bare view to ~500 req/s where wrk drives
~5,000) — else a bounded asyncio/httpx loop; 127.0.0.1 only either way. The driver
shares the 2 cores with the server, so figures are conservative.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")


def _env(db_url: str, redis_url: str, prefix: str) -> dict:
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "BOTFLEET_LOCAL_SECRETS": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "THROTTLE_USER": "10000000/min",
        "THROTTLE_ANON": "10000000/min",
        "BOTFLEET_BENCH_ROUTES": "1",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "600",
    }


def _manage(env: dict, *args: str) -> str:
    out = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout


async def _load(url: str, headers: dict, seconds: float, concurrency: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url)
                elapsed = time.perf_counter() - start
                if response.status_code != 200:
                    errors += 1
                else:
                    latencies.append(elapsed)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


def _find_wrk(driver: str) -> str | None:
    import shutil

    if driver == "httpx":
        return None
    found = shutil.which("wrk")
    if driver == "wrk" and not found:
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    return found


def _measure_wrk(wrk: str, url: str, headers: dict, args) -> tuple[float, float, float, float, int]:
    import tempfile

    sys.path.insert(0, str(ROOT / "bench"))
    import http_load

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "report.lua"
        script.write_text(http_load.WRK_SCRIPT)
        http_load.run_wrk(wrk, script, url, args.concurrency, 1.0, headers)  # warm-up: connections, caches
        result = http_load.run_wrk(wrk, script, url, args.concurrency, args.seconds, headers)
    return result.rps, result.p50_ms, result.p95_ms, result.p99_ms, result.non_2xx + result.socket_errors


def _serve(env: dict, port: int) -> subprocess.Popen:
    """granian as production serves HTTP: WSGI, 2 workers, one blocking thread each."""
    command = [str(ROOT / ".venv" / "bin" / "granian"), "--interface", "wsgi", "--workers", "2"]
    command += ["--blocking-threads", "1", "--host", "127.0.0.1", "--port", str(port), "--no-ws"]
    return subprocess.Popen(
        [*command, "config.wsgi:application"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_healthy(base: str) -> None:
    for _ in range(100):
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.2)


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000 if len(values) > 1 else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--driver", choices=["auto", "wrk", "httpx"], default="auto")
    args = parser.parse_args()

    admin_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    name = f"botfleet_bench_bots_{os.getpid()}"
    parts = urlparse(admin_url)
    db_url = urlunparse(parts._replace(path=f"/{name}"))
    env = _env(db_url, redis_url, f"benchbots{os.getpid()}")

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    server = uncached = None
    try:
        t0 = time.monotonic()
        _manage(env, "migrate", "-v0")
        print(
            _manage(
                env, "seed_bulk", "--users", str(args.users), "--bots", str(args.bots), "--trades", str(args.trades)
            ).strip()
        )
        print(f"migrate + seed: {time.monotonic() - t0:.1f}s")
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            user_id, email, bots, platform = conn.execute(
                "SELECT u.id, u.email, count(b.id), min(b.exchange) FROM accounts_user u "
                "JOIN bots_bot b ON b.owner_id = u.id GROUP BY u.id ORDER BY count(b.id) DESC, u.id LIMIT 1"
            ).fetchone()
            trades = conn.execute("SELECT count(*) FROM bots_trade WHERE owner_id = %s", [user_id]).fetchone()[0]
        token = (
            _manage(
                env,
                "shell",
                "-c",
                f"from accounts.models import User; from accounts.tokens import token_pair_for; "
                f"print(token_pair_for(User.objects.get(pk={user_id}))['access_token'])",
            )
            .strip()
            .splitlines()[-1]
        )

        server = _serve(env, args.port)
        # The same app with the summary cache off: what every cache miss costs.
        uncached = _serve({**env, "ANALYTICS_SUMMARY_CACHE_SECONDS": "0"}, args.port + 1)
        base = f"http://127.0.0.1:{args.port}"
        _wait_healthy(base)
        _wait_healthy(f"http://127.0.0.1:{args.port + 1}")
        bare = "/api/_bench/bare" if httpx.get(f"{base}/api/_bench/bare").status_code == 200 else "/api/health"
        headers = {"Authorization": f"Bearer {token}"}
        targets = [
            (f"bare view ({bare})", bare, {}),
            ("GET bots", "/api/bots", headers),
            (f"GET platforms/{platform}/bots", f"/api/platforms/{platform}/bots", headers),
            ("GET analytics/summary", "/api/analytics/summary", headers),
            (
                "GET analytics/summary, cache off (every request computes)",
                f"http://127.0.0.1:{args.port + 1}/api/analytics/summary",
                headers,
            ),
        ]
        print(f"\nuser {email}: {bots} bots, {trades} trades; {args.concurrency} connections, {args.seconds:g}s each\n")
        print("| endpoint | requests/s | p50 ms | p95 ms | p99 ms | errors | goal p95 < 50 ms |")
        print("|---|---|---|---|---|---|---|")
        wrk = _find_wrk(args.driver)
        for label, path, hdrs in targets:
            if wrk:
                url = path if path.startswith("http") else base + path
                rps, p50, p95, p99, errors = _measure_wrk(wrk, url, hdrs, args)
            else:
                url = path if path.startswith("http") else base + path
                asyncio.run(_load(url, hdrs, 1.0, args.concurrency))  # warm-up: connections, caches
                latencies, errors = asyncio.run(_load(url, hdrs, args.seconds, args.concurrency))
                rps, p50, p95, p99 = (
                    len(latencies) / args.seconds,
                    _p(latencies, 50),
                    _p(latencies, 95),
                    _p(latencies, 99),
                )
            verdict = "—" if path == bare else ("yes" if p95 < 50 else "NO")
            print(f"| {label} | {rps:.0f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {errors} | {verdict} |")
        print(f"\ndriver: {'wrk -t2' if wrk else 'httpx (asyncio)'}")
    finally:
        for process in (server, uncached):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
