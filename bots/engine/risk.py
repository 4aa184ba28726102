"""Risk rules: what stands between a strategy's wish and an order.

Pure functions over a bot's numbers and its engine memory (``bot.state["engine"]``), so
the tick can apply them to a whole batch without a query, and tests can drive them with
exact values. In the order they apply:

1. **Route** (:func:`order_route`): paper or real money. A paper bot, a live bot still in
   the training bay, and any bot on the local venues fill on paper. A real-money order
   needs ``ENABLE_TRADING`` on and the fleet not halted; otherwise it is *blocked*
   (never diverted to paper: its position lives on the venue). Paper always continues.
2. **Protective exits** (:func:`protective_exit`): stop-loss, take-profit and the trailing
   stop (armed once the price rose ``trailing_arm_pct`` above the average cost, it fires when
   the price falls ``trailing_stop_pct`` below the highest price the ticks saw since the
   position opened: ``engine["trail_high"]``, :func:`trail`), checked every tick, before the
   strategy; they are never held back by the trade limiter. One exit sells a position at
   most once (``engine["exited"]``, set by its fill, cleared when the position is flat, or when
   the venue ended the exit's order short of its quantity: what it left is protected again). After one,
   no strategy buys again within the same candle of the bot's timeframe
   (:func:`reentry_refusal`): a signal judged on closed candles still reads the same until
   the candle closes, and buying it again would repeat the trade the exit just ended.
3. **Trade limiter** (:func:`limiter_refusal`): at most ``max_daily_trades`` orders per UTC
   day and a cooldown between orders. Days are UTC days of timezone-aware datetimes;
   a naive datetime is refused (``ValueError``), a non-UTC one is converted.
4. **Sizing** (:func:`size_buy`, :func:`size_sell`): a position never exceeds
   ``position_size_pct`` of capital, nor the cash; ``max_open_positions`` bounds how many
   symbols a bot holds; quantities follow the venue's lot size and minimum notional.
5. **Bodyguard** (:func:`bodyguard_verdict`): after the tick, a reason to pause the bot —
   drawdown, loss streak, repeated stop-losses, error loop — unless ``DISABLE_AI_BODYGUARD``.

Staff override rules (``bot.override_rules``, keys :data:`OVERRIDE_KEYS`) take precedence
over the engine defaults, and over the owner's own exits (:data:`EXIT_KEYS`) where they are
stricter (the smaller percentage) (:func:`effective_rules`).

Every limit is a setting (environment variable of the same name), read when used:
``ENGINE_MAX_DAILY_TRADES`` (200; 0 = no limit; a staff override of 0 = no new trades),
``ENGINE_TRADE_COOLDOWN_SECONDS`` (0),
``ENGINE_STOP_LOSS_PCT`` / ``ENGINE_TAKE_PROFIT_PCT`` (unset = none),
``BODYGUARD_MAX_DRAWDOWN_PCT`` (0.20), ``BODYGUARD_LOSS_STREAK`` (5),
``BODYGUARD_STOP_LOSSES`` (3) within ``BODYGUARD_STOP_LOSS_WINDOW_SECONDS`` (3600),
``BODYGUARD_ERROR_TICKS`` (5). A bodyguard limit of 0 switches that trigger off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, Decimal

from django.conf import settings

from bots.engine.market import MarketRules
from bots.equity import drawdown

OVERRIDE_KEYS = ("max_daily_trades", "position_size_pct", "stop_loss_pct", "take_profit_pct", "max_open_positions")
EXIT_KEYS = ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "trailing_arm_pct")
STOP_LOSS, TAKE_PROFIT, TRAILING_STOP = "stop_loss", "take_profit", "trailing_stop"
EXIT_REASONS = (STOP_LOSS, TAKE_PROFIT, TRAILING_STOP)
ZERO = Decimal("0")


def setting(name: str, default, cast=float):
    """An engine setting (declared, from the environment, in config/settings.py)."""
    value = getattr(settings, name, None)
    if value is None or value == "":
        return default
    return cast(value)


def _dec(value) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


# ---------------------------------------------------------------------------
# Effective rules
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    max_daily_trades: int | None  # None = no limit; an override of 0 stops new trades
    cooldown_seconds: float
    position_size_pct: Decimal
    stop_loss_pct: Decimal | None
    take_profit_pct: Decimal | None
    max_open_positions: int | None
    overridden: frozenset[str] = frozenset()
    trailing_stop_pct: Decimal | None = None
    trailing_arm_pct: Decimal = ZERO

    def as_dict(self) -> dict:
        """The effective rules as the bot's API shows them (percentages as fractions, strings)."""

        def text(value):
            return None if value is None else format(Decimal(value).normalize(), "f")

        return {
            "stop_loss_pct": text(self.stop_loss_pct),
            "take_profit_pct": text(self.take_profit_pct),
            "trailing_stop_pct": text(self.trailing_stop_pct),
            "trailing_arm_pct": text(self.trailing_arm_pct),
            "position_size_pct": text(self.position_size_pct),
            "max_daily_trades": self.max_daily_trades,
            "max_open_positions": self.max_open_positions,
            "overridden": sorted(self.overridden),
        }


def _stricter(override: Decimal | None, own: Decimal | None) -> Decimal | None:
    if override is None or own is None:
        return own if override is None else override
    return min(override, own)


def effective_rules(
    *, position_size_pct: Decimal, override_rules: dict | None, strategy_take_profit=None, exits: dict | None = None
) -> Rules:
    """The bot's rules with staff overrides on top: an override wins over the engine defaults
    (even a 0) and over the owner's own ``exits`` (:data:`EXIT_KEYS`) where it is stricter."""
    override = {k: v for k, v in (override_rules or {}).items() if k in OVERRIDE_KEYS and v is not None}
    own = {k: _dec(v) for k, v in (exits or {}).items() if k in EXIT_KEYS and v is not None}
    take_profit = own.get("take_profit_pct") or _dec(setting("ENGINE_TAKE_PROFIT_PCT", None, str))
    take_profit = take_profit or _dec(strategy_take_profit)
    stop_loss = own.get("stop_loss_pct") or _dec(setting("ENGINE_STOP_LOSS_PCT", None, str))
    if "max_daily_trades" in override:
        max_daily = int(override["max_daily_trades"])
    else:
        max_daily = setting("ENGINE_MAX_DAILY_TRADES", 200, int) or None
    return Rules(
        max_daily_trades=max_daily,
        cooldown_seconds=setting("ENGINE_TRADE_COOLDOWN_SECONDS", 0.0),
        position_size_pct=_dec(override.get("position_size_pct")) or Decimal(position_size_pct),
        stop_loss_pct=_stricter(_dec(override.get("stop_loss_pct")), stop_loss),
        take_profit_pct=_stricter(_dec(override.get("take_profit_pct")), take_profit),
        max_open_positions=int(override["max_open_positions"]) if "max_open_positions" in override else None,
        overridden=frozenset(override),
        trailing_stop_pct=own.get("trailing_stop_pct"),
        trailing_arm_pct=own.get("trailing_arm_pct") or ZERO,
    )


# ---------------------------------------------------------------------------
# Route: paper or real money
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    paper: bool
    blocked: str = ""  # why a real-money order may not leave now ("" = it may)


def order_route(
    *, trading_mode: str, in_training: bool, venue_is_real: bool, trading_enabled: bool, halted: bool
) -> Route:
    if trading_mode != "live" or in_training or not venue_is_real:
        return Route(paper=True)
    if not trading_enabled:
        return Route(paper=False, blocked="real-money trading is disabled (ENABLE_TRADING is off)")
    if halted:
        return Route(paper=False, blocked="the fleet is halted by staff")
    return Route(paper=False)


# ---------------------------------------------------------------------------
# Trade limiter
# ---------------------------------------------------------------------------
def utc_day(when: datetime) -> date:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("the trade limiter needs a timezone-aware datetime")
    return when.astimezone(UTC).date()


def trades_today(engine: dict, now: datetime) -> int:
    return int(engine.get("trades", 0)) if engine.get("day") == utc_day(now).isoformat() else 0


def limiter_refusal(rules: Rules, engine: dict, now: datetime) -> str:
    """Why the limiter refuses an order now ("" when it allows it)."""
    if rules.max_daily_trades is not None and trades_today(engine, now) >= rules.max_daily_trades:
        source = "staff override" if "max_daily_trades" in rules.overridden else "daily limit"
        return f"{rules.max_daily_trades} trades today ({source})"
    last = engine.get("last_trade_at")
    if rules.cooldown_seconds and last is not None and now.timestamp() - float(last) < rules.cooldown_seconds:
        return f"cooldown of {rules.cooldown_seconds:g} s"
    return ""


def note_order(engine: dict, now: datetime) -> dict:
    """The engine memory after an order is placed at ``now``."""
    day = utc_day(now).isoformat()
    trades = int(engine.get("trades", 0)) + 1 if engine.get("day") == day else 1
    return {**engine, "day": day, "trades": trades, "last_trade_at": now.timestamp()}


def note_exit(engine: dict, *, reason: str, candle: int) -> dict:
    """The engine memory after a protective exit decided in ``candle`` (other fills: unchanged)."""
    if reason not in EXIT_REASONS:
        return engine
    return {**engine, "exit_candle": candle, "exit_reason": reason, "exited": True}


def reentry_refusal(engine: dict, *, candle: int) -> str:
    """Why a strategy may not buy in ``candle`` ("" when it may): a protective exit happened in it."""
    if engine.get("exit_candle") != candle:
        return ""
    exit_name = str(engine.get("exit_reason", STOP_LOSS)).replace("_", "-")
    return f"no new entry in the candle of its {exit_name}"


# ---------------------------------------------------------------------------
# Exits and sizing
# ---------------------------------------------------------------------------
def trail(engine: dict, *, position: Decimal, average_cost: Decimal, price: Decimal) -> dict:
    """The engine memory with the trailing stop's high-water mark at ``price``: the highest
    price seen since the position opened (its average cost at least); a flat book forgets it
    and the position's exit (the next position has its own)."""
    if position <= 0 or average_cost <= 0:
        if "trail_high" in engine or "exited" in engine:
            return {k: v for k, v in engine.items() if k not in ("trail_high", "exited")}
        return engine
    high = max(Decimal(str(engine.get("trail_high") or 0)), average_cost, price)
    return engine if engine.get("trail_high") == str(high) else {**engine, "trail_high": str(high)}


def protective_exit(
    rules: Rules, *, position: Decimal, average_cost: Decimal, price: Decimal, engine: dict | None = None
) -> str:
    """``stop_loss`` / ``trailing_stop`` / ``take_profit`` when the price crossed the line, else "".

    ``engine``: the bot's memory after :func:`trail` (the high-water mark; an exit already
    filled for this position)."""
    engine = engine or {}
    if position <= 0 or average_cost <= 0 or engine.get("exited"):
        return ""
    if rules.stop_loss_pct is not None and price <= average_cost * (1 - rules.stop_loss_pct):
        return STOP_LOSS
    if rules.trailing_stop_pct is not None and engine.get("trail_high"):
        high = Decimal(str(engine["trail_high"]))
        armed = high >= average_cost * (1 + rules.trailing_arm_pct)
        if armed and price <= high * (1 - rules.trailing_stop_pct):
            return TRAILING_STOP
    if rules.take_profit_pct is not None and price >= average_cost * (1 + rules.take_profit_pct):
        return TAKE_PROFIT
    return ""


def _round_quantity(quantity: Decimal, rules: MarketRules) -> Decimal:
    if rules.amount_step:
        quantity = (quantity / rules.amount_step).to_integral_value(rounding=ROUND_DOWN) * rules.amount_step
    return quantity.quantize(Decimal("1e-12"), rounding=ROUND_DOWN)


def _too_small(quantity: Decimal, price: Decimal, rules: MarketRules) -> str:
    if quantity <= 0:
        return "quantity rounds to zero"
    if rules.min_amount and quantity < rules.min_amount:
        return f"below the venue's minimum amount {rules.min_amount.normalize():f}"
    if rules.min_notional and quantity * price < rules.min_notional:
        return f"below the venue's minimum notional {rules.min_notional.normalize():f}"
    return ""


@dataclass(frozen=True)
class Sized:
    quantity: Decimal = ZERO
    refused: str = ""


def size_buy(
    rules: Rules,
    *,
    quote: Decimal,
    price: Decimal,
    cash: Decimal,
    capital: Decimal,
    position_cost: Decimal,
    open_positions: int,
    opens_new_position: bool,
    fee_pct: Decimal,
    market: MarketRules,
) -> Sized:
    """The base quantity of a buy worth ``quote``, after the position, cash and venue limits."""
    if opens_new_position and rules.max_open_positions is not None and open_positions >= rules.max_open_positions:
        return Sized(refused=f"{open_positions} open position(s), the limit is {rules.max_open_positions}")
    room = capital * rules.position_size_pct - position_cost
    spend = min(quote, room, cash / (1 + fee_pct))
    if spend <= 0:
        why = "no cash left" if cash <= 0 else f"position size limit {rules.position_size_pct.normalize():f}"
        return Sized(refused=why)
    quantity = _round_quantity(spend / price, market)
    small = _too_small(quantity, price, market)
    return Sized(refused=small) if small else Sized(quantity=quantity)


def sellable(position: Decimal, price: Decimal, market: MarketRules) -> Decimal:
    """What of ``position`` one order can sell on a venue that enforces its limits on every
    order: floored to its lot size, and nothing when that is under its minimum amount or
    notional (dust no order can sell)."""
    quantity = _round_quantity(position, market)
    return ZERO if _too_small(quantity, price, market) else quantity


def size_sell(
    *, quantity: Decimal, position: Decimal, price: Decimal, market: MarketRules, venue_limits: bool = False
) -> Sized:
    """The base quantity of a sell of ``quantity`` out of ``position``.

    ``venue_limits``: the venue (a real one, live or its training bay) takes only whole lots
    above its minimums, a full exit included: it is floored to the lot size (the dust left is
    booked, and treated as no position) and refused, saying why, under the minimums — never
    sent to be refused on every tick. Local paper venues let a position close whole.
    """
    full = quantity >= position
    quantity = min(quantity, position)
    if venue_limits and full and position > 0:
        quantity = _round_quantity(quantity, market)
        small = _too_small(quantity, price, market)
        if small:
            if quantity <= 0 and market.amount_step:
                small = f"under the venue's lot size {market.amount_step.normalize():f}"
            return Sized(refused=f"the whole position is {small}: it cannot be sold")
        return Sized(quantity=quantity)
    # Selling the whole position on a local venue must not leave dust because of the lot size.
    if quantity < position:
        quantity = _round_quantity(quantity, market)
    if quantity <= 0:
        return Sized(refused="nothing to sell")
    if market.min_notional and quantity * price < market.min_notional and quantity < position:
        return Sized(refused=f"below the venue's minimum notional {market.min_notional.normalize():f}")
    return Sized(quantity=quantity)


# ---------------------------------------------------------------------------
# Bodyguard
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BodyguardLimits:
    max_drawdown_pct: float
    loss_streak: int
    stop_losses: int
    stop_loss_window_seconds: float
    error_ticks: int

    @classmethod
    def current(cls) -> BodyguardLimits:
        return cls(
            max_drawdown_pct=setting("BODYGUARD_MAX_DRAWDOWN_PCT", 0.20),
            loss_streak=setting("BODYGUARD_LOSS_STREAK", 5, int),
            stop_losses=setting("BODYGUARD_STOP_LOSSES", 3, int),
            stop_loss_window_seconds=setting("BODYGUARD_STOP_LOSS_WINDOW_SECONDS", 3600.0),
            error_ticks=setting("BODYGUARD_ERROR_TICKS", 5, int),
        )


def bodyguard_enabled() -> bool:
    return not settings.DISABLE_AI_BODYGUARD


COUNTED_ORDERS_KEPT = 10


def note_fill(
    engine: dict, *, realized: Decimal | None, reason: str, now: datetime, limits: BodyguardLimits, order: str = ""
) -> dict:
    """The engine memory after a fill: loss streak and recent stop-losses, counted once per
    ``order`` (its client id): a venue splits one order into a fill per maker it matched
    (Binance's are booked each), and one stop-loss sold in three fills is one stop-loss, not
    the three that would pause the bot. The last few orders counted are kept (a resting limit
    order's fills may interleave with another order's)."""
    counted = list(engine.get("counted_orders") or [])
    if order and order in counted:
        return engine
    engine = dict(engine)
    if order:
        engine["counted_orders"] = [*counted, order][-COUNTED_ORDERS_KEPT:]
    if realized is not None and realized < 0:
        engine["loss_streak"] = int(engine.get("loss_streak", 0)) + 1
    elif realized is not None and realized > 0:
        engine["loss_streak"] = 0
    if reason == STOP_LOSS:
        horizon = now.timestamp() - limits.stop_loss_window_seconds
        engine["stop_losses"] = [t for t in engine.get("stop_losses", []) if t >= horizon] + [now.timestamp()]
    return engine


def note_equity(engine: dict, *, equity: float, capital: float) -> dict:
    peak = max(float(engine.get("peak_equity", capital)), equity)
    return engine if engine.get("peak_equity") == peak else {**engine, "peak_equity": peak}


def bodyguard_verdict(
    engine: dict, *, equity: float, capital: float, consecutive_errors: int, now: datetime, limits: BodyguardLimits
) -> str:
    """Why the bodyguard pauses the bot now ("" = it does not)."""
    if limits.error_ticks and consecutive_errors >= limits.error_ticks:
        return f"bodyguard: {consecutive_errors} failed ticks in a row"
    # The drawdown the analytics and the autopilot measure: from the highest equity the
    # ticks saw (marked to market), as a fraction of that peak.
    fall = drawdown(float(engine.get("peak_equity", capital)), equity)
    if limits.max_drawdown_pct and fall > limits.max_drawdown_pct:
        return f"bodyguard: drawdown {fall:.1%} from peak equity exceeds {limits.max_drawdown_pct:.0%}"
    if limits.loss_streak and int(engine.get("loss_streak", 0)) >= limits.loss_streak:
        return f"bodyguard: {engine['loss_streak']} losing trades in a row"
    if limits.stop_losses:
        horizon = now.timestamp() - limits.stop_loss_window_seconds
        recent = [t for t in engine.get("stop_losses", []) if t >= horizon]
        if len(recent) >= limits.stop_losses:
            window = limits.stop_loss_window_seconds / 60
            return f"bodyguard: {len(recent)} stop-losses within {window:g} minutes"
    return ""


def bodyguard_reset(engine: dict, *, equity: float) -> dict:
    """After a pause, start counting afresh (a resumed bot is not paused again for the past)."""
    return {**engine, "loss_streak": 0, "stop_losses": [], "peak_equity": equity}
