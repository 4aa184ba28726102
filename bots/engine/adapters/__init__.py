"""Order adapters: how an order intent becomes a fill.

* :mod:`.paper` fills locally against the bot's venue's market data (fee, slippage);
  the fill is a pure function of the intent, so re-executing it after a crash yields the
  same fill, and ``trade_record_fill``'s idempotency by ``fill_id`` makes it count once.
* :mod:`.live` sends the order to the venue through the key set's shared client with
  our client order id, and resolves an unknown outcome by looking that id up — never
  by sending the order again.
"""
