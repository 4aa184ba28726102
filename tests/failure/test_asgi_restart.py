"""Restart the ASGI server (daphne: WebSocket, SSE and, in this harness, HTTP) while
bots trade: gracefully once, then with SIGKILL.

Trading goes on while it is down (trades keep being recorded: counted during the gap);
WebSocket clients reconnect with ``?last_seq=`` and SSE clients with ``Last-Event-ID``,
and each ends with every event of its user exactly once, in seq order, with no gap —
compared with the event table.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.failure.conftest import needs_services
from tests.failure.support import (
    FLEET_ENV,
    StreamClient,
    assert_streams_exact,
    create_fleet,
    stop_and_compare,
    wait_each_bot_trades,
    wait_for,
)
from tests.processes import running_product

pytestmark = [pytest.mark.failure, needs_services]

DOWN_FOR = 4.0  # seconds the ASGI server stays down


async def scenario(product) -> dict:
    fleet = await create_fleet(product, bots=3)
    clients = [StreamClient(fleet, "ws").start(), StreamClient(fleet, "sse").start()]
    await wait_each_bot_trades(fleet, since={}, timeout=90)
    await wait_for(lambda: all(len(c.seqs) >= 3 for c in clients), timeout=30, what="clients receiving events")
    gaps = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        await asyncio.sleep(2)
        down_at = time.monotonic()
        await asyncio.to_thread(product.kill, "asgi", sig)
        stopped_s = time.monotonic() - down_at
        before = await asyncio.to_thread(fleet.total_trades)
        await asyncio.sleep(DOWN_FOR)
        during = await asyncio.to_thread(fleet.total_trades) - before
        connects = [c.connects for c in clients]
        await product.astart("asgi")
        back_s = time.monotonic() - down_at
        reconnected = await wait_for(
            lambda connects=connects: all(c.connects > n for c, n in zip(clients, connects, strict=True)),
            timeout=30,
            what="clients reconnected",
        )
        gaps.append(
            {
                "signal": signal.Signals(sig).name,
                "stopped_in_s": round(stopped_s, 1),
                "trades_while_down": during,
                "down_s": round(back_s, 1),
                "clients_reconnected_s": round(reconnected, 1),
            }
        )
    await asyncio.sleep(2)
    return {"restarts": gaps, **await stop_and_compare(fleet, clients)}


def test_asgi_restart_keeps_trading_and_streams_resume_without_gaps():
    started = time.monotonic()
    with running_product(services=True, extra_env=FLEET_ENV) as product:
        figures = asyncio.run(scenario(product))
    figures["wall_s"] = round(time.monotonic() - started, 1)
    print(f"\nASGI restart: {figures}")
    assert all(gap["trades_while_down"] > 0 for gap in figures["restarts"]), figures
    assert_streams_exact(figures)
