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
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    split: str = ""  # how the server's workers shared the connections mid-run, busiest first ("12/8")
    server_cpu_s: float = 0.0  # CPU seconds of the server processes (and database backends) during the run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.server_cpu_s * 1000 / self.requests if self.requests else 0.0


def combine(rounds: list[Result]) -> Result:
    """Rounds of one view: summed counts; the median round's percentiles."""

    def median(values):
        return sorted(values)[len(values) // 2]

    return Result(
        requests=sum(r.requests for r in rounds),
        seconds=sum(r.seconds for r in rounds),
        p50_ms=median([r.p50_ms for r in rounds]),
        p95_ms=median([r.p95_ms for r in rounds]),
        p99_ms=median([r.p99_ms for r in rounds]),
        non_2xx=sum(r.non_2xx for r in rounds),
        socket_errors=sum(r.socket_errors for r in rounds),
        split=" ".join(r.split for r in rounds if r.split),
        server_cpu_s=sum(r.server_cpu_s for r in rounds),
    )


def process_cpu_seconds(pids) -> float:
    """User + system CPU seconds of these processes (Linux /proc; 0 elsewhere)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def server_pids(server: subprocess.Popen, database_url: str) -> list[int]:
    """The server's processes, and the PostgreSQL backends serving our database."""
    pids = [server.pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
    if database_url:
        import psycopg

        with contextlib.suppress(psycopg.Error), psycopg.connect(database_url, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
            pids += [row[0] for row in rows]
    return pids


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


def connection_split(port: int) -> str:
    """Established connections to ``port`` per server process, busiest first: "12/8".

    Each worker keeps the keep-alive connections it accepted, and how the 20 of a run
    fall between the two is chance: a worker holding 14 answers them about twice as
    late as one holding 10 would. That is most of the spread of p95 between runs.
    """
    ss = shutil.which("ss")
    if ss is None:
        return ""
    out = subprocess.run([ss, "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True)
    counts: dict[str, int] = {}
    for line in out.stdout.splitlines():
        pid = line.partition("pid=")[2].partition(",")[0]
        if pid:
            counts[pid] = counts.get(pid, 0) + 1
    return "/".join(str(n) for n in sorted(counts.values(), reverse=True))


def run_wrk(wrk: str, script: Path, url: str, connections: int, seconds: float, headers: dict, port: int = 0) -> Result:
    args = [wrk, "-t", "2", "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s", "-s", str(script)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    with subprocess.Popen([*args, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        split = ""
        if port:
            time.sleep(seconds / 2)
            split = connection_split(port)
        try:
            stdout, stderr = process.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            process.kill()
            fail("wrk did not finish")
    line = next((x for x in stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        fail(f"wrk gave no result: {stdout[-500:]} {stderr[-500:]}")
    requests, duration, p50, p95, p99, non_2xx, errors = line.split()[1:]
    return Result(
        requests=int(requests),
        seconds=float(duration),
        p50_ms=int(p50) / 1000,
        p95_ms=int(p95) / 1000,
        p99_ms=int(p99) / 1000,
        non_2xx=int(non_2xx),
        socket_errors=int(errors),
        split=split,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (max 60)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds the duration is split into")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each view")
    parser.add_argument("--connections", default="100,20", help="comma-separated connection counts")
    parser.add_argument("--db", choices=["auto", "postgres", "sqlite"], default="auto")
    parser.add_argument("--cache", choices=["auto", "redis", "database"], default="auto")
    parser.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    args = parser.parse_args()
    if not 0 < args.duration <= 60 or not 0 < args.warmup <= 10 or not 1 <= args.rounds <= 20:
        fail("--duration must be within (0, 60] s, --warmup within (0, 10] s, --rounds within [1, 20]")
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
        server = stack.enter_context(running_server(args.server, port, env, tmp / "server.log"))
        check_answers(port, token)
        targets = {"bare": (BARE, {}), "me": (ME, {"Authorization": f"Bearer {token}"})}

        rows = []
        for connections in connection_counts:
            for target, headers in targets.values():
                run_wrk(wrk, script, f"http://127.0.0.1:{port}{target}", connections, args.warmup, headers)
            # Alternate the two views in short rounds, so that load from anything else on
            # the machine falls on both alike.
            rounds: dict[str, list[Result]] = {name: [] for name in targets}
            for n in range(args.rounds):
                for name in list(targets)[:: 1 if n % 2 == 0 else -1]:
                    target, headers = targets[name]
                    pids = server_pids(server, database_url)
                    before = process_cpu_seconds(pids)
                    result = run_wrk(
                        wrk,
                        script,
                        f"http://127.0.0.1:{port}{target}",
                        connections,
                        args.duration / args.rounds,
                        headers,
                        port,
                    )
                    result.server_cpu_s = process_cpu_seconds(pids) - before
                    rounds[name].append(result)
            rows.append((connections, {name: combine(results) for name, results in rounds.items()}))

    print_table(args, use_pg, use_redis, rows)


def print_table(args, use_pg: bool, use_redis: bool, rows) -> None:
    setup = (
        f"{args.server} WSGI, 2 workers x 1 blocking thread; "
        f"{'PostgreSQL' if use_pg else 'SQLite'}; cache {'Redis' if use_redis else 'database'}; "
        f"wrk -t2, {args.duration:g} s per view in {args.rounds} alternating rounds"
    )
    print(f"\n{setup}\n")
    columns = ("req/s", "p50 ms", "p95 ms", "p99 ms", "cpu ms/req", "non-2xx", "errors")
    print(f"{'conns':>5}  {'view':<30} " + " ".join(f"{c:>10}" for c in columns))
    verdicts = []
    for connections, pair in rows:
        for name, label in (("bare", f"bare Django ({BARE})"), ("me", f"GET {ME}")):
            r = pair[name]
            values = (f"{r.rps:.0f}", f"{r.p50_ms:.2f}", f"{r.p95_ms:.2f}", f"{r.p99_ms:.2f}")
            values += (f"{r.cpu_ms_per_request:.3f}", str(r.non_2xx), str(r.socket_errors))
            print(f"{connections:>5}  {label:<30} " + " ".join(f"{v:>10}" for v in values))
        ratio = pair["me"].rps / pair["bare"].rps if pair["bare"].rps else 0.0
        cost = pair["bare"].cpu_ms_per_request / pair["me"].cpu_ms_per_request if pair["me"].server_cpu_s else 0.0
        print(f"{connections:>5}  {'ratio me/bare':<30} {ratio:>10.2f} {'':>43} {cost:>10.2f}  (bare/me)")
        if connections == 100:
            verdicts.append(("throughput at 100 conns >= 0.5 x bare", ratio >= 0.5, f"{ratio:.2f}"))
        if connections == 20:
            p95 = pair["me"].p95_ms
            verdicts.append(("/me p95 at 20 conns < 20 ms", p95 < 20, f"{p95:.2f} ms"))
    print("\nconnections per worker in each round (busiest first; p95 follows the busiest):")
    for connections, pair in rows:
        for name in ("bare", "me"):
            print(f"{connections:>5}  {name:<5} {pair[name].split}")
    print(
        "\ncpu ms/req: CPU of the server processes and their PostgreSQL backends per request"
        " (not wrk, not Redis); it holds when other work on the machine skews req/s."
    )
    for goal, ok, value in verdicts:
        print(f"{'MET   ' if ok else 'MISSED'} {goal}: {value}")


if __name__ == "__main__":
    main()
