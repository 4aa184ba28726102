"""The event types bots emit (API.md "realtime"), registered from ``BotsConfig.ready``.

Payloads: ``bot`` is the bot's API representation (``bots.serializers.bot_to_dict``);
``trade`` a trade's. Lifecycle events may say why (``reason``) and where from
(``previous_status``).
"""

from __future__ import annotations

from realtime.registry import ADMIN_UPDATE, BOT_UPDATE, TRADE_UPDATE, EventType, register

_BOT = {"bot": dict}
_WHY = {"reason": str, "previous_status": str, "actor_id": int}

EVENT_TYPES = (
    EventType("bot_created", BOT_UPDATE, "A bot was created.", required=_BOT),
    EventType("bot_updated", BOT_UPDATE, "A bot's settings changed.", required=_BOT, optional={"changed": list}),
    EventType("bot_started", BOT_UPDATE, "A bot started.", required=_BOT, optional=_WHY),
    EventType("bot_stopped", BOT_UPDATE, "A bot stopped.", required=_BOT, optional={**_WHY, "closed_positions": list}),
    EventType(
        "bot_paused",
        BOT_UPDATE,
        "A bot was paused (by its owner, staff or the bodyguard).",
        required=_BOT,
        optional=_WHY,
    ),
    EventType("bot_resumed", BOT_UPDATE, "A bot resumed.", required=_BOT, optional=_WHY),
    EventType("bot_deleted", BOT_UPDATE, "A bot was deleted (its history is kept).", required={"bot": dict}),
    EventType(
        "training_started",
        BOT_UPDATE,
        "A bot entered live mode and the training bay (quarantine), or went back to it because the venue, "
        "symbol or strategy of a live bot changed (``reason``).",
        required=_BOT,
        optional={"min_training_hours": (int, float), "reason": str},
    ),
    EventType(
        "order_reconcile_failed",
        ADMIN_UPDATE,
        "Staff only: an order in flight could not be reconciled (its fill is refused by the books); "
        "``error`` is also on the order and the bot's ``last_error``. Other orders keep reconciling.",
        required={"bot_id": int, "order": dict, "error": str},
        optional={"owner_id": int},
    ),
    EventType(
        "order_placed",
        TRADE_UPDATE,
        "An order asked for by the bot's owner (``reason`` manual) or a signal (``reason`` signal) was "
        "placed: ``order`` (a limit order rests until the market reaches its price).",
        required={"order": dict, "bot_id": int, "reason": str},
        optional={"instruction": dict},
    ),
    EventType(
        "order_canceled",
        TRADE_UPDATE,
        "A resting order was canceled (by its owner, or because an exit or a close sold the position).",
        required={"order": dict, "bot_id": int, "reason": str},
    ),
    EventType(
        "order_rejected",
        TRADE_UPDATE,
        "An order asked for by the owner or a signal was refused (``reason`` says why: a rule, the "
        "bot's state, the venue); ``order`` when one was recorded.",
        required={"bot_id": int, "reason": str},
        optional={"order": dict, "instruction": dict, "code": str},
    ),
    EventType(
        "exit_triggered",
        TRADE_UPDATE,
        "A protective exit (``reason``: stop_loss, take_profit, trailing_stop) decided to sell the "
        "position: ``order`` is its sell.",
        required={"order": dict, "bot_id": int, "reason": str},
        optional={"price": str},
    ),
    EventType(
        "trade_executed",
        TRADE_UPDATE,
        "An order filled (paper or live).",
        required={"trade": dict, "bot_id": int},
        optional={"position": dict, "bot": dict},
        ingestible=True,
    ),
)


# Backtests' events (API.md "backtests and candles"): about runs, not bots or trades.
BACKTEST_EVENT_TYPES = (
    EventType(
        "backtest_progress",
        BOT_UPDATE,
        "A backtest advanced (at most a few a second): ``progress`` 0–1, ``candles`` ticked so far.",
        required={"backtest_id": int, "progress": (int, float), "candles": int},
    ),
    EventType(
        "backtest_finished",
        BOT_UPDATE,
        "A backtest ended (``status`` finished or canceled; a canceled run keeps its partial results).",
        required={"backtest": dict},
    ),
    EventType(
        "backtest_failed", BOT_UPDATE, "A backtest failed; ``backtest.error`` says why.", required={"backtest": dict}
    ),
)


def register_all() -> None:
    for event_type in (*EVENT_TYPES, *BACKTEST_EVENT_TYPES):
        register(event_type)
