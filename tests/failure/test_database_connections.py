"""pg_terminate_backend on the test database's connections, repeatedly, during a burst.

Requests fail with a clean 503 envelope at worst (never a 500, never a hang) and the
product recovers by itself within seconds: HTTP, the worker (bots keep trading) and
the relay (every event still published). Only this test's own database is touched.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.failure.conftest import needs_services
from tests.failure.support import FLEET_ENV, Probe, create_fleet, wait_each_bot_trades, wait_for
from tests.processes import running_product

pytestmark = [pytest.mark.failure, needs_services]

TERMINATIONS = 4
EVERY = 2.5  # seconds between terminations
RECOVERY_WITHIN = 60.0
# One client's burst (status is anonymous): the throttles are not what is tested here.
ENV = {**FLEET_ENV, "THROTTLE_USER": "100000/min", "THROTTLE_ANON": "100000/min"}


async def scenario(product) -> dict:
    fleet = await create_fleet(product, bots=2)
    await wait_each_bot_trades(fleet, since={}, timeout=90)
    paths = ("bots", "auth/me", "status", f"bots/{fleet.bot_ids[0]}/trades", "trades")
    probe = Probe(fleet, paths, concurrency=6, pause=0.02).start()
    await asyncio.sleep(2)
    terminated_at, terminated = [], []
    for _ in range(TERMINATIONS):
        terminated_at.append(time.monotonic())
        terminated.append(await asyncio.to_thread(product.database.terminate_connections))
        await asyncio.sleep(EVERY)
    # Keep the burst going until 3 s of nothing but 200s follow the last failure.
    deadline = time.monotonic() + RECOVERY_WITHIN
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        recent = probe.window(time.monotonic() - 3)
        last_failure = max((r[1] for r in probe.results if r[3] != 200), default=0)
        if recent and time.monotonic() - last_failure > 3:
            break
    await probe.stop()

    # Recovery after each termination: the end of the last failed request that started
    # after it (0 when nothing failed).
    recoveries = []
    for i, at in enumerate(terminated_at):
        until = terminated_at[i + 1] if i + 1 < len(terminated_at) else float("inf")
        failed = [r for r in probe.window(at, until) if r[3] != 200]
        recoveries.append(round(max((r[1] for r in failed), default=at) - at, 2))
    after = probe.window(terminated_at[-1] + recoveries[-1] + 0.1)
    counts = await asyncio.to_thread(fleet.trade_counts)
    trading_again = await wait_each_bot_trades(fleet, since=counts, timeout=RECOVERY_WITHIN)
    relay_drained = await wait_for(lambda: fleet.unpublished() == 0, timeout=RECOVERY_WITHIN, what="relay drained")
    return {
        "terminations": TERMINATIONS,
        "connections_terminated": terminated,
        "burst": Probe.summary(probe.results),
        "recovery_s": recoveries,
        "after_recovery": Probe.summary(after),
        "bots_trading_again_s": round(trading_again, 1),
        "relay_drained_s": round(relay_drained, 1),
    }


def test_terminated_database_connections_give_clean_503s_and_recover():
    started = time.monotonic()
    with running_product(services=True, extra_env=ENV) as product:
        figures = asyncio.run(scenario(product))
    figures["wall_s"] = round(time.monotonic() - started, 1)
    print(f"\npg_terminate_backend: {figures}")
    burst = figures["burst"]
    assert burst["unclean"] == 0, figures  # no 500, no hang, no dropped connection
    assert set(burst["statuses"]) <= {"200", "503"}, figures
    assert all(seconds <= RECOVERY_WITHIN for seconds in figures["recovery_s"]), figures
    assert figures["after_recovery"]["requests"] > 0, figures
    assert set(figures["after_recovery"]["statuses"]) == {"200"}, figures
