"""Integration: a real ``celery worker`` and ``celery beat`` against a ``redis-server`` this test
starts on a free port (never the shared one), on an embedded data folder of its own.

Demo bots are seeded running; beat dispatches them, the worker ticks them, trades land in
the database and the worker's heartbeat makes the engine online. Everything is stopped
and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.processes import BASE_DIR, PYTHON, spawn, wait_until

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server on PATH")


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=5) as conn:
        try:
            return conn.execute(sql).fetchone()[0]
        except sqlite3.OperationalError:  # not migrated yet
            return 0


def test_a_real_worker_on_its_own_redis_broker_makes_demo_bots_trade(redis_server):
    redis = redis_server
    data = Path(tempfile.mkdtemp(prefix="botfleet-engine-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CACHE_URL")}
    env.update(
        {
            "BOTFLEET_DATA_DIR": str(data),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_BROKER_URL": redis.url,
            "ENABLE_SCHEDULERS": "1",
            "ENGINE_DISPATCH_SECONDS": "1",
            "ENGINE_HEARTBEAT_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    processes: list[subprocess.Popen] = []
    log = open(data / "celery.log", "ab")  # noqa: SIM115 - closed in finally
    try:
        for args in (("migrate", "--noinput"), ("createcachetable", "--database", "cache"), ("seed_demo",)):
            subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True, stdout=log, stderr=log)
        celery = [PYTHON, "-m", "celery", "-A", "config"]
        processes.append(
            spawn(
                [*celery, "worker", "--concurrency", "1", "--without-mingle", "--without-gossip", "-n", "w1@%h"],
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=log,
            )
        )
        processes.append(
            spawn([*celery, "beat", "-s", str(data / "beat-schedule")], cwd=BASE_DIR, env=env, stdout=log, stderr=log)
        )
        db = data / "botfleet.sqlite3"
        wait_until(
            lambda: _count(db, "SELECT COUNT(*) FROM bots_trade") >= 1, timeout=90, what="a demo bot's paper trade"
        )
        assert _count(db, "SELECT COUNT(*) FROM bots_trade WHERE is_paper = 0") == 0
        assert _count(db, "SELECT COUNT(*) FROM bots_workerheartbeat") == 1
        # The worker keeps ticking: an intent persisted a moment ago fills within its tick.
        wait_until(
            lambda: _count(db, "SELECT COUNT(*) FROM bots_order WHERE status != 'filled'") == 0,
            timeout=30,
            what="every placed order filled",
        )
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
