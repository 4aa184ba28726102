"""Backtests: the decision core (:mod:`bots.engine.core`) ticking over stored candles on an
in-memory ledger.

One tick per candle of the run's timeframe, at the candle's open ``t`` — what a paper bot on
the ``replay`` venue with ``interval_seconds`` equal to the timeframe does:

* the strategy sees the closes of the candles closed by ``t`` (never the candle opening at
  ``t``: its close lies in the future), at most its ``lookback``; the run loads that many
  candles before ``since`` as warm-up;
* the price now is the open of the candle at ``t`` (the price known at ``t``), which exits,
  sizing and the paper fill use;
* the fill is :func:`bots.engine.adapters.paper.execute` with the run's fee and slippage, booked
  by :mod:`bots.fills`; the books are rounded to 12 decimal places as the database stores them,
  so the numbers a run produces are those a paper bot's books would hold.

The bodyguard (a guard against a running bot's losses and errors, which pauses it) is not
part of a backtest: a run shows what the strategy and its risk rules do (so neither is the
peak equity it watches).

**Skipping quiet candles.** A tick whose decision is "hold" changes nothing: no order, no
strategy or engine memory, the same books. So a run ticks only the candles where something
may happen (:class:`_Quiet`): where the strategy's ``signals`` say it would buy (when flat) or
sell (when holding) — the same arithmetic as its ``decide`` for every window at once — and
where the price may cross a stop-loss or take-profit line; :func:`core.decide` judges each of
them exactly as on every candle. A strategy without ``signals`` (grid, dca) ticks every
candle. A rule that keeps memory on every tick (a trailing stop's high-water mark, say)
must either be located on the prices here, as the exit lines are, or turn skipping off for
the runs that use it; tests/backtests/test_signals.py compares both kinds of run.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

import numpy as np

from bots import equity as equity_mod
from bots import venues
from bots.candles import Rows
from bots.engine import core, market, risk, strategies
from bots.engine.adapters import paper

ZERO = Decimal(0)
Q12 = Decimal("1e-12")
HUGE = Decimal("1e30")  # a price at which only dust that is dust at any price stays unsellable


def q12(value: Decimal) -> Decimal:
    """As a ``numeric(28, 12)`` column keeps it (rounded half away from zero)."""
    return value.quantize(Q12, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Config:
    strategy: str
    params: dict
    exchange: str
    symbol: str
    timeframe: str
    since: int  # epoch seconds: the first tick
    until: int  # the last tick at or before it
    capital: Decimal
    fee_pct: Decimal
    slippage_pct: Decimal
    position_size_pct: Decimal = Decimal(1)
    rules: dict = field(default_factory=dict)  # exits (risk.EXIT_KEYS) and limits (staff override keys)
    order_prefix: str = "bt"


@dataclass
class MemoryLedger:
    """Where a backtest keeps its books: the same numbers the database ledger keeps, in memory."""

    cash: Decimal
    capital: Decimal
    position: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized: Decimal = ZERO
    strategy_state: dict = field(default_factory=dict)
    engine: dict = field(default_factory=dict)
    orders: list[dict] = field(default_factory=list)
    trades: list[dict] = field(default_factory=list)
    fills: list[equity_mod.Fill] = field(default_factory=list)

    def book(self) -> core.Book:
        return core.Book(
            cash=self.cash,
            capital=self.capital,
            position=self.position,
            average_cost=self.average_cost,
            open_positions=1 if self.position > 0 else 0,
        )

    def record(self, *, cid: str, symbol: str, reason: str, reference_price: Decimal, fill: paper.PaperFill, side: str):
        booked = core.book_paper_fill(
            side=side, quantity=fill.quantity, price=fill.price, fee=fill.fee, book=self.book()
        )
        applied = booked.applied
        self.position = applied.quantity
        self.average_cost = q12(applied.average_cost)
        realized = None if applied.realized is None else q12(applied.realized)
        self.realized += realized or ZERO
        self.cash = q12(self.cash + applied.cash_delta)
        at = fill.executed_at.isoformat().replace("+00:00", "Z")
        self.orders.append(
            {
                "client_order_id": cid,
                "symbol": symbol,
                "side": side,
                "type": "market",
                "quantity": fill.quantity,
                "reference_price": reference_price,
                "average_price": fill.price,
                "fee": fill.fee,
                "status": "filled",
                "reason": reason[:64],
                "created_at": at,
            }
        )
        self.trades.append(
            {
                "fill_id": cid,
                "symbol": symbol,
                "side": side,
                "quantity": fill.quantity,
                "price": fill.price,
                "fee": fill.fee,
                "fee_quote": booked.fee_value,
                "realized_pnl": realized,
                "executed_at": at,
                "reason": reason[:64],
            }
        )
        self.fills.append(
            equity_mod.Fill(fill.executed_at, symbol, side, fill.quantity, fill.price, booked.fee_value, realized)
        )
        return realized


@dataclass
class Result:
    """What a run did. The equity curve is kept as the books after each fill (they change
    nowhere else) and the prices ticked on; its per-tick values are computed when read."""

    ledger: MemoryLedger
    candles: int  # ticks run
    times: np.ndarray  # epoch s of each tick run
    marks: np.ndarray  # the price each tick judged on (its candle's open), as a float
    books: list[tuple[int, Decimal, Decimal]]  # (tick, cash, position) from that tick on
    canceled: bool = False

    @cached_property
    def prices(self) -> list[Decimal]:
        """The price each tick judged on, as the engine takes it (its shortest repr)."""
        return [Decimal(str(p)) for p in self.marks.tolist()]

    @cached_property
    def equity(self) -> list[tuple[int, Decimal]]:
        """(epoch s, marked-to-market equity: cash + position × price) per tick."""
        out: list[tuple[int, Decimal]] = []
        times, prices = self.times.tolist(), self.prices
        ends = [start for start, _, _ in self.books[1:]] + [self.candles]
        for (start, cash, position), end in zip(self.books, ends, strict=True):
            out.extend((times[k], cash + position * prices[k]) for k in range(start, end))
        return out


def _when(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def warmup(config: Config) -> int:
    """How many candles before ``since`` the strategy's first decision needs."""
    module = strategies.get(config.strategy)
    return module.lookback(core.strategy_params(config.strategy, config.params, config.rules))


def run(
    config: Config,
    rows: Rows,
    *,
    progress: Callable[[float, int], bool] | None = None,
    every: int | None = None,
    fast: bool = True,
) -> Result:
    """Tick over ``rows`` (gaps already filled, warm-up included). ``progress(fraction, ticks)``
    is called every ``every`` ticks (default: about 20 times a run, every 100 to 2,000 ticks);
    when it returns False the run stops (cancel), keeping what it did.

    ``fast`` (the default) skips the ticks where nothing can happen, for a strategy that
    says where its signals are (``signals``, see :mod:`bots.engine.strategies`): a tick whose
    decision is "hold" changes nothing (no order, no memory), so running only the others —
    through the same :func:`core.decide` — gives the same run. ``fast=False`` ticks every
    candle (tests compare the two)."""
    module = strategies.get(config.strategy)
    params = core.strategy_params(config.strategy, config.params, config.rules)
    lookback = module.lookback(params)
    rules = risk.effective_rules(
        position_size_pct=config.position_size_pct, override_rules=config.rules, exits=config.rules
    )
    seconds = market.timeframe_seconds(config.timeframe)
    venue_real = venues.is_real(config.exchange)
    rules_market = market.market_rules(config.exchange, config.symbol)
    ledger = MemoryLedger(cash=config.capital, capital=config.capital)
    times, opens = rows.time, np.ascontiguousarray(rows.open, dtype=float)
    closes = np.ascontiguousarray(rows.close, dtype=float)
    closes.setflags(write=False)
    first = int(np.searchsorted(times, config.since, side="left"))
    last = int(np.searchsorted(times, config.until, side="right"))
    total = max(last - first, 0)
    every = every or max(100, min(2000, total // 20))
    books: list[tuple[int, Decimal, Decimal]] = [(0, ledger.cash, ledger.position)]
    opens_list = opens.tolist()
    times_list = times.tolist()
    quiet = None
    if fast:
        quiet = _Quiet.of(
            module, params, closes, opens, rules, venue_real=venue_real, market_rules=rules_market, last=last
        )

    def visit(i: int) -> None:
        """One tick at candle ``i``: the decision core, and the order it decides."""
        t = times_list[i]
        now = _when(t)
        price_f = opens_list[i]
        price = Decimal(str(price_f))
        book = ledger.book()
        verdict = core.decide(
            module=module,
            params=params,
            strategy_state=ledger.strategy_state,
            engine=ledger.engine,
            rules=rules,
            closes=closes[max(0, i - lookback) : i],
            price=price_f,
            book=book,
            tradable=core.tradable(ledger.position, price, market=rules_market, venue_real=venue_real),
            tick=i - first,
            candle=t // seconds,
            now=now,
        )
        ledger.engine = verdict.engine
        if verdict.decision is not None and not verdict.refused:
            filled = _order(
                config,
                ledger,
                verdict.decision,
                module=module,
                params=params,
                rules=rules,
                price=price,
                book=book,
                market_rules=rules_market,
                venue_real=venue_real,
                tick=i - first,
                now=now,
                candle=t // seconds,
            )
            if filled:
                if books[-1][0] == i - first:
                    books.pop()
                books.append((i - first, ledger.cash, ledger.position))

    def report(low: int, high: int) -> int:
        """Progress at each multiple of ``every`` in ticks ``low..high``; the tick count a cancel stopped at."""
        if progress is None:
            return 0
        for count in range(-(-low // every) * every, high + 1, every):
            if count and not progress(count / total if total else 1.0, count):
                return count
        return 0

    done, canceled, i = total, False, first
    while i < last:
        j = quiet.next_event(i, ledger) if quiet is not None else i
        stopped = report(i - first + 1, min(j, last) - first)  # the ticks skipped, then the one run
        if not stopped and j < last:
            visit(j)
            stopped = report(j - first + 1, j - first + 1)
        if stopped:
            done, canceled = stopped, True
            break
        i = j + 1
    return Result(
        ledger=ledger,
        candles=done,
        times=times[first : first + done],
        marks=opens[first : first + done],
        books=books,
        canceled=canceled,
    )


# The rules :class:`_Quiet` knows how to skip around: limits that only hold orders back, and
# the stop-loss and take-profit lines it finds on the prices.
KNOWN_RULES = frozenset(
    {
        "max_daily_trades",
        "cooldown_seconds",
        "position_size_pct",
        "stop_loss_pct",
        "take_profit_pct",
        "max_open_positions",
        "overridden",
    }
)


def _unknown_rules(rules: risk.Rules) -> list[str]:
    """Rules in force that skipping does not know (a new kind of exit): such a run ticks every candle."""
    return [
        f.name
        for f in dataclasses.fields(rules)
        if f.name not in KNOWN_RULES and getattr(rules, f.name) not in (None, 0, False, "", frozenset())
    ]


@dataclass(frozen=True)
class _Quiet:
    """Where a run can skip ticks: the strategy's signals, as sorted candle indices, and the
    protective exits' lines found on the prices. Each answer may include candles where nothing
    happens (:func:`core.decide` judges them); it never leaves out one where something could."""

    entries: list[int]  # candles where the strategy might buy (when flat)
    exits: list[int]  # candles where it might sell (when holding)
    opens: np.ndarray
    rules: risk.Rules
    venue_real: bool
    market: market.MarketRules
    last: int

    # Relative margin on the exit lines: the float prices against the exact decimal lines.
    MARGIN = 1e-9

    @classmethod
    def of(cls, module, params, closes, opens, rules, *, venue_real, market_rules, last) -> _Quiet | None:
        signals = getattr(module, "signals", None)
        if signals is None or _unknown_rules(rules):
            return None
        entry, leave = signals(params, closes)
        entries, exits = np.flatnonzero(entry).tolist(), np.flatnonzero(leave).tolist()
        return cls(entries, exits, opens, rules, venue_real, market_rules, last)

    def _next(self, indices: list[int], i: int) -> int:
        k = bisect.bisect_left(indices, i)
        return min(indices[k], self.last) if k < len(indices) else self.last

    def next_event(self, i: int, ledger: MemoryLedger) -> int:
        """The first candle from ``i`` whose tick might order something, given the books now."""
        if ledger.position <= 0:
            return self._next(self.entries, i)  # flat: the strategy only buys
        if self.venue_real:  # on a real venue, dust no order can sell counts as no position
            if risk.sellable(ledger.position, HUGE, self.market) <= 0:
                return self._next(self.entries, i)  # dust at any price: the strategy sees none
            if self.market.min_notional:  # dust below some price: a buy may follow there
                j = min(self._next(self.exits, i), self._next(self.entries, i))
                return self._first_exit(i, j, ledger.average_cost)
        return self._first_exit(i, self._next(self.exits, i), ledger.average_cost)

    def _first_exit(self, i: int, j: int, average_cost: Decimal) -> int:
        """The first candle in ``[i, j)`` whose price may cross a stop-loss or take-profit line, else ``j``."""
        low = high = None
        if average_cost > 0 and self.rules.stop_loss_pct is not None:
            low = float(average_cost * (1 - self.rules.stop_loss_pct)) * (1 + self.MARGIN)
        if average_cost > 0 and self.rules.take_profit_pct is not None:
            high = float(average_cost * (1 + self.rules.take_profit_pct)) * (1 - self.MARGIN)
        if low is None and high is None:
            return j
        step = 64
        while i < j:
            window = self.opens[i : min(j, i + step)]
            hit = np.zeros(len(window), dtype=bool)
            if low is not None:
                hit |= window <= low
            if high is not None:
                hit |= window >= high
            if hit.any():
                return i + int(hit.argmax())
            i += len(window)
            step = min(step * 4, 65536)
        return j


def _order(
    config, ledger, decision, *, module, params, rules, price, book, market_rules, venue_real, tick, now, candle
):
    sized = core.size(
        decision,
        rules=rules,
        price=price,
        book=book,
        paper_route=True,
        market=market_rules,
        venue_limits=venue_real,
        fee_pct=config.fee_pct,
        slippage_pct=config.slippage_pct,
    )
    if sized.refused:
        return False
    cid = f"{config.order_prefix}-{tick}"
    ledger.engine = core.note_intent(ledger.engine, client_order_id=cid, decision=decision, now=now)
    fill = paper.execute(
        client_order_id=cid,
        venue=config.exchange,
        symbol=config.symbol,
        side=decision.action,
        quantity=sized.quantity,
        at=now,
        price=price,
        fee=config.fee_pct,
        slippage=config.slippage_pct,
    )
    realized = ledger.record(
        cid=cid, symbol=config.symbol, reason=decision.reason, reference_price=price, fill=fill, side=decision.action
    )
    ledger.strategy_state, ledger.engine = core.after_fill(
        module=module,
        params=config.params,
        strategy_state=ledger.strategy_state,
        engine=ledger.engine,
        client_order_id=cid,
        side=decision.action,
        order_reason=decision.reason[:64],
        quantity=fill.quantity,
        price=fill.price,
        realized=realized,
        exit_candle=candle,
        now=now,
        bodyguard=None,
    )
    return True
