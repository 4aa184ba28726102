"""Instructions: a decision handed to a bot from outside (its owner, a signal) instead of its strategy.

An :class:`Instruction` is validated here (pure, no database) and turned into the
:class:`~bots.engine.strategies.Decision` the tick orders with
(:func:`bots.engine.core.decide`'s ``instructed``), so a manual or signal order goes
through the very rules a strategy's order does: protective exits first, the trade
limiter, the re-entry rule, sizing, the route (training bay, ``ENABLE_TRADING``, the
fleet halt), the re-check under the row lock and the bodyguard after the tick.

Callers use :func:`bots.services.instructions.instruction_submit` (INSTRUCTION_API.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bots.engine.strategies import BUY, SELL, Decision

BUY_ACTION, SELL_ACTION, CLOSE, CANCEL = "buy", "sell", "close", "cancel"
ACTIONS = (BUY_ACTION, SELL_ACTION, CLOSE, CANCEL)
MARKET, LIMIT = "market", "limit"
TYPES = (MARKET, LIMIT)
MANUAL, SIGNAL = "manual", "signal"
REASONS = (MANUAL, SIGNAL)
HUNDRED = Decimal(100)
SOURCE_ID = re.compile(r"[A-Za-z0-9_-]{1,20}")


class InstructionError(ValueError):
    """A malformed instruction; ``field`` names the part that is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _amount(field: str, value) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InstructionError(field, "must be a number") from None
    if not amount.is_finite() or amount <= 0:
        raise InstructionError(field, "must be a positive number")
    return amount


@dataclass(frozen=True)
class Instruction:
    """What to do now. Exactly one of ``quantity`` (base), ``quote_amount`` (quote) and
    ``percent`` (0 < p ≤ 100: of the bot's capital for a buy, of the position for a sell)
    for ``buy`` / ``sell``; none for ``close`` (the whole position) and ``cancel``
    (``order_id``: a resting order of the bot). ``price`` makes it a limit order."""

    action: str
    type: str = MARKET
    quantity: Decimal | None = None
    quote_amount: Decimal | None = None
    percent: Decimal | None = None
    price: Decimal | None = None
    order_id: int | None = None
    reason: str = MANUAL
    # The caller's id for this instruction (a signal's id): the order's client id derives from
    # it, so submitting the same instruction twice places one order ("" = no idempotency).
    source_id: str = ""

    @classmethod
    def build(cls, **fields) -> Instruction:
        """A validated instruction (numbers as Decimals) or :class:`InstructionError`."""
        action = fields.get("action")
        if action not in ACTIONS:
            raise InstructionError("action", f"must be one of {', '.join(ACTIONS)}")
        reason = fields.get("reason") or MANUAL
        if reason not in REASONS:
            raise InstructionError("reason", f"must be one of {', '.join(REASONS)}")
        price = _amount("price", fields.get("price"))
        order_type = fields.get("type") or (LIMIT if price is not None else MARKET)
        if order_type not in TYPES:
            raise InstructionError("type", "must be market or limit")
        amounts = {name: _amount(name, fields.get(name)) for name in ("quantity", "quote_amount", "percent")}
        given = [name for name, value in amounts.items() if value is not None]
        order_id = fields.get("order_id")
        source_id = str(fields.get("source_id") or "")
        if source_id and not SOURCE_ID.fullmatch(source_id):
            raise InstructionError("source_id", "1 to 20 letters, digits, - or _")
        if action == CANCEL:
            if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id <= 0:
                raise InstructionError("order_id", "a cancel names the order to cancel")
            return cls(action=CANCEL, order_id=order_id, reason=reason, source_id=source_id)
        if action == CLOSE:
            if given:
                raise InstructionError(given[0], "a close sells the whole position; give no amount")
        elif len(given) != 1:
            raise InstructionError("quantity", "give exactly one of quantity, quote_amount and percent")
        if amounts["percent"] is not None and amounts["percent"] > HUNDRED:
            raise InstructionError("percent", "must be at most 100")
        if order_type == LIMIT and price is None:
            raise InstructionError("price", "a limit order needs a price")
        if order_type == MARKET and price is not None:
            raise InstructionError("price", "a market order takes no price")
        return cls(
            action=action,
            type=order_type,
            price=price,
            reason=reason,
            source_id=source_id,
            **amounts,
        )

    @property
    def side(self) -> str:
        return BUY if self.action == BUY_ACTION else SELL

    def as_dict(self) -> dict:
        out = {"action": self.action, "type": self.type, "reason": self.reason}
        for name in ("quantity", "quote_amount", "percent", "price"):
            value = getattr(self, name)
            if value is not None:
                out[name] = format(value.normalize(), "f")
        if self.order_id is not None:
            out["order_id"] = self.order_id
        if self.source_id:
            out["source_id"] = self.source_id
        return out


def client_order_id(bot_id: int, instruction: Instruction) -> str | None:
    """The client order id of the order an instruction with a ``source_id`` places (≤ 36
    characters, Binance's limit); ``None``: the tick slot's own id."""
    if not instruction.source_id:
        return None
    return f"bf-{bot_id}-{instruction.reason[0]}{instruction.source_id}"


def decision(instruction: Instruction, *, price: Decimal, position: Decimal, capital: Decimal) -> Decision:
    """The decision an instruction stands for at ``price`` (a limit order is sized at its own price).

    A buy is a quote amount (the sizing rules cap it); a sell a base quantity (capped at the
    position). ``close`` sells the whole position."""
    at = instruction.price or price
    reason = instruction.reason
    if instruction.action == CLOSE:
        return Decision(SELL, quantity=float(position), reason=reason)
    if instruction.action == BUY_ACTION:
        if instruction.quote_amount is not None:
            quote = instruction.quote_amount
        elif instruction.quantity is not None:
            quote = instruction.quantity * at
        else:
            quote = capital * instruction.percent / HUNDRED
        return Decision(BUY, quote=float(quote), reason=reason)
    if instruction.quantity is not None:
        quantity = instruction.quantity
    elif instruction.quote_amount is not None:
        quantity = instruction.quote_amount / at
    else:
        quantity = position * instruction.percent / HUNDRED
    # "All of it" stays all of it: a float rounding just under the position must not leave dust.
    return Decision(SELL, quantity=float(position) if quantity >= position else float(quantity), reason=reason)
