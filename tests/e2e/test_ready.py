"""``ready`` and ``status`` tell the truth about the running product (issue 16, item 10).

``ready`` used to answer 200 while the relay was dead, while the worker was wedged
(its heartbeat thread still beating) and while the database file was gone (SQLite
answers ``SELECT 1`` on the new empty file it creates). Given a trading fleet on the
embedded default with the relay as its own process (``RELAY_IN_ASGI=0``, as in
production), each failure in turn must make ``ready`` answer 503 naming it, and
``status`` say ``stalled`` while due bots are not ticked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess

import httpx
import pytest

from tests.conftest import USING_POSTGRES
from tests.failure.support import FLEET_ENV, create_fleet, wait_each_bot_trades, wait_for
from tests.processes import running_product

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(USING_POSTGRES, reason="checked once, in the embedded pass"),
]

ENV = {**FLEET_ENV, "ENGINE_LEASE_SECONDS": "5", "RELAY_IN_ASGI": "0", "RELAY_LEASE_SECONDS": "3"}
GRACE = 5 + 3 * 1  # ENGINE_LEASE_SECONDS + 3 × ENGINE_DISPATCH_SECONDS


def ready(product) -> tuple[int, list[str]]:
    response = httpx.get(f"{product.base_url}/api/ready", timeout=10)
    body = response.json()
    return response.status_code, ([] if response.status_code == 200 else body["error"]["details"]["down"])


def status(product) -> dict:
    return httpx.get(f"{product.base_url}/api/status", headers=product.ops_headers, timeout=10).json()


def pool_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


async def scenario(product) -> dict:
    seen: dict[str, object] = {}
    fleet = await create_fleet(product, bots=2)
    await wait_each_bot_trades(fleet, since={}, timeout=90)
    await wait_for(lambda: ready(product) == (200, []), timeout=30, what="ready 200")

    # The relay dies: nothing publishes events any more.
    await asyncio.to_thread(product.kill, "relay", signal.SIGKILL)
    await wait_for(lambda: ready(product)[0] == 503, timeout=15, what="ready 503 without a relay")
    seen["relay_dead"] = ready(product)
    await product.astart("relay")
    await wait_for(lambda: ready(product) == (200, []), timeout=30, what="ready 200 with the relay back")

    # The worker wedges: its pool stops, its heartbeat thread goes on. A stopped child's tick
    # outlives its hard time limit and the pool replaces it, so each new child is stopped too.
    stopped: set[int] = set()

    def wedge_and_check() -> bool:
        for child in set(pool_children(product.processes["worker"].pid)) - stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGSTOP)
            stopped.add(child)
        return status(product)["status"] == "stalled"

    try:
        await wait_for(wedge_and_check, timeout=GRACE + 20, what="status stalled")
        seen["wedged_status"] = status(product)
        seen["running_bots"] = product.query(
            "SELECT COUNT(*) FROM bots_bot WHERE status = 'running' AND deleted_at IS NULL"
        )[0][0]
        seen["wedged_ready"] = ready(product)
    finally:
        for child in stopped:
            with contextlib.suppress(ProcessLookupError):  # killed by the pool for its time limit
                os.kill(child, signal.SIGCONT)
    await wait_for(lambda: ready(product) == (200, []), timeout=GRACE + 30, what="ready 200 with the pool back")
    seen["recovered_status"] = status(product)["status"]

    # The database file goes away (renamed): every API call fails.
    database = product.data_dir / "botfleet.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        path = database.with_name(database.name + suffix)
        if path.exists():
            path.rename(path.with_name(path.name + ".moved"))
    await wait_for(lambda: ready(product)[0] == 503, timeout=15, what="ready 503 without the database")
    seen["database_gone"] = ready(product)
    return seen


def test_ready_and_status_name_what_is_down():
    with running_product(services=False, extra_env=ENV) as product:
        seen = asyncio.run(scenario(product))

    assert seen["relay_dead"] == (503, ["relay"])
    wedged = seen["wedged_status"]
    assert (wedged["status"], wedged["workers"], wedged["running_bots"]) == ("stalled", 1, seen["running_bots"])
    # The fleet's two bots (1 s interval) at least; the demo bots tick once a minute.
    assert wedged["overdue_bots"] >= 2, wedged
    assert seen["wedged_ready"] == (503, ["engine"])
    assert seen["recovered_status"] == "online"
    assert seen["database_gone"] == (503, ["database", "engine", "relay"])
