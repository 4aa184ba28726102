"""Two users with the same kinds of objects, so every endpoint can be asked about the other's."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from accounts.models import ApiToken, UserSession
from accounts.services.personal_tokens import token_create
from accounts.tokens import session_start
from bots.models import Backtest, Bot, Order
from credentials.models import Credential
from credentials.services import credential_save
from notifications.models import Channel
from signals.models import Provider
from tests.bots.factories import BacktestFactory, BotFactory
from tests.credentials.test_canary import every_logger_at_debug  # noqa: F401 - shared fixtures
from tests.engine.conftest import _engine_defaults  # noqa: F401
from tests.fakes.fixtures import fake_exchange  # noqa: F401


@dataclass
class Holdings:
    bot: Bot
    credential: Credential
    marker: str  # a string only this user's objects carry
    session: UserSession
    api_token: ApiToken
    channel: Channel
    provider: Provider
    backtest: Backtest
    order: Order

    def value_for(self, kind: str):
        objects = {
            "bot": self.bot,
            "credential": self.credential,
            "session": self.session,
            "api_token": self.api_token,
            "channel": self.channel,
            "provider": self.provider,
            "backtest": self.backtest,
            "order": self.order,
        }
        return objects[kind].pk


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
    session = session_start(user)
    api_token, _raw = token_create(user=user, name=f"{marker}-token", scopes=["read"])
    # An e-mail channel (verified): its test message goes to Django's mail, not the network.
    channel = Channel.objects.create(
        user=user, kind="email", name=f"{marker}-channel", address=user.email, events=[], verified_at=timezone.now()
    )
    provider = Provider.objects.create(owner=user, name=f"{marker}-provider")
    backtest = BacktestFactory(
        owner=user,
        status=Backtest.Status.FINISHED,
    )
    # A resting paper limit order of the bot (bots/{id}/orders/{order_id}).
    order = Order.objects.create(
        bot=bot,
        client_order_id=f"{marker}-order",
        symbol=bot.symbol,
        side=Order.Side.BUY,
        type=Order.Type.LIMIT,
        quantity=1,
        price=1,
        status=Order.Status.OPEN,
    )
    return Holdings(
        bot=bot,
        order=order,
        credential=credential,
        marker=marker,
        session=session,
        api_token=api_token,
        channel=channel,
        provider=provider,
        backtest=backtest,
    )


@pytest.fixture
def owner_holdings(owner) -> Holdings:
    return holdings_of(owner, "OWNERMARK")


@pytest.fixture
def other_holdings(other_user) -> Holdings:
    return holdings_of(other_user, "OTHERMARK")
