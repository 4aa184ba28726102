"""kill -9 the Celery worker repeatedly in the middle of trading.

``GET /api/status`` must say offline within 30 s of each kill; after each restart the
bots carry on; across the run no order is duplicated, no fill lost, no order stuck in
an unknown state, and every bot's totals and position equal a recount of its trades.

Two of the bots trade live on the fake exchange (Binance's shape, fees taken in the
asset received, orders filling in two parts, now and then answering after the client
gave up): their books are compared with *the venue's* record of orders and fills — every
execution booked once at its own quantity, price and fee, no order the books closed as
never sent although the venue has it (a double order), each bot's position equal to what
its fills left in the account. The randomness is seeded (``FAILURE_SEED`` to replay a
run); the seed is printed.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from decimal import Decimal

import httpx
import pytest

from tests.conftest import USING_POSTGRES
from tests.failure.conftest import needs_services
from tests.failure.support import (
    FLEET_ENV,
    assert_books_clean,
    check_books,
    create_fleet,
    stop_fleet,
    wait_each_bot_trades,
    wait_for,
)
from tests.fakes.exchange import FakeExchange
from tests.processes import running_product

pytestmark = [pytest.mark.failure, needs_services]

KILLS = 3
OFFLINE_WITHIN = 30.0
# A killed worker's batch lease expires by itself (DESIGN.md "How a bot trades"); the
# default (150 s, above the tick's hard time limit) would keep those bots idle for the
# whole test, so the lease is shortened here. Fencing (the lease re-checked under the
# bot's row lock) is what keeps a late tick of a slow worker from trading twice.
LEASE_SECONDS = 15
ENV = {
    **FLEET_ENV,
    "ENGINE_LEASE_SECONDS": str(LEASE_SECONDS),
    "ENABLE_TRADING": "1",
    "VENUE_TIMEOUT_SECONDS": "2",
    "ENGINE_UNKNOWN_GRACE_SECONDS": "5",
}


class VenueWeather:
    """The fake venue's behaviour over the run: partial fills completed after a random
    delay, and now and then answers slower than the client waits (unknown outcomes)."""

    def __init__(self, fake: FakeExchange, rng: random.Random):
        self.fake, self.rng = fake, rng
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="venue-weather", daemon=True)

    def start(self) -> VenueWeather:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.rng.uniform(0.3, 1.5)):
            try:
                self.fake.delay = 3.0 if self.rng.random() < 0.05 else 0.0
                for cid, order in list(self.fake.orders.items()):
                    if order.status == "open" and self.rng.random() < 0.5:
                        self.fake.fill_next(cid)
            except Exception as exc:  # shown in the figures: a dead weather thread would stall the bots
                self.errors.append(repr(exc))

    def state(self) -> dict:
        return {
            "alive": self._thread.is_alive(),
            "errors": self.errors[-3:],
            "open": {c: (str(o.filled), len(o.plan)) for c, o in list(self.fake.orders.items()) if o.status == "open"},
        }

    def settle(self) -> None:
        """Stop the weather, fill new orders at once, and complete every order still open."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.fake.delay = 0.0
        self.fake.set_plan(None)
        for cid, order in list(self.fake.orders.items()):
            while order.status == "open":
                self.fake.fill_next(cid)


async def status_offline_after_kill(base_url: str, killed_at: float) -> float:
    async with httpx.AsyncClient(timeout=10) as http:
        while time.monotonic() - killed_at < OFFLINE_WITHIN + 15:
            response = await http.get(f"{base_url}/api/status")
            assert response.status_code == 200, response.text
            if response.json()["status"] == "offline":
                return time.monotonic() - killed_at
            await asyncio.sleep(0.5)
    raise AssertionError("status still online 45 s after the worker was killed")


def _live_orders_open(fleet) -> int:
    marks = ", ".join(["%s"] * len(fleet.live_bot_ids))
    sql = f"SELECT COUNT(*) FROM bots_order WHERE bot_id IN ({marks}) AND status IN ('new', 'submitted', 'open', 'partially_filled', 'unknown')"  # noqa: E501,S608
    return fleet.product.query(sql, list(fleet.live_bot_ids))[0][0]


async def scenario(product, fake: FakeExchange, rng: random.Random) -> dict:
    fleet = await create_fleet(product, bots=4, live_bots=2)
    weather = VenueWeather(fake, rng).start()
    await wait_each_bot_trades(fleet, since={}, timeout=90)
    offline, resumed, trades_at_kill = [], [], []
    for kill in range(KILLS):
        await asyncio.sleep(rng.uniform(1.0, 4.0))  # a random point in the middle of trading
        killed_at = time.monotonic()
        await asyncio.to_thread(product.kill, "worker", signal.SIGKILL)
        fake.ledger.prices["BTC/USDT"] *= Decimal("1.003")  # the live bots' take-profit sells, now and then
        counts = await asyncio.to_thread(fleet.trade_counts)
        trades_at_kill.append(sum(counts.values()))
        if kill != 1:
            offline.append(round(await status_offline_after_kill(product.base_url, killed_at), 1))
        # else: a crash loop: a supervisor restarts the worker at once, inside the dead
        # worker's lease and before any heartbeat went stale.
        restarted_at = time.monotonic()
        await product.astart("worker")
        try:
            await wait_each_bot_trades(fleet, since=counts, timeout=LEASE_SECONDS + 45)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; venue: {weather.state()}") from None
        resumed.append(round(time.monotonic() - restarted_at, 1))
    # Let the venue finish every order and the last worker reconcile whatever the kills left
    # in flight, stop the bots (the books are read table by table) and check them.
    await asyncio.to_thread(weather.settle)
    try:
        await wait_for(lambda: _live_orders_open(fleet) == 0, timeout=60, what="every live order resolved")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {fleet.diagnose()}; venue: {weather.state()}") from None
    await stop_fleet(fleet)
    await asyncio.sleep(2)  # a tick already under way finishes
    books = await asyncio.to_thread(check_books, fleet, stuck_after=10.0, venue=fake)
    return {
        "mode": "services" if not product.embedded else "embedded",
        "kills": KILLS,
        "lease_s": LEASE_SECONDS,
        "offline_after_kill_s": offline,
        "trading_again_after_restart_s": resumed,
        "trades_at_kills": trades_at_kill,
        **books,
    }


def test_worker_killed_repeatedly_mid_trading():
    seed = int(os.environ.get("FAILURE_SEED") or time.time_ns() % 2**32)
    print(f"\nworker kill -9: FAILURE_SEED={seed}")
    started = time.monotonic()
    fake = FakeExchange().start()
    # Binance paying fees in BNB (valued through its BNB/USDT price). The account holds no BTC
    # but what the bots buy, so a sell of more than the books hold is refused. (Fees taken in
    # BTC leave sub-lot dust after a take-profit: see tests/engine/test_live.py for them.)
    fake.set_fees("0.001", "bnb")
    fake.balances.update({"BTC": Decimal(0), "USDT": Decimal(10**6)})
    fake.set_plan([("0.5", None), ("0.5", None)])
    env = {**ENV, "VENUE_URLS": f"binance={fake.url}"}
    try:
        with running_product(services=USING_POSTGRES, extra_env=env) as product:
            figures = asyncio.run(scenario(product, fake, random.Random(seed)))
    finally:
        fake.stop()
    figures["seed"] = seed
    figures["wall_s"] = round(time.monotonic() - started, 1)
    print(f"\nworker kill -9: {figures}")
    assert all(seconds <= OFFLINE_WITHIN + 1 for seconds in figures["offline_after_kill_s"]), figures
    assert_books_clean(figures)
