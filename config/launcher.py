"""``make run``: the whole product in one command.

Prepares the database (migrations, which also create the cache table; demo data once),
then starts and supervises the processes of ``Procfile.embedded`` (``config.processes``):
the ASGI server (HTTP, admin, static files, WebSocket and SSE, with the event relay
inside) plus two Celery workers (bot ticks and housekeeping; notification deliveries, on
their own queue) and Celery beat.

A process that dies is restarted, after a backoff that grows while it keeps dying
(1 s, 2 s, 4 s … at most ``MAX_BACKOFF``) and resets once it has run for a minute; the
product never stops because one part crashed (the OOM killer, a broken message). Only
Ctrl-C or SIGTERM stop everything: each process gets SIGTERM, and whatever has not
exited ``STOP_DEADLINE`` seconds later (a worker waiting on a task that will never
finish) is killed with its whole process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from config.processes import ProcessSpec, die_with_parent, read_procfile, run_layout

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0  # a process that ran this long starts its backoff over


def _manage(*args: str, env: dict) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def _say(message: str) -> None:
    print(f"Botfleet: {message}", flush=True)


@dataclass
class Child:
    spec: ProcessSpec
    env: dict
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0  # deaths in a row without a stable run in between
    restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.spec.argv,
            cwd=BASE_DIR,
            env={**self.env, **self.spec.env},
            # Own process group: a Ctrl-C in the terminal reaches only us, and a kill at
            # the deadline takes the process with its children (Celery's pool).
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self, now: float) -> bool:
        """Notice a death and schedule the restart; restart when its time has come.
        Returns whether it was restarted now."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                _say(f"restarting {self.spec.name}")
                self.start()
                return True
            return False
        if self.process is None or self.process.poll() is None:
            return False
        if now - self.started_at >= STABLE_AFTER:
            self.failures = 0
        delay = min(MAX_BACKOFF, 2.0**self.failures)
        self.failures += 1
        self.restart_at = now + delay
        _say(
            f"{self.spec.name} exited with status {self.process.returncode}; "
            f"restarting it in {delay:g} s (death {self.failures} in a row)"
        )
        return False

    def terminate(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def kill_group(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def supervise(specs: dict[str, ProcessSpec], env: dict, *, ready=None, restarted=None, stop_deadline: float) -> int:
    """Run ``specs`` until SIGINT/SIGTERM, restarting any that dies; then stop them all.

    ``ready`` (optional) is called once after the start, e.g. to print the URLs;
    ``restarted(name)`` after each restart.
    """
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    children = [Child(spec, env) for spec in specs.values()]
    for child in children:
        child.start()
    if ready is not None and not stopping:
        ready()
    while not stopping:
        now = time.monotonic()
        for child in children:
            if child.check(now) and restarted is not None:
                restarted(child.spec.name)
        time.sleep(0.2)

    _say(f"stopping {', '.join(c.spec.name for c in children if c.alive())}")
    for child in children:
        child.terminate()
    deadline = time.monotonic() + stop_deadline
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{child.spec.name} ignored SIGTERM for {stop_deadline:g} s; killing it")
        # The group too: pool children of a worker that exited (or was killed) must not linger.
        child.kill_group()
    _say("stopped.")
    return 0


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
    host, port = env.setdefault("HOST", "127.0.0.1"), env.setdefault("PORT", "8000")

    _manage("migrate", "--noinput", env=env)
    _manage("seed_demo", env=env)

    procfile = env.get("BOTFLEET_PROCFILE")  # another layout file (the launcher's own tests)
    specs = read_procfile(Path(procfile), env) if procfile else run_layout(env)
    base, ws = f"http://{host}:{port}", f"ws://{host}:{port}"

    def announce() -> None:
        if "asgi" in specs and not _kick_asgi(base):
            _say("the ASGI server did not answer within 30 s; see its output above.")
        print(
            "\nBotfleet is running ({mode}).\n"
            f"  Dashboard  {base}/\n"
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

    def restarted(name: str) -> None:
        if name == "asgi":  # its embedded relay starts with the first request
            threading.Thread(target=_kick_asgi, args=(base,), daemon=True).start()

    return supervise(
        specs,
        env,
        ready=announce,
        restarted=restarted,
        stop_deadline=float(env.get("BOTFLEET_STOP_SECONDS", "20")),
    )


if __name__ == "__main__":
    sys.exit(main())
