from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.fakes.fixtures import fake_exchange, unreachable_venues  # noqa: F401

SHARED_DATA = Path(settings.BASE_DIR).parent / "shared" / "data"
SHIPPED_DATA = Path(settings.BASE_DIR) / "bots" / "data" / "replay"


@pytest.fixture
def shared_data_dir() -> Path:
    """Recorded candles: ../shared/data when this checkout has it, else the shipped sample."""
    return SHARED_DATA if SHARED_DATA.is_dir() else SHIPPED_DATA


@pytest.fixture(autouse=True)
def _engine_defaults(settings):
    # Known defaults whatever the environment says: flags off, bodyguard on, no limiter.
    settings.ENABLE_TRADING = False
    settings.DISABLE_AI_BODYGUARD = False
    settings.ENGINE_MAX_DAILY_TRADES = 0
    settings.ENGINE_TRADE_COOLDOWN_SECONDS = 0
    settings.PAPER_FEE_PCT = "0.001"
    settings.PAPER_SLIPPAGE_PCT = "0"


@pytest.fixture
def frozen(monkeypatch):
    """The engine's clock at ``T0`` (services and tasks read ``timezone.now``); set ``frozen["t"]`` to move it."""
    from django.utils import timezone

    from tests.engine.factories import T0

    now = {"t": T0}
    monkeypatch.setattr(timezone, "now", lambda: now["t"])
    return now
