"""An event the relay cannot send never stops the stream of every other user (issue 16, item 1).

The relay publishes in ``seq`` order, so before the fix one such row stopped it for good
(and again after every restart) while ``ready`` said all was well.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from realtime.models import Event
from realtime.relay import relay_status
from realtime.services import event_record
from tests.realtime.conftest import Client, arecord, running_relay
from tests.realtime.test_relay import _token, all_published, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

DEPTH = 300  # past what any JSON encoder of ours carries (orjson stops at 254 levels)


def _deep(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _store_directly(user_id: int, payload: dict, *, type: str = "test_bot_thing", bot_id=None) -> int:
    """A row as an older release (or a hand edit) left it: no validation on the way in."""
    with transaction.atomic():
        return Event.objects.create(user_id=user_id, type=type, payload=payload, message="raw", bot_id=bot_id).pk


async def test_an_unsendable_event_is_marked_failed_staff_are_told_and_the_next_event_is_delivered(
    owner, other_user, staff, transactional_db
):
    owner_client = await Client.connect(token=await sync_to_async(_token)(owner))
    other_client = await Client.connect(token=await sync_to_async(_token)(other_user))
    staff_client = await Client.connect(token=await sync_to_async(_token)(staff))
    await staff_client.send({"type": "subscribe", "scope": "staff"})
    assert (await staff_client.receive())["type"] == "subscribed"

    bad_id = await sync_to_async(_store_directly)(owner.pk, {"n": 1, "bot": _deep(DEPTH)})
    # PostgreSQL's JSON keeps 1e20 as this exact integer; orjson alone refuses it.
    huge_id = await sync_to_async(_store_directly)(owner.pk, {"n": 2, "bot": {"upper": 10**20}})
    await arecord(other_user.pk, 3)

    async with running_relay(name="relay"):
        await other_client.until_events(1)
        await owner_client.until_events(1)
        await staff_client.until(lambda m: m["type"] == "event_undeliverable")
        await wait_for(all_published)
        status = await sync_to_async(relay_status)()

    assert [e["n"] for e in other_client.events] == [3]
    assert [e["n"] for e in owner_client.events] == [2]
    assert owner_client.events[0]["bot"] == {"upper": 10**20}  # exact, not a float
    bad = await sync_to_async(Event.objects.get)(pk=bad_id)
    assert bad.failed_at is not None and bad.published_at is not None
    assert "nesting deeper than 250 levels" in bad.failure
    huge = await sync_to_async(Event.objects.get)(pk=huge_id)
    assert (huge.failed_at, huge.failure) == (None, "")
    alert = await sync_to_async(Event.objects.get)(type="event_undeliverable")
    assert alert.user_id is None  # staff only
    assert alert.payload == {
        "event_id": bad_id,
        "event_seq": bad.seq,
        "event_type": "test_bot_thing",
        "error": bad.failure,
        "user_id": owner.pk,
        "bot_id": None,
    }
    assert staff_client.events[-1]["event_seq"] == bad.seq
    assert status["failed_events"] == 1 and status["backlog"] == 0
    # A client resuming from before it is not handed the failed row either.
    await owner_client.send({"type": "resume", "last_seq": 0})
    resumed = await owner_client.until(lambda m: m["type"] == "resumed")
    assert resumed["replayed"] == 0  # it already had seq of n=2; the failed row is skipped
    for client in (owner_client, other_client, staff_client):
        await client.close()


@pytest.mark.services
async def test_postgres_a_huge_grid_param_is_refused_and_a_stored_one_blocks_nobody(
    owner, other_user, transactional_db
):
    """The attack of the issue on PostgreSQL: ``{"lower": 1, "upper": 1e20}`` in grid params."""
    from bots.models import Bot
    from bots.serializers import bot_to_dict
    from tests.bots.factories import BotFactory
    from tests.conftest import bearer_client

    def create_through_the_api():
        client = bearer_client(owner)
        body = {
            "name": "G",
            "exchange": "simulated",
            "symbol": "BTC/USDT",
            "strategy": "grid",
            "capital": 1000,
            "params": {"lower": 1, "upper": 1e20},
        }
        return client.post("/api/bots", body, format="json")

    response = await sync_to_async(create_through_the_api)()
    assert response.status_code == 400, response.content
    assert "upper" in response.json()["error"]["details"]["params"]
    assert not await sync_to_async(Bot.objects.exists)()

    def bot_stored_before_the_fix():
        bot = BotFactory(owner=owner, strategy="grid", params={"lower": 1, "upper": 5, "levels": 10})
        Bot.objects.filter(pk=bot.pk).update(params={"lower": 1, "upper": 1e20, "levels": 10})
        bot.refresh_from_db()
        assert bot.params["upper"] == 10**20 and isinstance(bot.params["upper"], int)  # what PostgreSQL returns
        with transaction.atomic():
            event_record(
                type="bot_created", user_id=owner.pk, bot_id=bot.pk, payload={"bot": bot_to_dict(bot)}, message="x"
            )
        return bot

    other_client = await Client.connect(token=await sync_to_async(_token)(other_user))
    owner_client = await Client.connect(token=await sync_to_async(_token)(owner))
    bot = await sync_to_async(bot_stored_before_the_fix)()
    await arecord(other_user.pk, 7)

    async with running_relay(name="relay"):
        await other_client.until_events(1)
        await owner_client.until_events(1)
        await wait_for(all_published)

    assert [e["n"] for e in other_client.events] == [7]
    assert owner_client.events[0]["type"] == "bot_created"
    assert owner_client.events[0]["bot"]["params"]["upper"] == 10**20
    listed = await sync_to_async(lambda: bearer_client(owner).get("/api/bots"))()
    assert listed.status_code == 200 and listed.json()["bots"][0]["id"] == bot.pk
    for client in (owner_client, other_client):
        await client.close()
