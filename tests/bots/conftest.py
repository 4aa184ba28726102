from __future__ import annotations

import pytest

from tests.bots.factories import BotFactory


@pytest.fixture
def bot(owner):
    return BotFactory(owner=owner, name="Bot-1")


@pytest.fixture
def other_bot(other_user):
    return BotFactory(owner=other_user, name="Theirs")
