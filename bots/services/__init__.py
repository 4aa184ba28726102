"""Bot use cases: the only code that writes bots, orders, trades, positions and rollups.

Each service is one transaction that locks the bot row (``select_for_update``), checks
the state table (:mod:`bots.lifecycle`), writes with ``save(update_fields=...)`` or
``F()`` expressions, appends an audit entry and records its event
(``realtime.services.event_record``) in that same transaction, so a rolled-back change
takes its event with it and the relay publishes only what was committed. A service that
changes what ``analytics/summary`` reads (status, capital, currency, fills, deletion)
calls ``analytics.summary_invalidate`` in that transaction too.

Refusals are :mod:`core.errors` (``core.envelope`` picks the API's status). Services are
never handed the request: the API, the engine and the commands call them alike, and the
audit entry learns the client's IP from the request context (:mod:`core.context`).

Concurrency: two requests on one bot serialise on the row lock; the second sees the
first's result and gets a ``Conflict`` if its transition no longer applies. On SQLite the
whole database is the lock (``transaction_mode: IMMEDIATE``), with the same outcome.
"""

from bots.services.books import TOTALS, order_reconcile_failed, positions_close_in_books, trade_record_fill
from bots.services.bots import bot_create, bot_delete, bot_update
from bots.services.common import RUNTIME_EDITABLE, InvalidBot, bot_locked
from bots.services.orders import (
    bot_engine_state_save,
    order_cancel,
    order_close,
    order_intent_record,
    order_mark_sent,
    order_mark_submitted,
    order_mark_unknown,
    order_paper_fills,
    order_rest,
)
from bots.services.transitions import (
    bot_force_pause,
    bot_pause,
    bot_release,
    bot_start,
    bot_stop,
    bot_transition,
    bots_transition_all,
)
from bots.services.workers import worker_heartbeat

__all__ = [
    "TOTALS",
    "RUNTIME_EDITABLE",
    "InvalidBot",
    "bot_engine_state_save",
    "bot_create",
    "bot_delete",
    "bot_force_pause",
    "bot_locked",
    "bot_pause",
    "bot_release",
    "bot_start",
    "bot_stop",
    "bot_transition",
    "bot_update",
    "bots_transition_all",
    "order_cancel",
    "order_close",
    "order_intent_record",
    "order_mark_sent",
    "order_mark_submitted",
    "order_mark_unknown",
    "order_paper_fills",
    "order_reconcile_failed",
    "order_rest",
    "positions_close_in_books",
    "trade_record_fill",
    "worker_heartbeat",
]
