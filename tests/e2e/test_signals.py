"""End to end: a signal bot driven by its webhook, with the real worker acting on each signal.

The product runs in the suite's mode (embedded, or PostgreSQL + Redis in the services pass),
started from ``make run``'s layout; everything goes over HTTP on loopback.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.conftest import USING_POSTGRES
from tests.processes import running_product, wait_until

pytestmark = pytest.mark.e2e

ACT_TIMEOUT = 60  # seconds for the worker to act on a signal (generous: CI may be loaded)


def _signal(api: httpx.Client, signal_id: int) -> dict:
    rows = api.get("signals/history").json()["signals"]
    return next(row for row in rows if row["id"] == signal_id)


def _acted_on(api: httpx.Client, signal_id: int) -> dict:
    return wait_until(
        lambda: (row := _signal(api, signal_id))["status"] not in ("accepted",) and row,
        timeout=ACT_TIMEOUT,
        what=f"signal {signal_id} acted on",
    )


def test_a_webhook_signal_is_executed_by_the_worker_at_once():
    with running_product(services=USING_POSTGRES) as product:
        api = httpx.Client(base_url=f"{product.base_url}/api/", timeout=30)
        email = f"signals-{uuid.uuid4().hex[:8]}@example.com"
        registered = api.post("auth/register", json={"email": email, "password": "e2e-long-passphrase-9"})
        assert registered.status_code == 201, registered.text
        api.headers["Authorization"] = f"Bearer {registered.json()['access_token']}"
        created = api.post("bots", json={"name": "TV", "symbol": "BTC/USDT", "strategy": "signal", "capital": 1000})
        assert created.status_code == 201, created.text
        bot_id = created.json()["bot"]["id"]
        assert api.post(f"bots/{bot_id}/start").status_code == 200
        url = api.get(f"bots/{bot_id}/webhook").json()["webhook"]["url"]
        outsider = httpx.Client(timeout=30)  # TradingView: no login, the token in the path

        sent = time.monotonic()
        received = outsider.post(url, json={"action": "buy", "quote_amount": 100, "id": "tv-1"})
        assert received.status_code == 202, received.text
        bought = _acted_on(api, received.json()["signal"]["id"])
        assert bought["status"] == "executed", bought
        assert (bought["order"]["side"], bought["order"]["status"], bought["order"]["reason"]) == (
            "buy",
            "filled",
            "signal",
        )
        assert time.monotonic() - sent < ACT_TIMEOUT  # acted on by its task, not at the next tick (60 s)

        duplicate = outsider.post(url, json={"action": "buy", "quote_amount": 100, "id": "tv-1"})
        assert duplicate.json()["signal"]["reason"] == "duplicate"

        closed = outsider.post(url, json={"action": "close"})
        sold = _acted_on(api, closed.json()["signal"]["id"])
        assert (sold["status"], sold["order"]["side"]) == ("executed", "sell"), sold
        orders = api.get(f"bots/{bot_id}/orders").json()["orders"]
        assert sorted(o["side"] for o in orders) == ["buy", "sell"]

        assert api.post(f"bots/{bot_id}/stop").status_code == 200
        refused = outsider.post(url, json={"action": "buy"})
        assert (refused.json()["signal"]["status"], refused.json()["signal"]["reason"]) == (
            "rejected",
            "bot_not_running",
        )
        assert len(api.get(f"bots/{bot_id}/orders").json()["orders"]) == 2
