"""Two users with the same kinds of objects, so every endpoint can be asked about the other's."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from bots.models import Bot
from credentials.models import Credential
from credentials.services import credential_save
from notifications.models import Channel
from tests.bots.factories import BotFactory
from tests.credentials.test_canary import every_logger_at_debug  # noqa: F401 - shared fixtures
from tests.engine.conftest import _engine_defaults  # noqa: F401
from tests.fakes.fixtures import fake_exchange  # noqa: F401


@dataclass
class Holdings:
    bot: Bot
    credential: Credential
    marker: str  # a string only this user's objects carry
    channel: Channel | None = None

    def value_for(self, kind: str):
        return {"bot": self.bot.pk, "credential": self.credential.pk, "channel": self.channel.pk}[kind]


def holdings_of(user, marker: str) -> Holdings:
    bot = BotFactory(owner=user, name=f"{marker}-bot", status=Bot.Status.STOPPED)
    BotFactory(owner=user, name=f"{marker}-running", status=Bot.Status.RUNNING)
    credential = credential_save(
        user=user,
        provider="binance",
        purpose="live",
        label=f"{marker}-label",
        secrets={"api_key": f"{marker}-key-9876", "api_secret": f"{marker}-secret"},
    )
    # An e-mail channel (verified): its test message goes to Django's mail, not the network.
    channel = Channel.objects.create(
        user=user, kind="email", name=f"{marker}-channel", address=user.email, events=[], verified_at=timezone.now()
    )
    return Holdings(bot=bot, credential=credential, marker=marker, channel=channel)


@pytest.fixture
def owner_holdings(owner) -> Holdings:
    return holdings_of(owner, "OWNERMARK")


@pytest.fixture
def other_holdings(other_user) -> Holdings:
    return holdings_of(other_user, "OTHERMARK")
