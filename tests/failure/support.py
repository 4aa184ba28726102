"""Shared pieces of the failure tests: a trading fleet, reconnecting stream clients,
and the books check (no duplicated order, no lost fill, totals equal a recount).

Everything talks to the product over real HTTP/WebSocket on loopback and reads its
database directly (``Product.query``), never through Django in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import websockets

from tests.processes import Product

# Fast dispatch so bots with a 1 s interval really tick about every second.
FLEET_ENV = {"ENGINE_DISPATCH_SECONDS": "1", "JWT_ACCESS_MINUTES": "60"}

# A reliable trader: buys 1 % of capital every tick, sells everything 0.1 % above cost.
DCA_BOT = {
    "exchange": "simulated",
    "symbol": "BTC/USDT",
    "strategy": "dca",
    "params": {"order_pct": 0.01, "every_ticks": 1, "max_orders": 60, "take_profit_pct": 0.001},
    "interval_seconds": 1,
    "trading_mode": "paper",
    "capital": 10000,
}

# The same trader live on the fake exchange (Binance's shape): real orders, the venue's own
# record of fills to compare the books with.
LIVE_DCA_BOT = {**DCA_BOT, "exchange": "binance", "trading_mode": "live"}

OPEN_STATUSES = ("new", "submitted", "open", "partially_filled", "unknown")
TOLERANCE = Decimal("0.000001")


@dataclass
class Fleet:
    product: Product
    token: str
    user_id: int
    bot_ids: list[int]
    live_bot_ids: list[int] = field(default_factory=list)

    def client(self, **kwargs) -> httpx.AsyncClient:
        kwargs.setdefault("timeout", 15)
        return httpx.AsyncClient(
            base_url=f"{self.product.base_url}/api/", headers={"Authorization": f"Bearer {self.token}"}, **kwargs
        )

    def trade_counts(self) -> dict[int, int]:
        rows = _for_bots(
            self.product, "SELECT bot_id, COUNT(*) FROM bots_trade WHERE bot_id IN ({}) GROUP BY bot_id", self.bot_ids
        )
        counts = dict.fromkeys(self.bot_ids, 0)
        counts.update(dict(rows))
        return counts

    def diagnose(self) -> dict:
        """Each bot's state and its orders still in flight (for a failure's message)."""
        bots = _for_bots(
            self.product, "SELECT id, status, paused_reason, last_error FROM bots_bot WHERE id IN ({})", self.bot_ids
        )
        inflight = _for_bots(
            self.product,
            "SELECT bot_id, client_order_id, status, error FROM bots_order WHERE bot_id IN ({}) "
            "AND status IN ('new', 'submitted', 'open', 'partially_filled', 'unknown')",
            self.bot_ids,
        )
        recent = (
            _for_bots(
                self.product,
                "SELECT client_order_id, status, filled_quantity, error FROM bots_order WHERE bot_id IN ({}) "
                "ORDER BY id DESC LIMIT 6",
                self.live_bot_ids,
            )
            if self.live_bot_ids
            else []
        )
        return {"bots": bots, "inflight": inflight, "recent_live_orders": recent}

    def total_trades(self) -> int:
        return sum(self.trade_counts().values())

    def event_seqs(self) -> list[int]:
        rows = self.product.query(
            "SELECT seq FROM realtime_event WHERE user_id = %s AND seq IS NOT NULL ORDER BY seq", [self.user_id]
        )
        return [row[0] for row in rows]

    def unpublished(self) -> int:
        rows = self.product.query(
            "SELECT COUNT(*) FROM realtime_event WHERE user_id = %s AND published_at IS NULL", [self.user_id]
        )
        return rows[0][0]


def _for_bots(product: Product, sql: str, bot_ids: list[int]) -> list[tuple]:
    """``sql`` with its ``{}`` replaced by one placeholder per bot id (works on SQLite too)."""
    marks = ", ".join(["%s"] * len(bot_ids))
    return product.query(sql.format(marks), list(bot_ids))


async def create_fleet(product: Product, bots: int = 4, live_bots: int = 0) -> Fleet:
    async with httpx.AsyncClient(base_url=f"{product.base_url}/api/", timeout=30) as http:
        email = f"fail-{uuid.uuid4().hex[:8]}@example.com"
        response = await http.post("auth/register", json={"email": email, "password": "failure-long-passphrase-9"})
        assert response.status_code == 201, response.text
        body = response.json()
        token = body["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        bot_ids = []
        for i in range(bots):
            response = await http.post("bots", json={**DCA_BOT, "name": f"Fail-DCA-{i}"})
            assert response.status_code == 201, response.text
            bot_ids.append(response.json()["bot"]["id"])
        live_ids = []
        if live_bots:
            from tests.fakes.fixtures import BINANCE_KEYS

            response = await http.post("keys/save", json={**BINANCE_KEYS, "purpose": "live"})
            assert response.status_code in (200, 201), response.text
        for i in range(live_bots):
            response = await http.post("bots", json={**LIVE_DCA_BOT, "name": f"Fail-Live-{i}"})
            assert response.status_code == 201, response.text
            live_ids.append(response.json()["bot"]["id"])
        for bot_id in live_ids:  # out of the training bay: real orders from the first tick
            await asyncio.to_thread(
                product.manage, "training", "promote", str(bot_id), "--force", "--reason", "failure test"
            )
        bot_ids += live_ids
        for bot_id in bot_ids:
            response = await http.post(f"bots/{bot_id}/start")
            assert response.status_code == 200, response.text
    return Fleet(product=product, token=token, user_id=body["user"]["id"], bot_ids=bot_ids, live_bot_ids=live_ids)


async def stop_fleet(fleet: Fleet) -> None:
    async with fleet.client() as http:
        for bot_id in fleet.bot_ids:
            response = await http.post(f"bots/{bot_id}/stop")
            assert response.status_code == 200, response.text


async def wait_for(predicate, *, timeout: float, interval: float = 0.5, what: str = "condition"):
    """Poll a (sync, possibly blocking) predicate off the event loop; returns seconds taken."""
    started = time.monotonic()
    last_error = None
    while time.monotonic() - started < timeout:
        try:
            if await asyncio.to_thread(predicate):
                return time.monotonic() - started
        except Exception as exc:  # the database may be briefly unavailable: keep polling
            last_error = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout:g}s (last error: {last_error!r})")


async def wait_each_bot_trades(fleet: Fleet, since: dict[int, int], *, timeout: float = 60) -> float:
    """Seconds until every bot recorded a trade after the counts ``since``."""

    def carried_on() -> bool:
        now = fleet.trade_counts()
        return all(now[bot_id] > since.get(bot_id, 0) for bot_id in fleet.bot_ids)

    try:
        return await wait_for(carried_on, timeout=timeout, what="every bot trading again")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; since {since}, now {fleet.trade_counts()}; {fleet.diagnose()}") from None


# ---------------------------------------------------------------------------
# Reconnecting stream clients: resume from the last seq they saw
# ---------------------------------------------------------------------------
@dataclass
class StreamClient:
    """Collects ``seq``s from the WebSocket or SSE stream, reconnecting on any failure."""

    fleet: Fleet
    kind: str  # "ws" or "sse"
    seqs: list[int] = field(default_factory=list)
    connects: int = 0
    errors: list[str] = field(default_factory=list)
    task: asyncio.Task | None = None

    @property
    def last_seq(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    def start(self) -> StreamClient:
        self.task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    async def _run(self) -> None:
        while True:
            try:
                await (self._ws() if self.kind == "ws" else self._sse())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the server went away, a read timed out: reconnect
                self.errors.append(exc.__class__.__name__)
            await asyncio.sleep(0.5)

    async def _ws(self) -> None:
        product = self.fleet.product
        # The first connection resumes from 0 too: the client must end with every event.
        url = f"{product.ws_url}?token={self.fleet.token}&last_seq={self.last_seq}"
        async with websockets.connect(url, open_timeout=10, ping_interval=5, ping_timeout=10) as ws:
            self.connects += 1
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if "seq" in message and message.get("type") not in ("connection", "resumed", "resync_required"):
                    self.seqs.append(message["seq"])

    async def _sse(self) -> None:
        product = self.fleet.product
        headers = {"Authorization": f"Bearer {self.fleet.token}", "Last-Event-ID": str(self.last_seq)}
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=30.0)) as client,
            client.stream("GET", f"{product.base_url}/api/realtime/events", headers=headers) as response,
        ):
            if response.status_code != 200:
                raise ConnectionError(f"SSE answered {response.status_code}")
            self.connects += 1
            event_id = None
            async for line in response.aiter_lines():
                if line.startswith("id:"):
                    event_id = int(line.split(":", 1)[1])
                elif not line:
                    if event_id is not None:
                        self.seqs.append(event_id)
                    event_id = None

    def report(self, expected: list[int]) -> dict:
        """Missed, duplicated and out-of-order seqs against the event table."""
        got = self.seqs
        return {
            "connects": self.connects,
            "received": len(got),
            "expected": len(expected),
            "missed": len(set(expected) - set(got)),
            "duplicates": len(got) - len(set(got)),
            "out_of_order": sum(1 for a, b in zip(got, got[1:], strict=False) if b <= a),
            "unexpected": len(set(got) - set(expected)),
            "exact": got == expected,  # every event once, in seq order, no gap
        }


async def all_events_delivered(fleet: Fleet, clients: list[StreamClient], *, timeout: float = 60) -> list[int]:
    """Wait until the relay published every event of the user and each client has the last one."""

    def settled() -> bool:
        if fleet.unpublished():
            return False
        expected = fleet.event_seqs()
        return all(client.last_seq >= expected[-1] for client in clients)

    with contextlib.suppress(AssertionError):  # the comparison that follows says what is missing
        await wait_for(settled, timeout=timeout, what="every event delivered")
    await asyncio.sleep(1.0)  # anything late (a duplicate) would show now
    return await asyncio.to_thread(fleet.event_seqs)


async def stop_and_compare(fleet: Fleet, clients: list[StreamClient], *, timeout: float = 60) -> dict:
    """Stop the bots (their last events), wait for delivery, stop the clients and
    compare what each received with the user's events in the table."""
    await stop_fleet(fleet)
    expected = await all_events_delivered(fleet, clients, timeout=timeout)
    for client in clients:
        await client.stop()
    return {"events": len(expected), **{client.kind: client.report(expected) for client in clients}}


def assert_streams_exact(figures: dict) -> None:
    for kind in ("ws", "sse"):
        assert figures[kind]["exact"], f"{kind} did not get every event exactly once in order: {figures}"


# ---------------------------------------------------------------------------
# The books: what a crash must never break
# ---------------------------------------------------------------------------
def _dec(value) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _when(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _close(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) <= TOLERANCE * max(Decimal(1), abs(a), abs(b))


def _fee_split(fee: Decimal, currency: str, base: str, quote: str) -> tuple[Decimal, Decimal]:
    """(taken from the position, charged to cash) of a fee, as ``bots.fills`` books it."""
    if not currency or currency == quote:
        return Decimal(0), fee
    return (fee, Decimal(0)) if currency == base else (Decimal(0), Decimal(0))


def check_books(fleet: Fleet, *, stuck_after: float = 15.0, venue=None) -> dict:
    """Orders, fills, positions and totals of the fleet's bots, recounted from the trades,
    and — for live bots, given the fake exchange as ``venue`` — compared with the venue's
    own record of orders and fills.

    Read with the bots stopped (the tables are read one query at a time). Returns the
    figures; every count but ``orders``/``trades``/``venue_*`` must be 0.
    """
    product, ids = fleet.product, fleet.bot_ids
    orders = _for_bots(
        product,
        "SELECT id, bot_id, client_order_id, status, quantity, filled_quantity, created_at, error "
        "FROM bots_order WHERE bot_id IN ({})",
        ids,
    )
    trades = _for_bots(
        product,
        "SELECT id, bot_id, order_id, fill_id, side, quantity, price, fee_quote, realized_pnl, fee, fee_currency "
        "FROM bots_trade WHERE bot_id IN ({})",
        ids,
    )
    bots = _for_bots(
        product,
        "SELECT id, capital, cash_balance, realized_pnl, total_fees, total_trades, symbol, quote_currency "
        "FROM bots_bot WHERE id IN ({})",
        ids,
    )
    positions = _for_bots(product, "SELECT bot_id, quantity FROM bots_position WHERE bot_id IN ({})", ids)

    filled_by_order: dict[int, Decimal] = {}
    fills_by_order: dict[int, int] = {}
    for _id, _bot, order_id, _fill, _side, quantity, *_ in trades:
        if order_id is not None:
            filled_by_order[order_id] = filled_by_order.get(order_id, Decimal(0)) + _dec(quantity)
            fills_by_order[order_id] = fills_by_order.get(order_id, 0) + 1

    lost_fills = 0  # an order whose recorded fills do not add up to its filled quantity
    stuck = 0
    now = datetime.now(UTC)
    for order_id, _bot, _cid, status, quantity, filled, created_at, _error in orders:
        if not _close(filled_by_order.get(order_id, Decimal(0)), _dec(filled)):
            lost_fills += 1
        if status == "filled" and not _close(_dec(filled), _dec(quantity)):
            lost_fills += 1
        if status in OPEN_STATUSES and now - _when(created_at) > timedelta(seconds=stuck_after):
            stuck += 1

    mismatched: list[str] = []
    by_bot: dict[int, list] = {bot_id: [] for bot_id in ids}
    for row in trades:
        by_bot[row[1]].append(row)
    position_qty = {bot_id: _dec(quantity) for bot_id, quantity in positions}
    for bot_id, capital, cash, realized, fees, total, symbol, quote in bots:
        base = symbol.split("/", 1)[0]
        rows = by_bot[bot_id]
        cash_recount = _dec(capital)
        qty = Decimal(0)
        for row in rows:
            side, quantity, price, fee, currency = row[4], _dec(row[5]), _dec(row[6]), _dec(row[9]), row[10]
            from_position, from_cash = _fee_split(fee, currency, base, quote)
            if side == "buy":
                cash_recount -= quantity * price + from_cash
                qty += quantity - from_position
            else:
                cash_recount += quantity * price - from_cash
                qty -= quantity + from_position
        checks = [
            total == len(rows),
            _close(_dec(realized), sum((_dec(r[8]) for r in rows), Decimal(0))),
            _close(_dec(fees), sum((_dec(r[7]) for r in rows), Decimal(0))),
            _close(_dec(cash), cash_recount),
            _close(position_qty.get(bot_id, Decimal(0)), qty),
        ]
        names = ("total_trades", "realized_pnl", "total_fees", "cash_balance", "position")
        mismatched.extend(f"bot {bot_id}: {name}" for name, ok in zip(names, checks, strict=True) if not ok)

    figures = {
        "orders": len(orders),
        "trades": len(trades),
        "orders_with_several_fills": sum(1 for n in fills_by_order.values() if n > 1),
        "lost_fills": lost_fills,
        "stuck_orders": stuck,
        "recount_mismatches": len(mismatched),
        "mismatched": mismatched,
    }
    if venue is not None:
        figures.update(compare_with_venue(fleet, venue, orders=orders, trades=trades, positions=position_qty))
    return figures


def compare_with_venue(fleet: Fleet, venue, *, orders, trades, positions) -> dict:
    """The live bots' books against the fake exchange's own record (``venue.orders``/``fills``).

    * ``venue_fills_not_booked``: an execution on the venue with no trade in the books (a lost fill);
    * ``venue_fills_booked_wrong``: booked, but not at the venue's quantity, price or fee;
    * ``booked_fills_not_on_venue``: a live trade the venue never executed;
    * ``venue_orders_without_intent``: an order on the venue the books never decided;
    * ``sent_orders_declared_unsent``: an order the books closed as never received although the
      venue has it — the bot then trades again: a double order;
    * ``venue_position_mismatches``: a bot's position differs from what its fills left in the account.
    """
    live = set(fleet.live_bot_ids)
    prefixes = tuple(f"bf-{bot_id}-" for bot_id in live)
    book_orders = {row[2]: row for row in orders if row[1] in live}
    live_trades = {row[3]: row for row in trades if row[1] in live}
    venue_fills = [f for f in list(venue.fills) if f.client_id.startswith(prefixes)]
    venue_orders = {cid: o for cid, o in list(venue.orders.items()) if cid.startswith(prefixes)}
    not_booked = booked_wrong = 0
    held: dict[int, Decimal] = dict.fromkeys(live, Decimal(0))
    for fill in venue_fills:
        row = live_trades.get(f"{fill.client_id}#{fill.trade_id}")
        bot_id = int(fill.client_id.split("-")[1])
        base = fill.symbol.split("/")[0]
        fee_base = fill.fee if fill.fee_asset == base else Decimal(0)
        held[bot_id] += fill.quantity - fee_base if fill.side == "buy" else -(fill.quantity + fee_base)
        if row is None:
            not_booked += 1
        elif (_dec(row[5]), _dec(row[6]), _dec(row[9]), row[10]) != (
            fill.quantity,
            fill.price,
            fill.fee,
            fill.fee_asset,
        ):
            booked_wrong += 1
    venue_fill_ids = {f"{f.client_id}#{f.trade_id}" for f in venue_fills}
    declared_unsent = [
        cid
        for cid, row in book_orders.items()
        if cid in venue_orders and row[3] == "canceled" and "never" in (row[7] or "")
    ]
    return {
        "venue_orders": len(venue_orders),
        "venue_fills": len(venue_fills),
        "venue_fills_not_booked": not_booked,
        "venue_fills_booked_wrong": booked_wrong,
        "booked_fills_not_on_venue": len(set(live_trades) - venue_fill_ids),
        "venue_orders_without_intent": len(set(venue_orders) - set(book_orders)),
        "sent_orders_declared_unsent": len(declared_unsent),
        "venue_position_mismatches": sum(1 for b in live if not _close(held[b], positions.get(b, Decimal(0)))),
    }


def assert_books_clean(figures: dict) -> None:
    bad = {
        k: v
        for k, v in figures.items()
        if k
        in (
            "lost_fills",
            "stuck_orders",
            "recount_mismatches",
            "venue_fills_not_booked",
            "venue_fills_booked_wrong",
            "booked_fills_not_on_venue",
            "venue_orders_without_intent",
            "sent_orders_declared_unsent",
            "venue_position_mismatches",
        )
        and v
    }
    assert not bad, f"books broken: {figures}"
    assert figures["orders"] > 0 and figures["trades"] > 0, figures


# ---------------------------------------------------------------------------
# Probing endpoints while something is down
# ---------------------------------------------------------------------------
@dataclass
class Probe:
    """Requests in a loop against endpoints; records status, latency and envelope."""

    fleet: Fleet
    paths: tuple[str, ...]
    concurrency: int = 1
    pause: float = 0.1
    timeout: float = 15.0
    results: list[tuple[float, float, str, int | str, bool]] = field(default_factory=list)  # start, end, path, status
    tasks: list[asyncio.Task] = field(default_factory=list)

    def start(self) -> Probe:
        self.tasks = [asyncio.create_task(self._run(i)) for i in range(self.concurrency)]
        return self

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _run(self, offset: int) -> None:
        async with self.fleet.client(timeout=self.timeout) as http:
            i = offset
            while True:
                path = self.paths[i % len(self.paths)]
                i += 1
                started = time.monotonic()
                try:
                    response = await http.get(path)
                    status: int | str = response.status_code
                    clean = response.status_code < 500 or _clean_503(response)
                except httpx.HTTPError as exc:  # a hang (timeout) or a dropped connection
                    status, clean = exc.__class__.__name__, False
                self.results.append((started, time.monotonic(), path, status, clean))
                await asyncio.sleep(self.pause)

    def window(self, since: float, until: float = float("inf")) -> list:
        return [r for r in self.results if since <= r[0] < until]

    @staticmethod
    def summary(rows: list) -> dict:
        statuses: dict[str, int] = {}
        for row in rows:
            statuses[str(row[3])] = statuses.get(str(row[3]), 0) + 1
        latencies = sorted(r[1] - r[0] for r in rows)
        by_path: dict[str, float] = {}
        for started, ended, path, *_ in rows:
            by_path[path] = max(by_path.get(path, 0.0), ended - started)
        return {
            "requests": len(rows),
            "statuses": statuses,
            "unclean": sum(1 for r in rows if not r[4]),
            "max_latency_ms": round(latencies[-1] * 1000) if latencies else None,
            "p50_latency_ms": round(latencies[len(latencies) // 2] * 1000) if latencies else None,
            "max_latency_ms_by_path": {path: round(seconds * 1000) for path, seconds in by_path.items()},
        }


def _clean_503(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return body.get("success") is False and bool(body.get("error", {}).get("code"))
