"""End to end: the real processes, a real user, real HTTP, WebSocket and SSE clients.

The product runs in the suite's mode: on the embedded default in the first run of
``.ci/run``, on PostgreSQL + Redis (its own database and its own redis-server) in the
second, started from the layout `make run` starts (``config.processes.run_layout``).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import websockets

from tests.conftest import USING_POSTGRES
from tests.processes import Product, running_product

pytestmark = pytest.mark.e2e

TRADE_TIMEOUT = 120  # seconds for the first paper trade: one beat dispatch and one tick (generous: CI may be loaded)
STREAM_TIMEOUT = 60  # seconds for any later event on either stream


class SseCollector:
    """Reads an SSE stream in the background into a list of (event, data) pairs."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.events: list[tuple[str, dict]] = []
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=60.0)) as client,
            client.stream("GET", self.url, headers={"Authorization": f"Bearer {self.token}"}) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event, data = "message", ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    data += line.split(":", 1)[1].strip()
                elif not line and data:
                    self.events.append((event, json.loads(data)))
                    event, data = "message", ""

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def wait_for(self, predicate, timeout: float) -> tuple[str, dict]:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for item in self.events:
                if predicate(*item):
                    return item
            if self.task.done():
                self.task.result()  # surface the stream's error
            await asyncio.sleep(0.2)
        raise AssertionError(f"SSE: no matching event within {timeout}s; got {[e for e, _ in self.events]}")

    def stop(self) -> None:
        if self.task:
            self.task.cancel()


async def ws_wait_for(ws, predicate, timeout: float, seen: list) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(
                f"WebSocket: no matching message within {timeout}s; got {[m.get('type') for m in seen]}"
            )
        message = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        seen.append(message)
        if predicate(message):
            return message


async def user_journey(product: Product) -> dict:
    figures = {}
    async with httpx.AsyncClient(base_url=f"{product.base_url}/api/", timeout=15) as http:
        email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
        response = await http.post("auth/register", json={"email": email, "password": "e2e-long-passphrase-9"})
        assert response.status_code == 201, response.text
        token = response.json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"

        response = await http.post(
            "keys/save", json={"exchange": "binance", "apiKey": "E2EKEY" + "k" * 20, "secret": "E2ESECRET" + "s" * 30}
        )
        assert response.status_code in (200, 201), response.text
        assert "E2ESECRET" not in response.text

        response = await http.post(
            "bots",
            json={
                "name": "E2E-DCA",
                "exchange": "simulated",
                "symbol": "BTC/USDT",
                "strategy": "dca",
                "params": {"order_pct": 0.05, "every_ticks": 1, "max_orders": 50, "take_profit_pct": 0.5},
                "interval_seconds": 1,
                "trading_mode": "paper",
                "capital": 10000,
            },
        )
        assert response.status_code == 201, response.text
        bot_id = response.json()["bot"]["id"]

        sse = SseCollector(f"{product.base_url}/api/realtime/events", token)
        sse.start()
        seen: list[dict] = []
        async with websockets.connect(f"{product.ws_url}?token={token}", open_timeout=15) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "connection"

            loop = asyncio.get_running_loop()
            started_at = loop.time()
            response = await http.post(f"bots/{bot_id}/start")
            assert response.status_code == 200, response.text

            trade = await ws_wait_for(
                ws,
                lambda m: m.get("type") == "trade_executed" and m.get("bot", {}).get("id", bot_id) == bot_id,
                TRADE_TIMEOUT,
                seen,
            )
            figures["first_trade_seconds"] = round(loop.time() - started_at, 1)
            assert trade["seq"] > 0

            await sse.wait_for(
                lambda event, data: event == "overview_update" and data.get("total_bots") == 1, STREAM_TIMEOUT
            )
            await sse.wait_for(
                lambda event, data: event == "trade_update" and data.get("type") == "trade_executed", STREAM_TIMEOUT
            )

            response = await http.post(f"bots/{bot_id}/stop")
            assert response.status_code == 200, response.text
            stopped = await ws_wait_for(ws, lambda m: m.get("type") == "bot_stopped", STREAM_TIMEOUT, seen)
            await sse.wait_for(
                lambda event, data: event == "bot_update" and data.get("type") == "bot_stopped", STREAM_TIMEOUT
            )
            assert stopped["seq"] > trade["seq"]
            seqs = [m["seq"] for m in seen if "seq" in m]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), "WebSocket events out of order or repeated"
        sse.stop()

        trades = (await http.get("trades", params={"bot_id": bot_id})).json()
        assert trades["total"] >= 1
        figures["trades"] = trades["total"]
    return figures


def test_end_to_end():
    """The product in the suite's own mode: embedded, or (services run) PostgreSQL + Redis."""
    with running_product(services=USING_POSTGRES) as product:
        figures = asyncio.run(user_journey(product))
    print(f"{'services' if USING_POSTGRES else 'embedded'}: {figures}")
