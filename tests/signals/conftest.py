from __future__ import annotations

import pytest

from bots.models import Bot
from tests.bots.factories import BotFactory
from tests.fakes.fixtures import fake_exchange  # noqa: F401


@pytest.fixture
def signal_bot(owner):
    """A running paper signal bot of ``owner`` on BTC/USDT."""
    return BotFactory(owner=owner, strategy="signal", params={}, status=Bot.Status.RUNNING)


@pytest.fixture
def webhook_url(owner_client, signal_bot):
    response = owner_client.get(f"/api/bots/{signal_bot.pk}/webhook")
    assert response.status_code == 200, response.content
    url = response.json()["webhook"]["url"]
    return url[url.index("/api/") :]
