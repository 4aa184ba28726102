"""Load: 100 concurrent users on the production layout, a realistic mix, against a bare
Django view measured in the same run as the ceiling.

The layout (DESIGN.md) on loopback: its own PostgreSQL database (created and dropped)
and its own ``redis-server`` on a free port; granian WSGI workers (``--blocking-threads
1``) for HTTP; daphne for WebSocket; the relay process; a Celery worker and beat
(schedulers on, so started bots really trade). Every run is bounded.

    .venv/bin/python bench/load.py                    # people: ~1 s think time, 60 s, 100 users
    .venv/bin/python bench/load.py --think 0          # saturation: back-to-back, for capacity
    .venv/bin/python bench/load.py --seconds 20 --users 50 --web-workers 2 --no-profile

Each user owns bots and a credential and models a person at the dashboard. It logs in at
the start of its session (the users' first logins are staggered across the warm-up and
reported as their own row, ``POST auth/login (session start)``); a session lasts a random
number of requests (exponential, mean ``--session-requests``, 300), then the user logs in
again (the ``POST auth/login`` row). Between requests it pauses (exponential, mean
``--think``, 1 s, capped at 5x the mean; ``--think 0`` = saturation, back to back). Its
requests are a weighted mix: list bots, platform drilldown, platforms summary, analytics
summary, start/stop of its own bots (only valid transitions), key save, and token
refresh (``POST auth/refresh`` with the current refresh token; the rotated pair replaces
it). Each user also keeps a WebSocket open and counts the events it receives (its bots'
starts, stops and trades). Prints per endpoint req/s, error rate and p50/p95/p99; the
bare view's figures; the ratio (with think time: of the offered load, not capacity); and
a py-spy profile of the WSGI workers during the mix (where the time goes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from tests.processes import PostgresDatabase, RedisServer, free_port, port_open, wait_until  # noqa: E402

PYTHON = sys.executable
VENV_BIN = Path(PYTHON).parent
READ, WRITE = "read", "write"
# name: (weight, kind). Reads dominate, as in a dashboard. The SPA renews its 15-minute
# access token now and then; logins are not in the mix: one opens each session.
MIX = {
    "GET bots": (30, READ),
    "GET platforms/{p}/bots": (15, READ),
    "GET platforms/summary": (5, READ),
    "GET analytics/summary": (15, READ),
    "POST bots/{id}/start": (12, WRITE),
    "POST bots/{id}/stop": (12, WRITE),
    "POST keys/save": (5, WRITE),
    "POST auth/refresh": (2, WRITE),
}
LOGIN, SESSION_START = "POST auth/login", "POST auth/login (session start)"
# The report's rows: the mix, the logins inside the measured window, the first logins (warm-up).
ROWS = {**{name: kind for name, (_, kind) in MIX.items()}, LOGIN: WRITE, SESSION_START: WRITE}
THINK_CAP = 5  # a pause is at most this many times the mean think time
GOALS_MS = {READ: 200, WRITE: 400}
PASSWORD = "load-test-passphrase-7"  # noqa: S105 - the seeded bench users' password

SEED = """
import json
from decimal import Decimal
from django.contrib.auth import get_user_model
from accounts.tokens import token_pair_for
from bots.models import Bot
from credentials.services import credential_save
User = get_user_model()
n, per = {users}, {bots}
template = User(email="t@example.com"); template.set_password("{password}")
users = User.objects.bulk_create([
    User(email=f"load{{i}}@example.com", username=f"load{{i}}", password=template.password, is_active=True)
    for i in range(n)
])
symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
bots = []
for u in users:
    for j in range(per):
        bots.append(Bot(owner=u, name=f"{{u.username}}-bot{{j}}", exchange="simulated", symbol=symbols[j % 3],
            symbol_verified=True, strategy="sma_cross", params={{"fast": 5, "slow": 20}}, timeframe="1m",
            interval_seconds=60, trading_mode="paper", capital=Decimal("1000"), cash_balance=Decimal("1000"),
            quote_currency="USDT", status="stopped"))
Bot.objects.bulk_create(bots, batch_size=1000)
out = []
for u in users:
    credential_save(user=u, provider="binance", purpose="backtest", label="default",
                    secrets={{"api_key": "seedkey-" + str(u.pk), "api_secret": "seedsecret"}})
    out.append({{"email": u.email, "token": token_pair_for(u)["access_token"],
                "bots": list(Bot.objects.filter(owner=u).values_list("pk", flat=True))}})
print("SEED " + json.dumps(out))
"""


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far, all cores (from /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def postgres_backends(database_url: str) -> list[int]:
    """The PostgreSQL backends serving the bench database."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows]


class MachineCpu:
    """Who uses the machine during a phase: each role's processes, and the machine as a whole."""

    def __init__(self, roles: dict[str, list[int]]):
        self.roles = roles
        self.before = {role: cpu_seconds(pids) for role, pids in roles.items()}
        self.busy_before = machine_busy_seconds()

    def shares(self, seconds: float) -> list[tuple[str, float]]:
        """(role, cores used) for every role, then the rest of the machine and its idle share."""
        used = [(role, (cpu_seconds(pids) - self.before[role]) / seconds) for role, pids in self.roles.items()]
        busy = (machine_busy_seconds() - self.busy_before) / seconds
        used.append(("everything else (kernel, other processes)", max(0.0, busy - sum(c for _, c in used))))
        used.append(("idle", max(0.0, (os.cpu_count() or 2) - busy)))
        return used


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def environment(db: PostgresDatabase, redis: RedisServer, data_dir: Path) -> dict:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BOTFLEET_"))}
    for key in ("DATABASE_URL", "REDIS_URL", "CACHE_URL", "CELERY_BROKER_URL", "DEBUG", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(key, None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        BOTFLEET_DATA_DIR=str(data_dir),
        BOTFLEET_BENCH_ROUTES="1",
        DATABASE_URL=db.url,
        REDIS_URL=redis.url,
        CACHE_KEY_PREFIX="load",
        BOTFLEET_LOCAL_SECRETS="0",
        SECRET_KEY=Fernet.generate_key().decode() * 2,
        FERNET_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        # 100 users share one loopback IP: per-IP throttles would measure the throttle.
        THROTTLE_ANON="100000000/min",
        THROTTLE_USER="100000000/min",
        THROTTLE_AUTH="100000000/min",
        ENABLE_SCHEDULERS="1",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict, *args: str, timeout: float = 600) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}")
    return result.stdout


class Layout:
    """The production processes, each in its own session so a stop takes its children."""

    def __init__(self, env: dict, data_dir: Path, web_workers: int, redis_pid: int | None = None):
        self.env, self.data_dir, self.web_workers = env, data_dir, web_workers
        self.redis_pid = redis_pid  # its own redis-server, started beside the layout
        self.web_port, self.ws_port = free_port(), free_port()
        self.processes: dict[str, subprocess.Popen] = {}

    def commands(self) -> dict[str, tuple[list[str], dict]]:
        granian = [
            str(VENV_BIN / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.web_port),
            "--workers",
            str(self.web_workers),
            "--blocking-threads",
            "1",
            "--no-ws",
            "config.wsgi:application",
        ]
        daphne = [PYTHON, "-m", "realtime.asgi_server", "-b", "127.0.0.1", "-p", str(self.ws_port)]
        daphne.append("config.asgi:application")
        celery = [PYTHON, "-m", "celery", "-A", "config"]
        return {
            "web": (granian, {}),
            "asgi": (daphne, {"DATABASE_POOL": "1", "RELAY_IN_ASGI": "0"}),
            "relay": ([PYTHON, "manage.py", "relay_events"], {}),
            "worker": ([*celery, "worker", "--concurrency", "2", "--without-mingle", "--without-gossip"], {}),
            "beat": ([*celery, "beat", "--schedule", str(self.data_dir / "beat-schedule")], {}),
        }

    def start(self) -> None:
        for name, (argv, extra) in self.commands().items():
            log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
            self.processes[name] = subprocess.Popen(
                argv,
                cwd=BASE_DIR,
                env={**self.env, **extra},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for port in (self.web_port, self.ws_port):
            wait_until(lambda port=port: port_open(port), timeout=60, what=f"a server on {port}")

    def pids(self, name: str) -> list[int]:
        """The process and its children (granian's and Celery's workers)."""
        root = self.processes[name].pid
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(root)], capture_output=True, text=True).stdout
        return [root, *(int(pid) for pid in out.split())]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(
            f"===== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.data_dir.glob("*.log"))
        )


# ---------------------------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------------------------
class Recorder:
    def __init__(self):
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter = Counter()
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.on = False

    def add(self, name: str, seconds: float, status: int, *, always: bool = False) -> None:
        """Record a request of the measured window (or, ``always``, one of the warm-up's)."""
        if not (self.on or always):
            return
        self.latencies[name].append(seconds)
        self.statuses[name][status] += 1
        if not 200 <= status < 300:
            self.errors[name] += 1


class User:
    """A person at the dashboard: sessions that open with a login, pauses between requests."""

    def __init__(self, seed: dict, base: str, rng: random.Random, *, think: float, session_requests: float):
        self.email, self.base, self.rng = seed["email"], base, rng
        self.token, self.refresh = seed["token"], ""
        self.think_mean, self.session_requests = think, session_requests
        self.session_left = 0  # requests left in this session; 0: the next request is a login
        self.stopped = list(seed["bots"])
        self.running: list[int] = []

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def pause(self) -> float:
        """Seconds of reading before the next request: exponential, capped at THINK_CAP x the mean."""
        if not self.think_mean:
            return 0.0
        return min(self.rng.expovariate(1 / self.think_mean), THINK_CAP * self.think_mean)

    def new_session(self) -> None:
        if self.session_requests:
            self.session_left = max(1, round(self.rng.expovariate(1 / self.session_requests)))
        else:
            self.session_left = -1  # --session-requests 0: one session for the whole run

    def pick(self) -> str:
        names = list(MIX)
        name = self.rng.choices(names, weights=[MIX[n][0] for n in names])[0]
        if name == "POST bots/{id}/start" and not self.stopped:
            name = "POST bots/{id}/stop"
        if name == "POST bots/{id}/stop" and not self.running:
            name = "POST bots/{id}/start"
        return name

    async def login(self, session, recorder: Recorder, row: str = LOGIN) -> None:
        """Open a session. A failed login keeps the previous tokens and is retried next request."""
        body = {"email": self.email, "password": PASSWORD}
        status, payload = await self.request(session, recorder, row, "POST", "/api/auth/login", body)
        if status == 200:
            pair = json.loads(payload)
            self.token, self.refresh = pair["access_token"], pair["refresh_token"]
            self.new_session()

    async def request(
        self, session, recorder: Recorder, name: str, method: str, url: str, body: dict | None
    ) -> tuple[int, bytes]:
        headers = {} if name in (LOGIN, SESSION_START, "POST auth/refresh") else self.headers()
        started = time.perf_counter()
        try:
            async with session.request(method, self.base + url, json=body, headers=headers) as response:
                payload = await response.read()
                status = response.status
        except Exception:
            status, payload = 599, b""
        recorder.add(name, time.perf_counter() - started, status, always=name == SESSION_START)
        return status, payload

    async def step(self, session, recorder: Recorder) -> None:
        if self.session_left == 0 or not self.refresh:
            await self.login(session, recorder)
            return
        self.session_left -= 1
        name = self.pick()
        method, url, body = "GET", "", None
        if name == "GET bots":
            url = "/api/bots"
        elif name == "GET platforms/{p}/bots":
            url = "/api/platforms/simulated/bots?mode=paper"
        elif name == "GET platforms/summary":
            url = "/api/platforms/summary"
        elif name == "GET analytics/summary":
            url = "/api/analytics/summary"
        elif name == "POST bots/{id}/start":
            bot = self.stopped.pop(self.rng.randrange(len(self.stopped)))
            method, url, body = "POST", f"/api/bots/{bot}/start", {}
        elif name == "POST bots/{id}/stop":
            bot = self.running.pop(self.rng.randrange(len(self.running)))
            method, url, body = "POST", f"/api/bots/{bot}/stop", {}
        elif name == "POST keys/save":
            key = f"loadkey-{self.rng.randrange(10**9)}"
            method, url, body = "POST", "/api/keys/save", {"exchange": "binance", "apiKey": key, "apiSecret": "s"}
            body["purpose"] = "backtest"
        elif name == "POST auth/refresh":
            method, url, body = "POST", "/api/auth/refresh", {"refresh": self.refresh}
        status, payload = await self.request(session, recorder, name, method, url, body)
        if name == "POST bots/{id}/start":
            (self.running if status == 200 else self.stopped).append(bot)
        elif name == "POST bots/{id}/stop":
            (self.stopped if status == 200 else self.running).append(bot)
        elif name == "POST auth/refresh":
            if status == 200:  # rotation: the old refresh token is blacklisted, use the new pair
                pair = json.loads(payload)
                self.token, self.refresh = pair["access_token"], pair["refresh_token"]
            else:  # as the SPA does: back to the login page
                self.session_left = 0


async def drive(users: list[User], seconds: float, recorder: Recorder, *, record: bool, first: bool = False) -> float:
    """Every user runs until the deadline. ``first`` (the warm-up): each user logs in at a random
    moment of it, so the logins do not all land at once; the phase lasts until all have."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=len(users), limit_per_host=len(users))
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        deadline = time.monotonic() + seconds
        recorder.on = record

        async def think(user: User):
            pause = min(user.pause(), deadline - time.monotonic())  # no idle tail past the deadline
            if pause > 0:
                await asyncio.sleep(pause)

        async def loop(user: User):
            if first:
                await asyncio.sleep(user.rng.uniform(0, seconds))
                await user.login(session, recorder, SESSION_START)
            await think(user)  # people mid-page: the window opens in steady state, not with a burst
            while time.monotonic() < deadline:
                await user.step(session, recorder)
                await think(user)

        started = time.perf_counter()
        await asyncio.gather(*(loop(u) for u in users))
        recorder.on = False
        return time.perf_counter() - started


async def drive_bare(base: str, concurrency: int, seconds: float) -> tuple[float, list[float], int]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.monotonic() + seconds

        async def loop():
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with session.get(base + "/api/_bench/bare") as response:
                    await response.read()
                    errors += response.status != 200
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, errors


class WebSocketClients:
    """One WebSocket per user; counts events and their delivery delay."""

    def __init__(self, port: int, tokens: list[str]):
        self.port, self.tokens = port, tokens
        self.connected = 0
        self.received = 0
        self.delays: list[float] = []
        self.seqs: dict[int, list[int]] = defaultdict(list)
        self.tasks: list[asyncio.Task] = []

    async def _client(self, index: int, token: str):
        import orjson
        import websockets

        async with websockets.connect(
            f"ws://127.0.0.1:{self.port}/api/ws?token={token}", max_queue=None, ping_interval=None, open_timeout=60
        ) as ws:
            first = orjson.loads(await ws.recv())
            if first["type"] != "connection":
                raise RuntimeError(f"unexpected first message {first}")
            self.connected += 1
            async for raw in ws:
                message = orjson.loads(raw)
                if "seq" not in message:
                    continue
                self.received += 1
                self.seqs[index].append(message["seq"])
                with contextlib.suppress(KeyError, ValueError):
                    sent = datetime.fromisoformat(message["timestamp"]).timestamp()
                    self.delays.append(time.time() - sent)

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self._client(i, t)) for i, t in enumerate(self.tokens)]
        deadline = time.monotonic() + 60
        while self.connected < len(self.tokens) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# ---------------------------------------------------------------------------------------------
# Profile: py-spy on the WSGI workers during the mix
# ---------------------------------------------------------------------------------------------
CATEGORIES = [
    ("PostgreSQL round trips (psycopg)", ("psycopg/",)),
    ("Django ORM: building queries, making rows", ("django/db/models/",)),
    ("DRF serializers", ("rest_framework/serializers.py", "rest_framework/fields.py", "rest_framework/relations")),
    ("JSON rendering", ("renderers.py", "orjson")),
    ("JWT authentication", ("rest_framework_simplejwt", "accounts/authentication.py")),
    ("throttles", ("throttles.py",)),
    ("password hashing (login)", ("hashers.py",)),
    ("Fernet (key save)", ("cryptography/fernet.py", "fernet_fields")),
    ("Redis (cache, throttle, events wake-up)", ("redis/", "django_redis", "cache/backends/redis")),
    ("our middleware", ("core/middleware.py",)),
]


def profile(pids: list[int], seconds: int, out: Path) -> subprocess.Popen | None:
    spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not Path(spy).exists():
        print("py-spy not installed (.venv/bin/pip install py-spy): no profile", file=sys.stderr)
        return None
    args = [spy, "record", "-f", "raw", "-r", "200", "-d", str(seconds), "-o", str(out), "--nonblocking"]
    for pid in pids:
        args += ["--pid", str(pid)]
        break  # py-spy takes one pid; --subprocesses follows granian's workers
    args.append("--subprocesses")
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(path: Path) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    total = 0
    categories: Counter = Counter()
    ours: Counter = Counter()
    own_apps = ("accounts/", "bots/", "credentials/", "realtime/", "training/", "adminpanel/", "config/")
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for label, needles in CATEGORIES:
            if any(needle in frame for frame in frames for needle in needles):
                categories[label] += n
        seen = set()
        for frame in frames:
            if "site-packages" in frame or not any(f"({app}" in frame or f"/{app}" in frame for app in own_apps):
                continue
            function = frame.split(" (")[0] + " " + frame.split("(")[-1].split(":")[0].replace(str(BASE_DIR) + "/", "")
            if function not in seen:
                seen.add(function)
                ours[function] += n
    share = lambda c: [(k, 100 * v / max(total, 1)) for k, v in c.most_common()]  # noqa: E731
    return total, share(categories), share(ours)[:15]


# ---------------------------------------------------------------------------------------------
def table(rows: list[list], headers: list[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)))


def mode_line(args) -> str:
    """Which load this is, printed above every table so one mode's figures can't pass for the other's."""
    sessions = (
        f"sessions of ~{args.session_requests:g} requests (exponential), each opening with a login"
        if args.session_requests
        else "one session per user (a login at the start)"
    )
    if not args.think:
        return f"mode: saturation (--think 0: each user fires back to back, no think time); {sessions}"
    mean = args.think * (1 - math.exp(-THINK_CAP))
    return (
        f"mode: people (think time exponential, mean {args.think:g} s, capped at {THINK_CAP * args.think:g} s: "
        f"{mean:.2f} s on average); {sessions}"
    )


def report(
    args,
    recorder: Recorder,
    seconds: float,
    warmup_seconds: float,
    bare: tuple[float, list[float], int],
    ws: WebSocketClients,
) -> dict:
    rows, total, errors = [], 0, 0
    summary = {}
    for name, kind in ROWS.items():
        lat = recorder.latencies.get(name, [])
        n = len(lat)
        # The first logins happen during the warm-up: their own row, not part of the mix's figures.
        span = warmup_seconds if name == SESSION_START else seconds
        if name != SESSION_START:
            total += n
            errors += recorder.errors[name]
        p50, p95, p99 = (1000 * pct(lat, p) for p in (50, 95, 99))
        ok = p95 < GOALS_MS[kind] if n else False
        err = 100 * recorder.errors[name] / max(n, 1)
        summary[name] = {"n": n, "rps": n / span, "err_pct": err, "p50": p50, "p95": p95, "p99": p99}
        statuses = ",".join(f"{s}:{c}" for s, c in sorted(recorder.statuses[name].items()) if not 200 <= s < 300)
        rows.append(
            [name, kind, n, f"{n / span:.1f}", f"{err:.2f}", f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}"]
            + [f"<{GOALS_MS[kind]} {'ok' if ok else 'MISSED'}" if n else "-", statuses or "-"]
        )
    bare_seconds, bare_lat, bare_errors = bare
    bare_rps = len(bare_lat) / bare_seconds
    rows.append(
        ["bare view (ceiling)", "-", len(bare_lat), f"{bare_rps:.1f}"]
        + [f"{100 * bare_errors / max(len(bare_lat), 1):.2f}"]
        + [f"{1000 * pct(bare_lat, p):.1f}" for p in (50, 95, 99)]
        + ["-", "-"]
    )
    print(f"\n{args.users} users, {mode_line(args)}")
    print(f"(the session-start row: the users' first logins, during the {warmup_seconds:.1f} s warm-up)")
    table(rows, ["endpoint", "kind", "requests", "req/s", "err %", "p50 ms", "p95 ms", "p99 ms", "p95 goal", "non-2xx"])
    mix_rps = total / seconds
    err_pct = 100 * errors / max(total, 1)
    offered_max = None
    print(
        f"\nmix: {total} requests in {seconds:.1f} s = {mix_rps:.1f} req/s, errors {err_pct:.2f} % "
        f"(goal < 1 %: {'ok' if err_pct < 1 else 'MISSED'}); bare view {bare_rps:.1f} req/s; "
        f"mix / ceiling = {100 * mix_rps / bare_rps:.1f} %" + (" (of the offered load)" if args.think else "")
    )
    if args.think:
        offered_max = args.users / (args.think * (1 - math.exp(-THINK_CAP)))
        print(
            f"offered load: {args.users} users pausing {args.think * (1 - math.exp(-THINK_CAP)):.2f} s on average "
            f"offer at most {offered_max:.1f} req/s (if responses took no time); they sent {mix_rps:.1f}. "
            f"With think time the mix req/s is the offered load, so mix / ceiling measures the offered load, "
            f"not capacity: for capacity use --think 0."
        )
    print(
        f"WebSocket: {ws.connected}/{len(ws.tokens)} clients connected, {ws.received} events received, "
        f"delivery p50 {1000 * pct(ws.delays, 50):.0f} ms, p95 {1000 * pct(ws.delays, 95):.0f} ms, "
        f"p99 {1000 * pct(ws.delays, 99):.0f} ms"
    )
    return {
        "mode": "saturation" if not args.think else "people",
        "users": args.users,
        "think": args.think,
        "session_requests": args.session_requests,
        "endpoints": summary,
        "mix_rps": mix_rps,
        "offered_max_rps": offered_max,
        "err_pct": err_pct,
        "bare_rps": bare_rps,
        "ratio": mix_rps / bare_rps,
        "ws_events": ws.received,
    }


async def run(args, layout: Layout, seeds: list[dict]) -> dict:
    base = f"http://127.0.0.1:{layout.web_port}"
    rng = random.Random(args.seed)
    users = [
        User(seed, base, random.Random(rng.random()), think=args.think, session_requests=args.session_requests)
        for seed in seeds
    ]
    ws = WebSocketClients(layout.ws_port, [s["token"] for s in seeds])
    await ws.start()
    print(f"  {ws.connected} WebSocket clients connected", flush=True)
    recorder = Recorder()
    print(f"  warm-up {args.warmup:g} s, the users' first logins staggered across it ...", flush=True)
    warmup_seconds = await drive(users, args.warmup, recorder, record=False, first=True)
    print(f"  bare view, {args.users} connections, {args.bare_seconds:g} s ...", flush=True)
    web = layout.pids("web")
    cpu_before = cpu_seconds(web)
    bare = await drive_bare(base, args.users, args.bare_seconds)
    bare_cpu = cpu_seconds(web) - cpu_before
    print(f"  mix, {args.users} users, {args.seconds:g} s; {mode_line(args)} ...", flush=True)
    spy = None
    profile_path = Path(tempfile.gettempdir()) / f"botfleet-load-profile-{os.getpid()}.raw"
    if args.profile:
        spy = profile(layout.pids("web"), int(min(args.seconds, 30)), profile_path)
    events_before = ws.received
    roles = {f"web ({layout.web_workers} WSGI workers)": web}
    roles.update((name, layout.pids(name)) for name in ("asgi", "relay", "worker", "beat"))
    roles["PostgreSQL backends"] = postgres_backends(layout.env["DATABASE_URL"])
    if layout.redis_pid:
        roles["redis-server"] = [layout.redis_pid]
    roles["load generator (this process)"] = [os.getpid()]
    if spy is not None:
        roles["py-spy"] = [spy.pid]
    machine = MachineCpu(roles)
    cpu_before = cpu_seconds(web)
    seconds = await drive(users, args.seconds, recorder, record=True)
    mix_cpu = cpu_seconds(web) - cpu_before
    machine_shares = machine.shares(seconds)
    await asyncio.sleep(3)  # events of the last writes
    ws_events = ws.received - events_before
    await ws.stop()
    result = report(args, recorder, seconds, warmup_seconds, bare, ws)
    print(f"  (events received during the mix: {ws_events})")
    mix_requests = sum(len(v) for k, v in recorder.latencies.items() if k != SESSION_START)
    bare_ms = 1000 * bare_cpu / max(len(bare[1]), 1)
    mix_ms = 1000 * mix_cpu / max(mix_requests, 1)
    print(
        f"WSGI workers' CPU per request: bare view {bare_ms:.2f} ms, mix {mix_ms:.2f} ms "
        f"({mix_ms / bare_ms:.1f}x); the workers used {mix_cpu / seconds:.2f} of the 2 cores during the mix"
    )
    result.update(bare_cpu_ms=bare_ms, mix_cpu_ms=mix_ms, web_cores=mix_cpu / seconds)
    print(f"\nwhere the machine's {os.cpu_count()} cores went during the mix (cores used, from /proc):")
    table([[role, f"{cores:.2f}"] for role, cores in machine_shares], ["process", "cores"])
    result["machine_cores"] = machine_shares
    if spy is not None:
        spy.wait(timeout=120)
        if profile_path.exists():
            samples, categories, ours = summarize_profile(profile_path)
            print(f"\nwhere the WSGI workers' time goes (py-spy, {samples} samples, inclusive %; raw: {profile_path}):")
            table([[label, f"{share:.1f}"] for label, share in categories], ["category", "% of samples"])
            print("\nour functions (inclusive %):")
            table([[name, f"{share:.1f}"] for name, share in ours], ["function", "% of samples"])
            result["profile"] = {"samples": samples, "categories": categories, "ours": ours}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--bots-per-user", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--warmup",
        type=float,
        default=10,
        help="seconds; the users' first logins (~25 ms of Argon2id CPU each) are staggered across it",
    )
    parser.add_argument("--bare-seconds", type=float, default=10)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean seconds a user pauses between requests (exponential, capped at 5x; 0: saturation, back to back)",
    )
    parser.add_argument(
        "--session-requests",
        type=float,
        default=300,
        help="mean requests per session (exponential); a login opens each (0: one session per user for the run)",
    )
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--no-engine", dest="engine", action="store_false", help="no bot ticks (schedulers off)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    data_dir = Path(tempfile.mkdtemp(prefix="botfleet-load-"))
    db = PostgresDatabase(name=f"bench_load_{os.getpid()}").create()
    redis = RedisServer().start()
    layout = None
    try:
        env = environment(db, redis, data_dir)
        env["ENABLE_SCHEDULERS"] = "1" if args.engine else "0"
        print(f"database {db.name}, redis on {redis.port}; migrating and seeding {args.users} users ...", flush=True)
        manage(env, "migrate", "--noinput")
        code = SEED.format(users=args.users, bots=args.bots_per_user, password=PASSWORD)
        out = manage(env, "shell", "-c", code)
        seeds = json.loads(next(line for line in out.splitlines() if line.startswith("SEED "))[5:])
        layout = Layout(env, data_dir, args.web_workers, redis.process.pid)
        layout.start()
        print(f"web (granian x{args.web_workers}) on {layout.web_port}, daphne on {layout.ws_port}", flush=True)
        result = asyncio.run(run(args, layout, seeds))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, default=str))
        return 0
    except BaseException:
        if layout is not None:
            print(layout.logs(), file=sys.stderr)
        raise
    finally:
        if layout is not None:
            layout.stop()
        redis.stop()
        db.drop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
