"""HTTP load benchmark: ``GET /api/auth/me`` (real JWT) beside a bare Django JSON view.

Starts the app the way production serves HTTP (a WSGI server, 2 workers, one
blocking thread each; see the Procfile) on a free loopback port, against its own
PostgreSQL database (``bench_botfleet_<pid>``, created and dropped here) or SQLite,
and Redis for the cache when one answers on 127.0.0.1:6379 (keys under its own
prefix, deleted afterwards). Load comes from ``wrk`` (installed with apt-get when
missing and running as root). Every run is bounded by ``--duration``.

    .venv/bin/python bench/http_load.py                 # 10 s per run, 100 and 20 connections
    .venv/bin/python bench/http_load.py --duration 5 --db sqlite --server gunicorn

Prints req/s and p50/p95/p99 for both views and their ratio, and whether the goals
hold: /me throughput >= half the bare view's at 100 connections, /me p95 < 20 ms
at 20 connections.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/0"
BARE, ME = "/api/_bench/bare", "/api/auth/me"

# wrk reports through this: requests, seconds, p50/p95/p99 in microseconds, non-2xx, socket errors.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.6f %d %d %d %d %d\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Result:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


def fail(message: str) -> None:
    print(f"http_load: {message}", file=sys.stderr)
    sys.exit(2)


def find_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found; installing it with apt-get ...", file=sys.stderr)
        for refresh_lists in (False, True):
            if refresh_lists:
                subprocess.run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL, check=False)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], stdout=subprocess.DEVNULL, check=False)
            if shutil.which("wrk"):
                return shutil.which("wrk")
    fail("needs wrk (apt-get install wrk, or brew install wrk); it is not on PATH and could not be installed")
    raise AssertionError  # unreachable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def postgres_database():
    """A database of our own, dropped afterwards whatever happens."""
    import psycopg

    name = f"bench_botfleet_{os.getpid()}"
    admin = psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG)
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextlib.contextmanager
def redis_prefix():
    """A cache key prefix of our own; only its keys are deleted afterwards."""
    prefix = f"bench_{os.getpid()}"
    try:
        yield prefix
    finally:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)


def server_env(args, data_dir: Path, database_url: str, cache_prefix: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BOTFLEET_"))}
    for key in ("DATABASE_URL", "REDIS_URL", "CACHE_URL", "CELERY_BROKER_URL", "DEBUG", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(key, None)
    from cryptography.fernet import Fernet

    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        BOTFLEET_DATA_DIR=str(data_dir),
        BOTFLEET_BENCH_ROUTES="1",
        # Production settings, but plain HTTP on loopback.
        BOTFLEET_LOCAL_SECRETS="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        FERNET_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        # One user hammering /me must not be throttled, but the throttle still runs.
        THROTTLE_USER="100000000/min",
        LOG_LEVEL="WARNING",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if cache_prefix:
        env["REDIS_URL"] = REDIS_URL
        env["CACHE_KEY_PREFIX"] = cache_prefix
    return env


def prepare(env: dict) -> str:
    """Migrate, create a user, and return a real access token for it."""
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
    if "REDIS_URL" not in env:
        for database in ("default", "cache") if "DATABASE_URL" not in env else ("default",):
            subprocess.run(
                [PYTHON, "manage.py", "createcachetable", "--database", database], cwd=BASE_DIR, env=env, check=True
            )
    code = (
        "from accounts.models import User; from accounts.tokens import token_pair_for; "
        "u = User.objects.create_user(email='bench@example.com', password='bench-password-123'); "
        "print(token_pair_for(u)['access_token'])"
    )
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code], cwd=BASE_DIR, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def server_command(kind: str, port: int) -> list[str]:
    venv_bin = Path(PYTHON).parent
    if kind == "granian":
        return [
            str(venv_bin / "granian"),
            *("--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", "2", "--blocking-threads", "1", "--no-access-log", "--log-level", "warning"),
            "config.wsgi:application",
        ]
    return [
        str(venv_bin / "gunicorn"),
        *("--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning"),
        "config.wsgi:application",
    ]


@contextlib.contextmanager
def running_server(kind: str, port: int, env: dict, log: Path):
    with log.open("wb") as out:
        proc = subprocess.Popen(
            server_command(kind, port),
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                fail(f"{kind} exited with {proc.returncode}; see {log}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if get(port, "/api/health")[0] == 200:
                    break
            if time.monotonic() > deadline:
                fail(f"{kind} did not answer /api/health within 60 s; see {log}")
            time.sleep(0.3)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def get(port: int, target: str, headers: dict | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", target, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check_answers(port: int, token: str) -> None:
    for target, headers in ((BARE, {}), (ME, {"Authorization": f"Bearer {token}"})):
        status, body = get(port, target, headers)
        if status != 200:
            fail(f"{target} answered {status}: {body[:300]!r}")


def run_wrk(wrk: str, script: Path, url: str, connections: int, seconds: float, headers: dict) -> Result:
    args = [wrk, "-t", "2", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s", "-s", str(script)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        fail(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    requests, duration, p50, p95, p99, non_2xx, errors = line.split()[1:]
    return Result(
        rps=int(requests) / float(duration),
        p50_ms=int(p50) / 1000,
        p95_ms=int(p95) / 1000,
        p99_ms=int(p99) / 1000,
        non_2xx=int(non_2xx),
        socket_errors=int(errors),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (max 60)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each run")
    parser.add_argument("--connections", default="100,20", help="comma-separated connection counts")
    parser.add_argument("--db", choices=["auto", "postgres", "sqlite"], default="auto")
    parser.add_argument("--cache", choices=["auto", "redis", "database"], default="auto")
    parser.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    args = parser.parse_args()
    if not 0 < args.duration <= 60:
        fail("--duration must be within (0, 60] seconds")
    wrk = find_wrk()
    use_pg = args.db == "postgres" or (args.db == "auto" and reachable(PG["host"], PG["port"]))
    use_redis = args.cache == "redis" or (args.cache == "auto" and reachable("127.0.0.1", 6379))
    connection_counts = [int(c) for c in args.connections.split(",")]

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="botfleet-bench-")))
        database_url = stack.enter_context(postgres_database()) if use_pg else ""
        prefix = stack.enter_context(redis_prefix()) if use_redis else None
        env = server_env(args, tmp / "data", database_url, prefix)
        token = prepare(env)
        port = free_port()
        script = tmp / "report.lua"
        script.write_text(WRK_SCRIPT)
        stack.enter_context(running_server(args.server, port, env, tmp / "server.log"))
        check_answers(port, token)

        rows = []
        for connections in connection_counts:
            pair = {}
            for name, target, headers in (("bare", BARE, {}), ("me", ME, {"Authorization": f"Bearer {token}"})):
                url = f"http://127.0.0.1:{port}{target}"
                if args.warmup:
                    run_wrk(wrk, script, url, connections, args.warmup, headers)
                pair[name] = run_wrk(wrk, script, url, connections, args.duration, headers)
            rows.append((connections, pair))

    print_table(args, use_pg, use_redis, rows)


def print_table(args, use_pg: bool, use_redis: bool, rows) -> None:
    setup = (
        f"{args.server} WSGI, 2 workers x 1 blocking thread; "
        f"{'PostgreSQL' if use_pg else 'SQLite'}; cache {'Redis' if use_redis else 'database'}; "
        f"wrk -t2, {args.duration:g} s per run"
    )
    print(f"\n{setup}\n")
    columns = ("req/s", "p50 ms", "p95 ms", "p99 ms", "non-2xx")
    print(f"{'conns':>5}  {'view':<30} " + " ".join(f"{c:>8}" for c in columns) + f" {'errors':>6}")
    verdicts = []
    for connections, pair in rows:
        for name, label in (("bare", f"bare Django ({BARE})"), ("me", f"GET {ME}")):
            r = pair[name]
            print(
                f"{connections:>5}  {label:<30} {r.rps:>8.0f} {r.p50_ms:>8.2f} {r.p95_ms:>8.2f} {r.p99_ms:>8.2f} "
                f"{r.non_2xx:>8} {r.socket_errors:>6}"
            )
        ratio = pair["me"].rps / pair["bare"].rps if pair["bare"].rps else 0.0
        print(f"{connections:>5}  {'ratio me/bare':<30} {ratio:>8.2f}")
        if connections == 100:
            verdicts.append(("throughput at 100 conns >= 0.5 x bare", ratio >= 0.5, f"{ratio:.2f}"))
        if connections == 20:
            p95 = pair["me"].p95_ms
            verdicts.append(("/me p95 at 20 conns < 20 ms", p95 < 20, f"{p95:.2f} ms"))
    print()
    for goal, ok, value in verdicts:
        print(f"{'MET   ' if ok else 'MISSED'} {goal}: {value}")


if __name__ == "__main__":
    main()
