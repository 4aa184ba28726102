"""``manage.py seed_bulk --users 100 --bots 1000 --trades 1000000``: benchmark data, fast.

Users, bots and trades go in with ``bulk_create`` in batches (trades with ``COPY`` on
PostgreSQL). Every trade is accounted exactly as ``bots.services.trade_record_fill``
would (average cost, fees in quote), and positions, daily rollups and the bots'
running totals are written from the same pass, so the seeded data is consistent
with what the engine produces. Deterministic for a given ``--seed``.

Not for production databases: it adds users named ``<prefix><n>@bench.local``.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import UTC, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from bots.engine import market
from bots.models import ZERO, Bot, BotDailyPnl, Position, Trade

Q12 = Decimal("0.000000000001")
FEE_RATE = Decimal("0.001")
VENUES = (("simulated", 6), ("replay", 2), ("binance", 2))
SYMBOLS = {
    "simulated": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ETH/BTC", "LTC/BTC"],
    "replay": ["ETH/BTC", "XRP/USDT"],
    "binance": ["BTC/USDT", "ETH/USDT", "BNB/USDT"],
}
STRATEGY_PARAMS = {
    "sma_cross": {"fast": 10, "slow": 30},
    "rsi": {"period": 14, "oversold": 30, "overbought": 70},
    "dca": {"order_pct": 0.1, "every_ticks": 1, "max_orders": 10, "take_profit_pct": 0.02},
}
STATUSES = (("running", 4), ("stopped", 4), ("paused", 1), ("error", 1))


def _weighted(rng: random.Random, choices) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


class Command(BaseCommand):
    help = "Bulk-insert users, bots and trades (with positions and rollups) for benchmarks."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users", type=int, default=10)
        parser.add_argument("--bots", type=int, default=100)
        parser.add_argument("--trades", type=int, default=10000)
        parser.add_argument("--days", type=int, default=90, help="spread trades over this many past days")
        parser.add_argument("--prefix", default="bulk")
        parser.add_argument("--password", default="bench-password-123")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--batch", type=int, default=5000)

    def handle(self, *args, **opts) -> None:
        if opts["users"] < 1 or opts["bots"] < 0 or opts["trades"] < 0:
            raise CommandError("--users must be ≥ 1; --bots and --trades ≥ 0")
        rng = random.Random(opts["seed"])  # noqa: S311 - repeatable test data, not security
        started = time.monotonic()
        with transaction.atomic():
            users = self._users(opts)
            bots = self._bots(opts, users, rng)
            self._trades(opts, bots, rng)
        self.stdout.write(
            f"seeded {len(users)} users, {len(bots)} bots, {opts['trades']} trades in {time.monotonic() - started:.1f}s"
        )

    # -- users -------------------------------------------------------------
    def _users(self, opts) -> list:
        User = get_user_model()
        prefix, n = opts["prefix"], opts["users"]
        emails = [f"{prefix}{i}@bench.local" for i in range(n)]
        existing = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
        password = make_password(opts["password"])  # hash once: the same for every seeded user
        User.objects.bulk_create(
            [
                User(email=email, username=email.split("@")[0], password=password, is_verified=True)
                for email in emails
                if email not in existing
            ],
            batch_size=opts["batch"],
        )
        return list(User.objects.filter(email__in=emails).order_by("pk"))

    # -- bots --------------------------------------------------------------
    def _bots(self, opts, users, rng: random.Random) -> list[Bot]:
        now = timezone.now()
        rows = []
        for i in range(opts["bots"]):
            venue = _weighted(rng, VENUES)
            symbol = rng.choice(SYMBOLS[venue])
            strategy = rng.choice(list(STRATEGY_PARAMS))
            mode = "live" if rng.random() < 0.2 else "paper"
            status = _weighted(rng, STATUSES)
            capital = Decimal(rng.choice((500, 1000, 5000, 10000)))
            if symbol.endswith("/BTC"):
                capital = capital / Decimal(50000)
            in_training = mode == "live" and rng.random() < 0.5
            rows.append(
                Bot(
                    owner=users[i % len(users)],
                    name=f"{opts['prefix']}-bot-{i}",
                    exchange=venue,
                    symbol=symbol,
                    symbol_verified=venue != "binance",
                    strategy=strategy,
                    params=STRATEGY_PARAMS[strategy],
                    trading_mode=mode,
                    capital=capital,
                    cash_balance=capital,
                    quote_currency=symbol.split("/")[1],
                    status=status,
                    paused_reason="seeded" if status == "paused" else "",
                    next_tick_at=now if status == "running" else None,
                    in_training=in_training,
                    training_started_at=now - timedelta(hours=rng.uniform(0, 48)) if in_training else None,
                    created_at=now,
                )
            )
        return Bot.objects.bulk_create(rows, batch_size=opts["batch"])

    # -- trades --------------------------------------------------------------
    def _trades(self, opts, bots: list[Bot], rng: random.Random) -> None:
        if not bots or not opts["trades"]:
            return
        now = timezone.now()
        start = now - timedelta(days=opts["days"])
        span = (now - start).total_seconds()
        per_bot = [opts["trades"] // len(bots)] * len(bots)
        for i in range(opts["trades"] - sum(per_bot)):
            per_bot[i] += 1
        daily: dict[tuple[int, object], dict] = defaultdict(
            lambda: {"pnl": ZERO, "gp": ZERO, "gl": ZERO, "fees": ZERO, "vol": ZERO, "n": 0, "w": 0, "l": 0}
        )
        positions, buffer, written = [], [], 0
        for bot, count in zip(bots, per_bot, strict=True):
            base_price = market.simulated_price(bot.symbol, start.timestamp())
            price = Decimal(f"{base_price:.8g}")
            qty_total = ZERO
            avg = ZERO
            cash = bot.capital
            realized_total = fees_total = ZERO
            wins = losses = 0
            opened_at = None
            step = span / max(count, 1)
            for k in range(count):
                at = start + timedelta(seconds=step * k + rng.uniform(0, step * 0.5))
                price = (price * Decimal(str(1 + rng.gauss(0, 0.01)))).quantize(Q12)
                if price <= 0:
                    price = Q12
                side = "buy" if k % 2 == 0 else "sell"
                if side == "buy":
                    quantity = (cash * Decimal("0.5") / price).quantize(Q12) or Q12
                    fee = (quantity * price * FEE_RATE).quantize(Q12)
                    avg = ((qty_total * avg + quantity * price + fee) / (qty_total + quantity)).quantize(Q12)
                    opened_at = at if qty_total == 0 else opened_at
                    qty_total += quantity
                    cash -= quantity * price + fee
                    realized = None
                else:
                    quantity = qty_total
                    fee = (quantity * price * FEE_RATE).quantize(Q12)
                    realized = (quantity * (price - avg) - fee).quantize(Q12)
                    qty_total = ZERO
                    cash += quantity * price - fee
                    avg = ZERO
                    realized_total += realized
                    wins += realized > 0
                    losses += realized < 0
                fees_total += fee
                row = daily[(bot.pk, at.astimezone(UTC).date())]
                row["n"] += 1
                row["fees"] += fee
                row["vol"] += quantity * price
                if realized is not None:
                    row["pnl"] += realized
                    if realized > 0:
                        row["gp"] += realized
                        row["w"] += 1
                    elif realized < 0:
                        row["gl"] -= realized
                        row["l"] += 1
                buffer.append(
                    (bot.pk, bot.owner_id, f"seed-{bot.pk}-{k}", bot.symbol, side, quantity, price, fee, realized, at)
                )
                if len(buffer) >= opts["batch"] * 4:
                    written += self._write_trades(buffer)
                    buffer.clear()
            bot.realized_pnl, bot.total_fees, bot.total_trades = realized_total, fees_total, count
            bot.winning_trades, bot.losing_trades = wins, losses
            bot.cash_balance, bot.last_price = cash.quantize(Q12), price
            positions.append(
                Position(
                    bot=bot,
                    symbol=bot.symbol,
                    quantity=qty_total,
                    average_cost=avg,
                    realized_pnl=realized_total,
                    fees=fees_total,
                    opened_at=opened_at if qty_total else None,
                )
            )
        if buffer:
            written += self._write_trades(buffer)
        Position.objects.bulk_create(positions, batch_size=opts["batch"])
        BotDailyPnl.objects.bulk_create(
            [
                BotDailyPnl(
                    bot_id=bot_id,
                    day=day,
                    realized_pnl=v["pnl"],
                    gross_profit=v["gp"],
                    gross_loss=v["gl"],
                    fees=v["fees"],
                    volume=v["vol"],
                    trades=v["n"],
                    wins=v["w"],
                    losses=v["l"],
                )
                for (bot_id, day), v in daily.items()
            ],
            batch_size=opts["batch"],
        )
        Bot.objects.bulk_update(
            bots,
            [
                "realized_pnl",
                "total_fees",
                "total_trades",
                "winning_trades",
                "losing_trades",
                "cash_balance",
                "last_price",
            ],
            batch_size=500,
        )
        self.stdout.write(f"  {written} trades, {len(positions)} positions, {len(daily)} daily rollups")

    def _write_trades(self, rows: list[tuple]) -> int:
        if connection.vendor == "postgresql":
            columns = (
                "bot_id, owner_id, fill_id, symbol, side, quantity, price, fee, fee_currency, fee_quote, "
                "realized_pnl, is_paper, reason, executed_at"
            )
            with connection.cursor() as cursor, cursor.cursor.copy(f"COPY bots_trade ({columns}) FROM STDIN") as copy:
                for bot_id, owner_id, fill_id, symbol, side, qty, price, fee, realized, at in rows:
                    quote = symbol.split("/")[1]
                    copy.write_row(
                        (bot_id, owner_id, fill_id, symbol, side, qty, price, fee, quote, fee, realized, True, "", at)
                    )
            return len(rows)
        Trade.objects.bulk_create(
            [
                Trade(
                    bot_id=bot_id,
                    owner_id=owner_id,
                    fill_id=fill_id,
                    symbol=symbol,
                    side=side,
                    quantity=qty,
                    price=price,
                    fee=fee,
                    fee_currency=symbol.split("/")[1],
                    fee_quote=fee,
                    realized_pnl=realized,
                    is_paper=True,
                    executed_at=at,
                )
                for bot_id, owner_id, fill_id, symbol, side, qty, price, fee, realized, at in rows
            ],
            batch_size=2000,
        )
        return len(rows)
