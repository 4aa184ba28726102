"""Bots, their orders, fills, positions and daily rollups; engine heartbeats; the fleet halt.

Money and quantities are ``Decimal`` (28 digits, 12 decimal places), never floats.

Invariants kept by ``bots.services`` (the only writer):

* A bot's ``status`` only moves along :data:`bots.lifecycle.TRANSITIONS`.
* ``Trade`` rows are fills; each one updates the bot's ``Position``, its
  ``BotDailyPnl`` row for the fill's UTC day and the bot's running totals in the same
  transaction (``bots.services.trade_record_fill``), so reads never scan every trade.
* ``Order.client_order_id`` is deterministic and unique: the engine persists the
  intent under it *before* calling a venue, so a retried tick finds it instead of
  placing a second order.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from bots.moneyfield import MoneyField

ZERO = Decimal("0")


class BotQuerySet(models.QuerySet):
    def alive(self) -> BotQuerySet:
        """Bots that are not soft-deleted: everything users and the engine see."""
        return self.filter(deleted_at__isnull=True)

    def of(self, user) -> BotQuerySet:
        return self.alive().filter(owner=user)


class Bot(models.Model):
    class Status(models.TextChoices):
        STOPPED = "stopped", "Stopped"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        ERROR = "error", "Error"

    class Mode(models.TextChoices):
        PAPER = "paper", "Paper"
        LIVE = "live", "Live"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots")
    name = models.CharField(max_length=100)
    exchange = models.CharField(max_length=64, default="simulated")  # the venue id (API alias: platform)
    symbol = models.CharField(max_length=64)
    # False when the venue's markets could not be loaded at creation: checked at the first tick.
    symbol_verified = models.BooleanField(default=False)
    strategy = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)  # validated against the strategy's schema
    timeframe = models.CharField(max_length=8, default="1m")
    interval_seconds = models.PositiveIntegerField(default=60)
    trading_mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    capital = MoneyField()
    quote_currency = models.CharField(max_length=16)
    # Fraction of capital a strategy's entry uses when it does not size orders itself.
    position_size_pct = MoneyField(max_digits=8, decimal_places=6, default=Decimal("1"))
    # The owner's exits (fractions: 0.05 = 5 %; null = none). Staff overrides win where stricter
    # (bots.engine.risk.effective_rules). The trailing stop starts once the price rose
    # ``trailing_arm_pct`` above the average cost (0 = at once).
    stop_loss_pct = MoneyField(max_digits=8, decimal_places=6, null=True, blank=True)
    take_profit_pct = MoneyField(max_digits=8, decimal_places=6, null=True, blank=True)
    trailing_stop_pct = MoneyField(max_digits=8, decimal_places=6, null=True, blank=True)
    trailing_arm_pct = MoneyField(max_digits=8, decimal_places=6, null=True, blank=True)
    credential = models.ForeignKey(
        "credentials.Credential", null=True, blank=True, on_delete=models.PROTECT, related_name="bots"
    )

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.STOPPED)
    # Staff force-pause: the owner may stop but not start/resume (423) until released.
    force_paused = models.BooleanField(default=False)
    paused_reason = models.CharField(max_length=300, blank=True, default="")

    # Live training bay (quarantine). ``bots`` sets these when a bot enters live mode;
    # ``training`` reads them and promotes. A live bot with in_training fills on paper.
    in_training = models.BooleanField(default=False)
    training_started_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    # Staff rules that take precedence over the bot's own (adminpanel validates the keys).
    override_rules = models.JSONField(default=dict, blank=True)

    # Engine bookkeeping. ``claimed_until`` is the lease of the worker ticking the bot.
    last_tick_at = models.DateTimeField(null=True, blank=True)
    next_tick_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    tick_count = models.PositiveBigIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    consecutive_errors = models.PositiveIntegerField(default=0)
    # Strategy memory between ticks (grid levels filled, dca orders placed, ...).
    state = models.JSONField(default=dict, blank=True)

    # Running totals kept by ``trade_record_fill`` (quote currency), so lists never
    # aggregate the trade table. ``cash_balance`` is the bot's virtual quote balance.
    cash_balance = MoneyField(default=ZERO)
    realized_pnl = MoneyField(default=ZERO)
    total_fees = MoneyField(default=ZERO)
    total_trades = models.PositiveIntegerField(default=0)
    winning_trades = models.PositiveIntegerField(default=0)
    losing_trades = models.PositiveIntegerField(default=0)
    last_price = MoneyField(null=True, blank=True)  # last price the engine or a fill saw

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)  # soft delete keeps trade history

    objects = BotQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["stopped", "running", "paused", "error"]), name="bot_status_valid"
            ),
            models.CheckConstraint(condition=Q(trading_mode__in=["paper", "live"]), name="bot_mode_valid"),
            models.CheckConstraint(condition=Q(capital__gt=0), name="bot_capital_positive"),
            models.CheckConstraint(condition=Q(interval_seconds__gte=1), name="bot_interval_positive"),
            models.CheckConstraint(
                condition=Q(position_size_pct__gt=0, position_size_pct__lte=1), name="bot_position_size_pct_range"
            ),
            # A force-paused bot is paused or stopped (its owner may stop it), never running.
            models.CheckConstraint(
                condition=Q(force_paused=False) | Q(status__in=["paused", "stopped"]),
                name="bot_force_paused_not_running",
            ),
        ]
        indexes = [
            # GET bots: the owner's live bots, newest first.
            models.Index(
                fields=["owner", "-created_at"], name="bot_owner_created_idx", condition=Q(deleted_at__isnull=True)
            ),
            # platforms/{p}/bots and platforms/summary.
            models.Index(fields=["owner", "exchange", "trading_mode"], name="bot_owner_venue_mode_idx"),
            # The engine's due-bot claim: status='running' AND next_tick_at <= now.
            models.Index(
                fields=["next_tick_at"], name="bot_due_idx", condition=Q(status="running", deleted_at__isnull=True)
            ),
            # The training bay.
            models.Index(fields=["owner"], name="bot_in_training_idx", condition=Q(in_training=True)),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    @property
    def exits(self) -> dict:
        """The owner's exits (:data:`bots.engine.risk.EXIT_KEYS`), unset ones left out."""
        return {
            key: value
            for key in ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "trailing_arm_pct")
            if (value := getattr(self, key)) is not None
        }

    @property
    def is_live_real_money(self) -> bool:
        """Live, promoted out of training: the only state in which orders may leave."""
        return self.trading_mode == self.Mode.LIVE and not self.in_training

    @property
    def base_currency(self) -> str:
        return self.symbol.split("/", 1)[0] if "/" in self.symbol else self.symbol


class Order(models.Model):
    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"

    class Type(models.TextChoices):
        MARKET = "market", "Market"
        LIMIT = "limit", "Limit"

    class Status(models.TextChoices):
        NEW = "new", "New (intent persisted, not sent)"
        SUBMITTED = "submitted", "Submitted"
        OPEN = "open", "Open"
        PARTIALLY_FILLED = "partially_filled", "Partially filled"
        FILLED = "filled", "Filled"
        CANCELED = "canceled", "Canceled"
        REJECTED = "rejected", "Rejected"
        # Sent, outcome not known (timeout, crash): reconcile by client_order_id, never resend.
        UNKNOWN = "unknown", "Unknown outcome"

    OPEN_STATUSES = ("new", "submitted", "open", "partially_filled", "unknown")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="orders")
    client_order_id = models.CharField(max_length=64, unique=True)
    venue_order_id = models.CharField(max_length=128, blank=True, default="")
    symbol = models.CharField(max_length=64)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=8, choices=Type.choices, default=Type.MARKET)
    quantity = MoneyField()
    price = MoneyField(null=True, blank=True)  # limit price; null for market orders
    # The price the decision was judged and sized on, written with the intent: a paper order
    # fills at it (plus slippage) however late it is executed, e.g. after a crash.
    reference_price = MoneyField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    filled_quantity = MoneyField(default=ZERO)
    average_price = MoneyField(null=True, blank=True)
    fee = MoneyField(default=ZERO)
    fee_currency = models.CharField(max_length=16, blank=True, default="")
    is_paper = models.BooleanField(default=True)
    reason = models.CharField(max_length=64, blank=True, default="")  # signal, stop_loss, close, ...
    error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="order_side_valid"),
            models.CheckConstraint(condition=Q(type__in=["market", "limit"]), name="order_type_valid"),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "new",
                        "submitted",
                        "open",
                        "partially_filled",
                        "filled",
                        "canceled",
                        "rejected",
                        "unknown",
                    ]
                ),
                name="order_status_valid",
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(condition=Q(filled_quantity__gte=0), name="order_filled_nonnegative"),
            models.CheckConstraint(
                condition=Q(filled_quantity__lte=models.F("quantity")), name="order_filled_le_quantity"
            ),
            models.CheckConstraint(condition=Q(fee__gte=0), name="order_fee_nonnegative"),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gt=0), name="order_price_positive"),
        ]
        indexes = [
            models.Index(fields=["bot", "-created_at"], name="order_bot_created_idx"),
            # Reconciliation and "does this bot have an order in flight": small partial index.
            models.Index(
                fields=["bot", "status"],
                name="order_inflight_idx",
                condition=Q(status__in=["new", "submitted", "open", "partially_filled", "unknown"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} [{self.status}] {self.client_order_id}"


class Trade(models.Model):
    """One fill. ``realized_pnl`` is set when the fill reduces a position (average cost).

    ``fee_quote`` is the fee valued in the quote currency; it counts against PnL
    (a buy's fee raises the position's average cost, a sell's fee reduces its proceeds).
    """

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="trades")
    # Denormalised from bot.owner: "all my trades" and per-user usage without a join.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="fills")
    # Idempotency of fills: the venue's trade id, or the client order id for a paper fill.
    fill_id = models.CharField(max_length=128)
    symbol = models.CharField(max_length=64)
    side = models.CharField(max_length=4, choices=Order.Side.choices)
    quantity = MoneyField()
    price = MoneyField()
    fee = MoneyField(default=ZERO)
    fee_currency = models.CharField(max_length=16, blank=True, default="")
    fee_quote = MoneyField(default=ZERO)
    realized_pnl = MoneyField(null=True, blank=True)
    is_paper = models.BooleanField(default=True)
    # Why its order was placed: the strategy's reason, or stop_loss, take_profit, trailing_stop,
    # manual, signal (copied from the order, so the trade list says it without a join).
    reason = models.CharField(max_length=64, blank=True, default="")
    executed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "fill_id"], name="trade_bot_fill_unique"),
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="trade_side_valid"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="trade_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="trade_price_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0, fee_quote__gte=0), name="trade_fee_nonnegative"),
        ]
        indexes = [
            models.Index(fields=["bot", "-executed_at", "-id"], name="trade_bot_time_idx"),
            models.Index(fields=["owner", "-executed_at", "-id"], name="trade_owner_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} @ {self.price}"

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price


class Position(models.Model):
    """A bot's holding in one symbol (long-only spot): quantity and average cost."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="positions")
    symbol = models.CharField(max_length=64)
    quantity = MoneyField(default=ZERO)
    average_cost = MoneyField(default=ZERO)  # per unit, quote currency, buy fees included
    realized_pnl = MoneyField(default=ZERO)
    fees = MoneyField(default=ZERO)
    opened_at = models.DateTimeField(null=True, blank=True)  # when quantity last left zero
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "symbol"], name="position_bot_symbol_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="position_quantity_nonnegative"),
            models.CheckConstraint(condition=Q(average_cost__gte=0), name="position_cost_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.symbol} @ {self.average_cost}"


class BotDailyPnl(models.Model):
    """Per bot and UTC day: what analytics and lists read instead of the trade table.

    ``trades`` counts fills; ``wins``/``losses`` count closing fills with positive or
    negative realized PnL; ``gross_profit`` and ``gross_loss`` (a positive number) sum
    those; ``realized_pnl`` is net of every fee of the day.
    """

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="daily_pnl")
    day = models.DateField()
    realized_pnl = MoneyField(default=ZERO)
    gross_profit = MoneyField(default=ZERO)
    gross_loss = MoneyField(default=ZERO)
    fees = MoneyField(default=ZERO)
    volume = MoneyField(default=ZERO)
    trades = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "day"], name="dailypnl_bot_day_unique"),
            models.CheckConstraint(
                condition=Q(gross_profit__gte=0, gross_loss__gte=0, fees__gte=0), name="dailypnl_nonnegative"
            ),
        ]
        verbose_name = "daily PnL"
        verbose_name_plural = "daily PnL"


class WorkerHeartbeat(models.Model):
    """Written by engine workers every few seconds; ``GET status`` reads it."""

    ONLINE_SECONDS = 30

    name = models.CharField(max_length=200, unique=True)  # e.g. celery@host:pid
    hostname = models.CharField(max_length=200, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    info = models.JSONField(default=dict, blank=True)  # flags, ticks processed, version

    def __str__(self) -> str:
        return self.name


class FleetHalt(models.Model):
    """The singleton fleet-halt switch (pk is always 1). While halted no live order leaves.

    Read it with :meth:`current`; staff toggle it through adminpanel's service.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    halted = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True, default="")
    since = models.DateTimeField(null=True, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="fleethalt_singleton")]

    def __str__(self) -> str:
        return "halted" if self.halted else "running"

    @classmethod
    def current(cls) -> FleetHalt:
        """The switch, created off on first read (one query once it exists)."""
        halt = cls.objects.filter(pk=cls.SINGLETON_ID).first()
        if halt is None:
            halt, _ = cls.objects.get_or_create(pk=cls.SINGLETON_ID)
        return halt

    @classmethod
    def is_halted(cls) -> bool:
        return cls.objects.filter(pk=cls.SINGLETON_ID, halted=True).exists()


class Candle(models.Model):
    """The candle store: one OHLCV candle of a venue's market, as recorded or downloaded.

    ``time`` is the candle's open in epoch seconds (UTC), so a backtest loads 100,000 rows
    without parsing a datetime each. Prices are IEEE doubles, what venues serve through ccxt
    and what the recordings hold: the engine turns a price into a ``Decimal`` through its
    shortest repr, exactly as the replay venue does. Missing periods are simply absent
    (``bots.candles.coverage`` counts them as gaps).
    """

    exchange = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64)
    timeframe = models.CharField(max_length=8)
    time = models.BigIntegerField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol", "timeframe", "time"], name="candle_unique_time"),
        ]


class Backtest(models.Model):
    """A strategy run over stored candles on the in-memory ledger (``bots.engine.backtest``).

    A sweep (``params_grid``) is a parent whose children are its combinations (``parent``),
    each run by its own task. Results are kept on the row as JSON (orders, trades, equity):
    they are written once, when the run ends (or is canceled), and read whole.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    FINAL = (Status.FINISHED, Status.FAILED, Status.CANCELED)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtests")
    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.SET_NULL, related_name="backtests")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    strategy = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    params_grid = models.JSONField(null=True, blank=True)
    exchange = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64)
    timeframe = models.CharField(max_length=8)
    since = models.DateTimeField()
    until = models.DateTimeField()
    capital = MoneyField()
    fee_pct = MoneyField(max_digits=12, decimal_places=8)
    slippage_pct = MoneyField(max_digits=12, decimal_places=8)
    position_size_pct = MoneyField(max_digits=8, decimal_places=6, default=Decimal("1"))
    rules = models.JSONField(default=dict, blank=True)  # exits and limits (risk.OVERRIDE_KEYS)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    candles = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    performance = models.JSONField(null=True, blank=True)
    orders = models.JSONField(default=list, blank=True)
    trades = models.JSONField(default=list, blank=True)
    equity = models.JSONField(default=list, blank=True)
    cancel_requested = models.BooleanField(default=False)
    claimed_until = models.DateTimeField(null=True, blank=True)  # the running worker's lease

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="backtest_owner_created_idx"),
            models.Index(fields=["status"], name="backtest_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "finished", "failed", "canceled"]),
                name="backtest_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Backtest #{self.pk} {self.strategy} {self.symbol}"
