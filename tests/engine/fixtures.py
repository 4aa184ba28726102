"""Engine fixtures shared beyond tests/engine (registered as a plugin in tests/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials.services import credential_save
from tests.engine.factories import dca_bot
from tests.fakes.exchange import BINANCE_KEY, BINANCE_SECRET


@pytest.fixture
def live_bot(owner, fake_exchange, settings):
    """A promoted live DCA bot on binance (the fake exchange) with a live key set, due now."""
    settings.ENABLE_TRADING = True
    credential = credential_save(
        user=owner,
        provider="binance",
        purpose="live",
        label="default",
        secrets={"api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET},
    )
    return dca_bot(
        owner=owner,
        exchange="binance",
        symbol="BTC/USDT",
        trading_mode="live",
        in_training=False,
        credential=credential,
        next_tick_at=timezone.now() - timedelta(seconds=1),
    )
