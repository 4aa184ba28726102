"""Real processes for end-to-end and failure tests.

Everything here runs on loopback, on free ports, with its own data folder, its own
PostgreSQL database and its own ``redis-server``: the machine's shared services are
never stopped, flushed or disturbed. Every process started is stopped on exit.

The product's processes are started from the layout files the launcher reads
(``Procfile.embedded`` through ``config.processes.run_layout``; ``Procfile`` for the
production layout), so what is tested is what ``make run`` and a process manager run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from config.processes import ProcessSpec, die_with_parent, read_procfile, run_layout

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def services_reachable() -> bool:
    return port_open(5432) and shutil.which("redis-server") is not None


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:g}s (last error: {last_error!r})")


def spawn(argv: list[str], **kwargs) -> subprocess.Popen:
    """Start a process that dies with this test run, even one killed with SIGKILL.

    ``PR_SET_PDEATHSIG`` (``die_with_parent``) fires when the *thread* that forked the
    child exits, not the process: a server started from a worker thread (``to_thread``,
    ``sync_to_async``) would be SIGTERMed when the executor retires that thread. So
    processes are started from the main thread only; async tests start them on their
    loop (which runs there) and wait for them off it (``Product.astart``, ``RedisServer.astart``).
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("start test processes from the main thread: PR_SET_PDEATHSIG follows the forking thread")
    return subprocess.Popen(argv, preexec_fn=die_with_parent, **kwargs)


# ---------------------------------------------------------------------------
# Redis: our own server, which tests may kill, stop and continue
# ---------------------------------------------------------------------------
@dataclass
class RedisServer:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="botfleet-redis-")))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.spawn()
        self.wait_ready()
        return self

    async def astart(self) -> RedisServer:
        """``start`` from an async test: spawned on the loop's (main) thread, awaited off it."""
        import asyncio

        self.spawn()
        await asyncio.to_thread(self.wait_ready)
        return self

    def spawn(self) -> None:
        self.process = spawn(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self) -> None:
        wait_until(lambda: port_open(self.port), timeout=10, what=f"redis on {self.port}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> RedisServer:
        """A new redis-server on the same port (after ``kill()``): empty, like a crashed one."""
        self.kill()
        return self.start()

    async def arestart(self) -> RedisServer:
        import asyncio

        await asyncio.to_thread(self.kill)
        return await self.astart()

    def pause(self) -> None:
        """SIGSTOP: the socket stays open but nothing answers (a hung Redis)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# PostgreSQL: our own database on the shared server
# ---------------------------------------------------------------------------
@dataclass
class PostgresDatabase:
    name: str = field(default_factory=lambda: f"botfleet_e2e_{os.getpid()}_{uuid.uuid4().hex[:6]}")
    admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:5432/{self.name}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def create(self) -> PostgresDatabase:
        self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def terminate_connections(self) -> int:
        """pg_terminate_backend on this database's connections only."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.name],
            ).fetchall()
        return len(rows)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url.replace("postgres://", "postgresql://"), connect_timeout=5) as conn:
            return conn.execute(sql, params or []).fetchall()

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            self.terminate_connections()
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"')


# ---------------------------------------------------------------------------
# The product
# ---------------------------------------------------------------------------
def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@dataclass
class Product:
    """Botfleet's processes on a free port, embedded or on PostgreSQL + Redis."""

    database: PostgresDatabase | None = None
    redis: RedisServer | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="botfleet-e2e-")))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # Fixed for the product's life: a restarted process must accept the tokens and read
    # the keys the others wrote.
    secret_key: str = field(default_factory=lambda: uuid.uuid4().hex * 2)
    fernet_key: str = field(default_factory=lambda: _fernet_key())
    # Monitors' bearer secret: /api/status details (workers, heartbeat, overdue bots) need it.
    ops_token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def ops_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.ops_token}"}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/ws"

    @property
    def embedded(self) -> bool:
        return self.database is None

    def env(self) -> dict[str, str]:
        # The suite's own production settings (the services pass of .ci/run) are not the
        # product's: an embedded product runs on the embedded defaults, as `make run` does.
        inherited_out = ("DATABASE_URL", "REDIS_URL", "CACHE_URL", "BOTFLEET_LOCAL_SECRETS", "ALLOWED_HOSTS")
        env = {k: v for k, v in os.environ.items() if k not in inherited_out}
        env.update(
            {
                "BOTFLEET_DATA_DIR": str(self.data_dir),
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "ENABLE_SCHEDULERS": "1",
                "PYTHONUNBUFFERED": "1",
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "OPS_TOKEN": self.ops_token,
                # Faster streams so tests wait seconds, not a quarter minute.
                "REALTIME_SSE_HEARTBEAT_SECONDS": "2",
                "REALTIME_SSE_OVERVIEW_SECONDS": "2",
            }
        )
        if not self.embedded:
            env.update(
                {
                    "DATABASE_URL": self.database.url,
                    "REDIS_URL": self.redis.url,
                    "SECRET_KEY": self.secret_key,
                    "FERNET_KEYS": self.fernet_key,
                    "BOTFLEET_LOCAL_SECRETS": "0",
                    "ALLOWED_HOSTS": "127.0.0.1,localhost",
                    "SECURE_SSL_REDIRECT": "0",
                    "CACHE_KEY_PREFIX": f"e2e{self.port}",
                }
            )
        env.update(self.extra_env)
        return env

    def _log(self, name: str):
        return open(self.data_dir / f"{name}.log", "ab")

    def manage(self, *args: str, timeout: float = 180) -> None:
        subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env(),
            check=True,
            timeout=timeout,
            stdout=self._log("manage"),
            stderr=subprocess.STDOUT,
        )

    def prepare(self) -> Product:
        self.manage("migrate", "--noinput")  # creates the cache table too (config.apps)
        self.manage("seed_demo")
        return self

    def commands(self, procfile: Path | None = None) -> dict[str, ProcessSpec]:
        """The layout ``make run`` starts, or the one of ``procfile`` (e.g. the production ``Procfile``)."""
        return read_procfile(procfile, self.env()) if procfile else run_layout(self.env())

    def start(self, *names: str, procfile: Path | None = None) -> Product:
        if self.spawn(*names, procfile=procfile):
            self.wait_http()
        return self

    async def astart(self, *names: str, procfile: Path | None = None) -> Product:
        """``start`` from an async test: spawned on the loop's (main) thread, awaited off it."""
        import asyncio

        if self.spawn(*names, procfile=procfile):
            await asyncio.to_thread(self.wait_http)
        return self

    def spawn(self, *names: str, procfile: Path | None = None) -> bool:
        """Start ``names`` (default: the whole layout); True when the ASGI server is among them."""
        commands = self.commands(procfile)
        for name in names or tuple(commands):
            if name in self.processes and self.processes[name].poll() is None:
                continue
            spec = commands[name]
            self.processes[name] = spawn(
                spec.argv,
                cwd=BASE_DIR,
                env={**self.env(), **spec.env},
                stdout=self._log(name),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return "asgi" in (names or tuple(commands))

    def wait_http(self, timeout: float = 120) -> None:
        wait_until(
            lambda: httpx.get(f"{self.base_url}/api/health", timeout=2).status_code == 200,
            timeout=timeout,
            what="the ASGI server",
        )

    def restart(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Stop ``name`` with ``sig`` (SIGKILL = a crash) and start it again."""
        self.kill(name, sig)
        self.processes.pop(name, None)
        self.start(name)

    def running(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        """Read the product's own database directly (``%s`` placeholders, both modes)."""
        if not self.embedded:
            return self.database.query(sql, params)
        import sqlite3

        conn = sqlite3.connect(f"file:{self.data_dir / 'botfleet.sqlite3'}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql.replace("%s", "?"), params or []).fetchall()
        finally:
            conn.close()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """SIGKILL takes the whole process group (a Celery worker's pool children die
        with it, as in a real crash); other signals go to the main process only, which
        then shuts its children down itself, as under a process manager."""
        process = self.processes.get(name)
        if not process or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if sig == signal.SIGKILL:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)
        self.processes.clear()

    def logs(self) -> str:
        return "\n".join(
            f"===== {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.data_dir.glob("*.log"))
        )

    def cleanup(self) -> None:
        self.stop()
        keep = os.environ.get("BOTFLEET_TEST_LOGS")  # a folder: keep every process's full log
        if keep:
            target = Path(keep) / self.data_dir.name
            target.mkdir(parents=True, exist_ok=True)
            for path in self.data_dir.glob("*.log"):
                shutil.copy(path, target / path.name)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@contextlib.contextmanager
def running_product(*, services: bool, extra_env: dict | None = None, start: bool = True) -> Iterator[Product]:
    database = redis = None
    if services:
        database = PostgresDatabase().create()
        redis = RedisServer().start()
    product = Product(database=database, redis=redis, extra_env=extra_env or {})
    try:
        product.prepare()
        if start:
            product.start()
        yield product
    except BaseException:
        print(product.logs(), file=sys.stderr)
        raise
    finally:
        product.cleanup()
        if redis:
            redis.stop()
        if database:
            database.drop()
