"""The trading engine: market data, order adapters, strategies, risk rules and the tick.

DESIGN.md "How a bot trades". Entry points: :func:`bots.engine.tick.tick_batch`
(Celery's batches), :func:`bots.engine.tick.tick_bot` (one bot now), and
:func:`bots.engine.tick.reconcile_orders` (housekeeping).
"""
