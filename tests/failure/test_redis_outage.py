"""Stop the test's own Redis for 30 s while bots trade: once killed, once SIGSTOPped.

Redis is the cache, the channel layer and the Celery broker in services mode, so no
tick happens meanwhile (expected). What must hold: endpoints that don't need Redis
keep answering (no 5xx, bounded latency), ``GET /api/ready`` answers 503 naming the
cache, the channel layer and the broker within about 2 s, and once Redis is back the
product recovers by itself and every event reaches the connected WebSocket and SSE
clients, none lost (compared with the event table by seq).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.failure.conftest import needs_services
from tests.failure.support import (
    FLEET_ENV,
    Probe,
    StreamClient,
    assert_streams_exact,
    create_fleet,
    stop_and_compare,
    wait_each_bot_trades,
    wait_for,
)
from tests.processes import running_product

pytestmark = [pytest.mark.failure, needs_services]

OUTAGE = 30.0
REDIS_PARTS = {"cache", "channel_layer", "broker"}
LATENCY_BOUND = 10.0  # seconds: "bounded", not a performance target
RECOVERY_WITHIN = 60.0


async def ready_answer(base_url: str, *, want_down: bool, since: float, timeout: float) -> tuple[float, list]:
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() - since < timeout:
            try:
                response = await http.get(f"{base_url}/api/ready")
            except httpx.HTTPError:
                response = None
            if response is not None:
                if want_down and response.status_code == 503:
                    down = response.json()["error"]["details"]["down"]
                    if set(down) >= REDIS_PARTS:
                        return time.monotonic() - since, down
                if not want_down and response.status_code == 200:
                    return time.monotonic() - since, []
            await asyncio.sleep(0.2)
    raise AssertionError(f"ready did not turn {'503' if want_down else '200'} within {timeout}s")


async def scenario(product) -> dict:
    redis = product.redis
    fleet = await create_fleet(product, bots=3)
    clients = [StreamClient(fleet, "ws").start(), StreamClient(fleet, "sse").start()]
    await wait_each_bot_trades(fleet, since={}, timeout=90)
    await wait_for(lambda: all(len(c.seqs) >= 3 for c in clients), timeout=30, what="clients receiving events")
    probe = Probe(fleet, ("bots", "status", "auth/me"), concurrency=3, pause=0.2).start()
    outages = []
    for how in ("kill", "sigstop"):
        await asyncio.sleep(2)
        down_at = time.monotonic()
        if how == "kill":
            await asyncio.to_thread(redis.kill)
        else:
            redis.pause()
        ready_503_s, down = await ready_answer(product.base_url, want_down=True, since=down_at, timeout=15)
        trades_before = await asyncio.to_thread(fleet.total_trades)
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
        trades_during = await asyncio.to_thread(fleet.total_trades) - trades_before
        back_at = time.monotonic()
        if how == "kill":
            await redis.arestart()  # empty, like a crashed Redis without persistence
        else:
            redis.resume()
        ready_again_s, _ = await ready_answer(product.base_url, want_down=False, since=back_at, timeout=RECOVERY_WITHIN)
        print(f"Redis {how}: ready again after {ready_again_s:.1f}s", flush=True)
        counts = await asyncio.to_thread(fleet.trade_counts)
        trading_again_s = await wait_each_bot_trades(fleet, since=counts, timeout=RECOVERY_WITHIN)
        outages.append(
            {
                "how": how,
                "ready_503_after_s": round(ready_503_s, 2),
                "ready_down": down,
                "trades_during_outage": trades_during,
                "during_outage": Probe.summary(probe.window(down_at, back_at)),
                "ready_again_after_s": round(ready_again_s, 1),
                "trading_again_after_s": round(time.monotonic() - back_at, 1),
                "_trading_wait_s": round(trading_again_s, 1),
            }
        )
    await probe.stop()
    return {
        "outages": outages,
        "whole_run": Probe.summary(probe.results),
        **await stop_and_compare(fleet, clients, timeout=RECOVERY_WITHIN),
    }


def test_redis_outage_keeps_reads_answering_and_loses_no_event():
    started = time.monotonic()
    with running_product(services=True, extra_env=FLEET_ENV) as product:
        figures = asyncio.run(scenario(product))
    figures["wall_s"] = round(time.monotonic() - started, 1)
    print(f"\nRedis outage: {figures}")
    for outage in figures["outages"]:
        during = outage["during_outage"]
        assert during["requests"] > 0, figures
        assert set(during["statuses"]) == {"200"}, figures  # no 5xx, no hang, no throttle error
        assert during["max_latency_ms"] <= LATENCY_BOUND * 1000, figures
        assert outage["ready_503_after_s"] <= 5, figures
    assert_streams_exact(figures)
