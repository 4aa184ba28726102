"""Streams and the account features of issue 22: personal API tokens on the WebSocket and
SSE (a revoked one closes 4401), and ending a session closing its streams."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from accounts.services.personal_tokens import token_create
from accounts.tokens import SESSION_CLAIM
from tests.realtime.conftest import Client, arecord
from tests.realtime.test_consumers import api_call, closed_with
from tests.realtime.test_sse import SSE, ended

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async(thread_sensitive=True)
def an_api_token(user, scopes=("read",)):
    token, raw = token_create(user=user, name="stream", scopes=list(scopes))
    return token.pk, raw


def _session_of(access: str) -> int:
    from accounts.authentication import parse_access_token

    return parse_access_token(access)[SESSION_CLAIM]


async def test_a_read_token_follows_the_websocket(relay, owner):
    _id, raw = await an_api_token(owner)
    client = await Client.connect(token=raw)

    await arecord(owner.pk, 1)

    event = await client.until(lambda m: m["type"] == "test_bot_thing")
    assert event["n"] == 1
    await client.close()


async def test_a_revoked_token_on_the_websocket_closes_4401(relay, owner, owner_token):
    token_id, raw = await an_api_token(owner)
    client = await Client.connect(token=raw)

    response = await api_call("delete", f"/api/auth/tokens/{token_id}", owner_token)

    assert response.status_code == 200, response.content
    assert await closed_with(client) == 4401


async def test_a_token_without_read_cannot_follow_the_streams(relay, owner):
    _id, raw = await an_api_token(owner, scopes=("trade",))

    client = await Client.connect(token=raw, expect=None)

    assert await closed_with(client) == 4401


async def test_a_revoked_token_ends_its_sse_stream(relay, owner, owner_token):
    token_id, raw = await an_api_token(owner)
    stream = await SSE(f"/api/realtime/events?token={raw}").start()
    await stream.frame()

    response = await api_call("delete", f"/api/auth/tokens/{token_id}", owner_token)

    assert response.status_code == 200, response.content
    assert (await ended(stream))["data"]["type"] == "session_ended"


async def test_ending_a_session_closes_its_websocket_and_not_the_others(relay, owner, owner_token, other_token):
    from tests.realtime.test_consumers import an_access_token

    kept_token = await an_access_token(owner)
    ending = await Client.connect(token=owner_token)
    kept = await Client.connect(token=kept_token)

    response = await api_call("delete", f"/api/auth/sessions/{_session_of(owner_token)}", kept_token)

    assert response.status_code == 200, response.content
    assert await closed_with(ending) == 4401
    await arecord(owner.pk, 2)
    assert (await kept.until(lambda m: m["type"] == "test_bot_thing"))["n"] == 2
    await kept.close()


async def test_signing_out_everywhere_closes_every_websocket(relay, owner, owner_token):
    from tests.realtime.test_consumers import an_access_token

    first = await Client.connect(token=owner_token)
    second = await Client.connect(token=await an_access_token(owner))

    response = await api_call("delete", "/api/auth/sessions", owner_token)

    assert response.status_code == 200, response.content
    assert await closed_with(first) == 4401
    assert await closed_with(second) == 4401
