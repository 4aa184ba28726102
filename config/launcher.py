"""``make run``: the whole product in one command.

Prepares the database (migrations, the cache table, demo data once), then starts and
supervises the processes of the chosen run mode: the ASGI server (HTTP, WebSocket and
SSE, with the event relay inside) plus a Celery worker and Celery beat. Ctrl-C (or
SIGTERM) stops every process it started; if one of them dies, the others are stopped
too and the exit status says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from config.processes import die_with_parent

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _manage(*args: str, env: dict) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def _processes(host: str, port: str, *, relay_in_asgi: bool) -> dict[str, list[str]]:
    processes = {
        # daphne's own CLI, with ?token= values redacted from its access log (realtime.asgi_server).
        # Never --proxy-headers: daphne would take the client's own X-Forwarded-For as its
        # address; accounts.api.client_ip reads it through TRUSTED_PROXY_COUNT proxies only.
        "asgi": [
            PYTHON,
            "-m",
            "realtime.asgi_server",
            "-b",
            host,
            "-p",
            port,
            "config.asgi:application",
        ],
        "worker": [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            os.environ.get("WORKER_CONCURRENCY", "2"),
            "--without-mingle",
            "--without-gossip",
            "-n",
            "worker@%h",
        ],
        "beat": [PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
    }
    if not relay_in_asgi:
        # Services mode: the production layout's relay process (one active, by its lease).
        processes["relay"] = [PYTHON, "manage.py", "relay_events"]
    return processes


def _kick_asgi(base: str, deadline_seconds: float = 30.0) -> bool:
    """Wait for the ASGI server, and with the first request start its embedded relay
    (daphne has no lifespan events). Returns whether it answered in time."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/health", timeout=2) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def main() -> int:
    env = dict(os.environ)
    embedded = not env.get("DATABASE_URL")
    # The one-command product trades: dispatch schedules are on unless said otherwise.
    env.setdefault("ENABLE_SCHEDULERS", "1")
    env.setdefault("DEBUG", "0")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")

    _manage("migrate", "--noinput", env=env)
    if embedded:
        _manage("createcachetable", "--database", "cache", env=env)
    _manage("seed_demo", env=env)

    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    relay_in_asgi = env.get("RELAY_IN_ASGI", "1" if embedded else "0").lower() in ("1", "true", "yes", "on")
    for name, command in _processes(host, port, relay_in_asgi=relay_in_asgi).items():
        # Own process group: a Ctrl-C in the terminal reaches us once, and we stop children in order.
        children[name] = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, start_new_session=True, preexec_fn=die_with_parent
        )

    base = f"http://{host}:{port}"
    ws = f"ws://{host}:{port}"
    if not _kick_asgi(base):
        print("Botfleet: the ASGI server did not answer within 30 s; see its output above.", flush=True)
    print(
        "\nBotfleet is running ({mode}).\n"
        f"  API docs   {base}/api/docs/\n"
        f"  Admin      {base}/admin/\n"
        f"  WebSocket  {ws}/api/ws\n"
        f"  SSE        {base}/api/realtime/events\n"
        f"  Health     {base}/api/ready\n"
        "Demo logins are listed above. Ctrl-C stops everything.\n".format(
            mode="embedded: SQLite, filesystem broker, in-memory channel layer"
            if embedded
            else "services: DATABASE_URL and REDIS_URL"
        ),
        flush=True,
    )

    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"Botfleet: {name} exited with status {child.returncode}; stopping the rest.", flush=True)
                exit_code = child.returncode or 1
                stopping = True
                break
        time.sleep(0.5)

    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    print("Botfleet stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
