"""kill -9 of the embedded worker's pool children (what the OOM killer does) while bots trade.

On kombu's blocking filesystem transport Celery used billiard's classic pool, whose
children share one inbound queue behind a semaphore: a child killed while holding it
left every later child waiting on it forever. Trades stopped for good while the
worker's heartbeat thread kept ``status`` "online", and the worker then ignored
SIGTERM. ``config.broker`` runs on the worker's event loop, so Celery uses its
``AsynPool`` (as with Redis), which replaces killed children.

Given a trading fleet on the embedded default, when every pool child is killed
several times in a row, then every bot trades again within a lease, ``status`` is
``online`` with no overdue bot, the books are clean, and SIGTERM stops the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.conftest import USING_POSTGRES
from tests.failure.support import (
    FLEET_ENV,
    assert_books_clean,
    check_books,
    create_fleet,
    stop_fleet,
    wait_each_bot_trades,
    wait_for,
)
from tests.processes import running_product, wait_until

pytestmark = [
    pytest.mark.failure,
    pytest.mark.skipif(USING_POSTGRES, reason="the embedded worker: checked in the embedded pass"),
]

LEASE_SECONDS = 10
ENV = {**FLEET_ENV, "ENGINE_LEASE_SECONDS": str(LEASE_SECONDS)}
ROUNDS = 6


def pool_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def kill_pool_children(worker_pid: int) -> int:
    """ROUNDS times: wait for the pool's (new) children, kill every one of them, pause
    0.7 s (some are in the middle of a task). Returns how many were killed."""
    killed: set[int] = set()
    for _ in range(ROUNDS):
        fresh = wait_until(
            lambda: set(pool_children(worker_pid)) - killed, timeout=20, interval=0.1, what="new pool children"
        )
        for child in fresh:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
                killed.add(child)
        time.sleep(0.7)
    return len(killed)


async def scenario(product) -> dict:
    fleet = await create_fleet(product, bots=3)
    await wait_each_bot_trades(fleet, since={}, timeout=90)
    worker = product.processes["worker"]
    killed = await asyncio.to_thread(kill_pool_children, worker.pid)
    counts = await asyncio.to_thread(fleet.trade_counts)  # after the kills: what comes next must be new
    resumed = await wait_each_bot_trades(fleet, since=counts, timeout=LEASE_SECONDS + 20)

    async with httpx.AsyncClient(base_url=product.base_url, timeout=10) as http:
        status = (await http.get("/api/status", headers=product.ops_headers)).json()
    await stop_fleet(fleet)
    await asyncio.sleep(2)  # a tick already under way finishes
    books = await asyncio.to_thread(check_books, fleet, stuck_after=10.0)

    stopping = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    await wait_for(lambda: worker.poll() is not None, timeout=30, what="the worker to stop on SIGTERM")
    return {
        "killed": killed,
        "trading_again_s": round(resumed, 1),
        "status": status["status"],
        "overdue_bots": status["overdue_bots"],
        "stopped_in_s": round(time.monotonic() - stopping, 1),
        "worker_exit": worker.returncode,
        **books,
    }


def test_pool_children_killed_and_the_engine_ticks_again_within_a_lease():
    with running_product(services=False, extra_env=ENV) as product:
        figures = asyncio.run(scenario(product))
    print(f"\nembedded pool kill -9: {figures}")
    assert figures["killed"] >= ROUNDS, figures
    assert figures["trading_again_s"] <= LEASE_SECONDS + 20, figures
    assert (figures["status"], figures["overdue_bots"]) == ("online", 0), figures
    assert figures["worker_exit"] == 0, figures
    assert_books_clean(figures)
