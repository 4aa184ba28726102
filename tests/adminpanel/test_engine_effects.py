"""Staff powers reach the engine without a restart: an override applies on the bot's next
tick, a force-pause stops it, and the fleet halt stops a live order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bots.engine import tick
from bots.models import Order
from tests.engine.factories import T0, counts, dca_bot, make_due, posted_orders
from tests.fakes.fixtures import fake_exchange  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _engine_defaults(settings):
    settings.ENABLE_TRADING = False
    settings.DISABLE_AI_BODYGUARD = False
    settings.ENGINE_MAX_DAILY_TRADES = 0
    settings.ENGINE_TRADE_COOLDOWN_SECONDS = 0
    settings.PAPER_FEE_PCT = "0.001"
    settings.PAPER_SLIPPAGE_PCT = "0"


def test_an_override_applies_on_the_next_tick(owner, staff_client):
    bot = dca_bot(owner=owner)
    assert tick.tick_batch(now=T0).orders == 1
    response = staff_client.post(
        f"/api/admin/bots/{bot.pk}/override", {"override_rules": {"max_daily_trades": 1}}, format="json"
    )
    assert response.status_code == 200
    later = T0 + timedelta(minutes=2)
    make_due(bot, later)
    report = tick.tick_batch(now=later)
    assert report.orders == 0
    assert report.refused[bot.pk] == "1 trades today (staff override)"
    assert counts(bot) == (1, 1)


def test_a_force_pause_stops_the_next_tick(owner, staff_client):
    bot = dca_bot(owner=owner)
    staff_client.post(f"/api/admin/bots/{bot.pk}/override", {"force_pause": True}, format="json")
    make_due(bot, T0)  # even if it were due, a paused bot is not ticked
    assert tick.tick_batch(now=T0).orders == 0
    assert counts(bot) == (0, 0)


def test_the_fleet_halt_stops_a_live_order_and_lifting_it_resumes(live_bot, fake_exchange, staff_client):  # noqa: F811
    assert staff_client.post("/api/admin/halt", {"halted": True, "reason": "drill"}, format="json").status_code == 200
    report = tick.tick_batch()
    assert report.orders == 0 and report.refused[live_bot.pk] == "the fleet is halted by staff"
    assert counts(live_bot) == (0, 0) and posted_orders(fake_exchange) == 0

    staff_client.post("/api/admin/halt", {"halted": False}, format="json")
    make_due(live_bot, timezone.now())
    assert tick.tick_batch().orders == 1
    assert posted_orders(fake_exchange) == 1 and Order.objects.get(bot=live_bot).is_paper is False
