"""A controlled clock and bots in the training bay."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from bots.models import Bot
from tests.bots.factories import BotFactory
from tests.fakes.fixtures import fake_exchange  # noqa: F401 - the engine test's venue


class Clock:
    """``django.utils.timezone.now`` under the test's control (JWTs keep their own clock)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fixed = Clock(timezone.now().replace(microsecond=0))
    monkeypatch.setattr(timezone, "now", fixed)
    return fixed


def bay_bot(owner, *, started_at: datetime, **kwargs) -> Bot:
    """A live bot in the training bay since ``started_at`` (as ``bots`` leaves it)."""
    kwargs.setdefault("trading_mode", Bot.Mode.LIVE)
    kwargs.setdefault("in_training", True)
    return BotFactory(owner=owner, training_started_at=started_at, **kwargs)


@pytest.fixture
def make_bay_bot():
    return bay_bot
