"""The WebSocket stream under a hostile client (issue 16, item 13): ids past 64 bits, a
flood of resumes, and more sockets than a user may hold open."""

from __future__ import annotations

import pytest

from realtime import socket_slots
from tests.realtime.conftest import Client, arecord, wait_published

pytestmark = pytest.mark.django_db(transaction=True)

CLOSE_TOO_MANY_SOCKETS = 4429  # README: the close code past REALTIME_MAX_SOCKETS_PER_USER


async def _still_serving(client: Client) -> None:
    await client.send({"type": "ping"})
    assert (await client.until(lambda m: m["type"] in ("pong", "__closed__")))["type"] == "pong"


@pytest.mark.parametrize(
    ("bot_id", "code"),
    [
        (2**64 + 1, "VALIDATION_ERROR"),  # crashed the consumer (1011): no column can bind it
        (2**63, "VALIDATION_ERROR"),
        (-1, "VALIDATION_ERROR"),
        ("1e400", "VALIDATION_ERROR"),
        (1e300, "VALIDATION_ERROR"),
        (10**400, "BAD_MESSAGE"),  # not even JSON a double can hold
    ],
)
async def test_subscribe_with_an_id_past_64_bits_is_an_error_not_a_crash(relay, owner_token, bot_id, code):
    client = await Client.connect(token=owner_token)

    await client.send({"type": "subscribe", "bot_id": bot_id})

    error = await client.until(lambda m: m["type"] in ("error", "__closed__"))
    assert error["type"] == "error" and error["code"] == code, error
    await _still_serving(client)


async def test_resume_past_64_bits_is_an_error_not_a_crash(relay, owner_token):
    client = await Client.connect(token=owner_token)

    await client.send({"type": "resume", "last_seq": 2**64 + 1})

    error = await client.until(lambda m: m["type"] in ("error", "__closed__"))
    assert error["code"] == "VALIDATION_ERROR"
    await _still_serving(client)


async def test_a_flood_of_resumes_costs_a_bounded_number_of_replays(relay, owner, owner_token, settings):
    settings.REALTIME_WS_RESUMES_PER_MINUTE = 5
    for n in range(3):
        await arecord(owner.pk, n)
    await wait_published()
    client = await Client.connect(token=owner_token)

    for _ in range(2000):
        await client.send({"type": "resume", "last_seq": 0})
    await _still_serving(client)
    await client.nothing_more(wait=0.5)  # drain what the accepted resumes still send
    while not await client.communicator.receive_nothing(timeout=0.3):
        message = await client.receive()
        (client.events if "seq" in message and message["type"] != "resumed" else client.other).append(message)

    resumed = [m for m in client.other if m["type"] == "resumed"]
    limited = [m for m in client.other if m.get("code") == "RATE_LIMITED"]
    assert 1 <= len(resumed) <= 5  # never one per message: at most the five allowed, coalesced
    assert len(limited) == 1  # told once, not 1,995 times
    assert limited[0]["limit"] == 5 and limited[0]["retry_after"] > 0
    assert [e["n"] for e in client.events] == [0, 1, 2]  # each event once


async def test_sockets_per_user_are_capped(relay, owner, owner_token, other_token, settings):
    settings.REALTIME_MAX_SOCKETS_PER_USER = 2
    first = await Client.connect(token=owner_token)
    second = await Client.connect(token=owner_token)

    third = await Client.connect(token=owner_token, expect=None)
    refused = await third.receive()
    closed = await third.receive()
    someone_else = await Client.connect(token=other_token)  # another user's cap is their own

    assert refused["type"] == "error" and refused["code"] == "TOO_MANY_CONNECTIONS" and refused["limit"] == 2
    assert closed == {"type": "__closed__", "code": CLOSE_TOO_MANY_SOCKETS}
    await _still_serving(first)
    await _still_serving(someone_else)

    await first.close()
    again = await Client.connect(token=owner_token)  # a closed socket frees its slot
    await _still_serving(again)
    for client in (second, again, someone_else):
        await client.close()


async def test_the_cap_counts_sockets_of_every_process(relay, owner, owner_token, settings):
    """Slots live in the shared cache: one held by another ASGI process counts too."""
    settings.REALTIME_MAX_SOCKETS_PER_USER = 2
    elsewhere = await socket_slots.claim(owner.pk, "another-process!channel")
    assert elsewhere

    mine = await Client.connect(token=owner_token)
    refused = await Client.connect(token=owner_token, expect=None)

    assert (await refused.receive())["code"] == "TOO_MANY_CONNECTIONS"
    await socket_slots.release(elsewhere, "another-process!channel")
    await _still_serving(mine)
