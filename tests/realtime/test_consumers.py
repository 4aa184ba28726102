"""The WebSocket stream: auth paths, origin, isolation, ping, resume, subscriptions, slow clients."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from accounts.models import User
from accounts.tokens import token_pair_for
from realtime.consumers import EventConsumer
from tests.factories import StaffFactory
from tests.realtime.conftest import TIMEOUT, Client, access_token, arecord, running_relay, wait_published

pytestmark = pytest.mark.django_db(transaction=True)


# -- authentication ---------------------------------------------------------------------------
async def test_query_token_connects_and_says_connected(relay, owner_token):
    client = await Client.connect(token=owner_token, expect=None)

    first = await client.receive()

    assert client.accepted is True
    assert first["type"] == "connection"
    assert first["status"] == "Connected"
    assert first["timestamp"].endswith("+00:00")


async def test_subprotocol_token_is_echoed_as_bearer(relay, owner_token):
    client = await Client.connect(subprotocols=["bearer", owner_token])

    assert client.subprotocol == "bearer"


async def test_first_message_auth(relay, owner, owner_token):
    client = await Client.connect(expect=None)
    await client.send({"type": "auth", "token": owner_token})

    message = await client.receive()

    assert message["type"] == "connection"
    await arecord(owner.pk, 1)
    event = await client.until(lambda m: m["type"] == "test_bot_thing")
    assert event["n"] == 1


async def test_first_message_must_come_within_the_deadline(relay):
    client = await Client.connect(expect=None)

    message = await client.receive()

    assert message == {"type": "__closed__", "code": 4401}


@pytest.mark.parametrize("how", ["query", "subprotocol", "message"])
async def test_bad_token_closes_4401(relay, how):
    if how == "query":
        client = await Client.connect(token="not-a-jwt", expect=None)
    elif how == "subprotocol":
        client = await Client.connect(subprotocols=["bearer", "not-a-jwt"], expect=None)
    else:
        client = await Client.connect(expect=None)
        await client.send({"type": "auth", "token": "not-a-jwt"})

    assert await client.receive() == {"type": "__closed__", "code": 4401}


async def test_a_first_message_that_is_not_auth_closes_4401(relay):
    client = await Client.connect(expect=None)
    await client.send({"type": "ping"})

    assert await client.receive() == {"type": "__closed__", "code": 4401}


async def test_disabled_account_closes_4401(relay, owner, owner_token):
    await sync_to_async(User.objects.filter(pk=owner.pk).update)(is_active=False)

    client = await Client.connect(token=owner_token, expect=None)

    assert await client.receive() == {"type": "__closed__", "code": 4401}


# -- origin -----------------------------------------------------------------------------------
async def test_foreign_origin_is_rejected(relay, owner_token):
    client = await Client.connect(
        token=owner_token, headers=[(b"origin", b"https://evil.example"), (b"host", b"testserver")], expect=None
    )

    assert client.accepted is False


async def test_same_host_and_configured_origins_are_allowed(relay, owner_token, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    same = await Client.connect(
        token=owner_token, headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")]
    )
    listed = await Client.connect(
        token=owner_token, headers=[(b"origin", b"https://app.example"), (b"host", b"api.example")]
    )

    assert same.accepted is True
    assert listed.accepted is True


# -- messages ---------------------------------------------------------------------------------
async def test_client_ping_gets_pong(relay, owner_token):
    client = await Client.connect(token=owner_token)
    await client.send({"type": "ping"})

    assert (await client.receive())["type"] == "pong"


async def test_server_pings(relay, owner_token, settings):
    settings.REALTIME_WS_PING_SECONDS = 0.05
    client = await Client.connect(token=owner_token)

    assert (await client.receive())["type"] == "ping"


async def test_unknown_message_gets_an_error(relay, owner_token):
    client = await Client.connect(token=owner_token)
    await client.send({"type": "dance"})

    message = await client.receive()

    assert message["type"] == "error"
    assert message["code"] == "UNKNOWN_TYPE"


async def test_events_carry_type_seq_payload_message_timestamp(relay, owner, owner_token):
    client = await Client.connect(token=owner_token)
    event = await arecord(owner.pk, 7, payload={"n": 7, "bot": {"id": 3, "name": "Bot-1"}})

    received = await client.until(lambda m: m["type"] == "test_bot_thing")

    await sync_to_async(event.refresh_from_db)()
    assert received == {
        "type": "test_bot_thing",
        "seq": event.seq,
        "n": 7,
        "bot": {"id": 3, "name": "Bot-1"},
        "message": "event 7",
        "timestamp": event.created_at.isoformat(),
    }


async def test_a_user_never_receives_another_users_event(relay, owner, other_user, owner_token, other_token):
    mine = await Client.connect(token=owner_token)
    theirs = await Client.connect(token=other_token)

    await arecord(other_user.pk, 1)
    await arecord(None, 2, type="test_admin_thing")  # staff-only
    await arecord(owner.pk, 3)

    await mine.until(lambda m: m.get("n") == 3)
    await theirs.until(lambda m: m.get("n") == 1)
    assert [e["n"] for e in mine.events] == [3]
    assert await theirs.nothing_more()
    assert [e["n"] for e in theirs.events] == [1]


# -- resume -----------------------------------------------------------------------------------
async def test_resume_replays_what_was_missed_then_continues_live(relay, owner, owner_token):
    first = await Client.connect(token=owner_token)
    for n in range(3):
        await arecord(owner.pk, n)
    seen = await first.until_events(3)
    last_seq = seen[0]["seq"]
    await first.close()

    second = await Client.connect(token=owner_token)
    await second.send({"type": "resume", "last_seq": last_seq})
    resumed = await second.until(lambda m: m["type"] == "resumed")
    await arecord(owner.pk, 3)
    await second.until_events(3)

    assert resumed["replayed"] == 2
    assert [e["n"] for e in second.events] == [1, 2, 3]
    assert second.seqs() == sorted(set(second.seqs()))
    assert await second.nothing_more()


async def test_resume_while_events_keep_arriving_has_no_gap_and_no_duplicate(relay, owner, owner_token, settings):
    settings.REALTIME_REPLAY_PAGE = 3  # several pages, with live events landing between them
    for n in range(10):
        await arecord(owner.pk, n)
    client = await Client.connect(token=owner_token)

    async def keep_recording():
        for n in range(10, 30):
            await arecord(owner.pk, n)
            await asyncio.sleep(0)

    writer = asyncio.create_task(keep_recording())
    await client.send({"type": "resume", "last_seq": 0})
    await writer
    await client.until_events(30)

    assert [e["n"] for e in client.events] == list(range(30))
    assert await client.nothing_more()


async def test_resume_as_connect_parameter(relay, owner, owner_token):
    for n in range(2):
        await arecord(owner.pk, n)
    await asyncio.sleep(0.2)

    client = await Client.connect(token=owner_token, path="/api/ws?last_seq=0")
    await client.until(lambda m: m["type"] == "resumed")

    assert [e["n"] for e in client.events] == [0, 1]


async def test_resume_from_before_retention_requires_resync(relay, owner_token):
    from realtime.models import RelayState
    from realtime.relay import ensure_state

    await sync_to_async(ensure_state)()
    await sync_to_async(RelayState.objects.update)(purged_through=50)
    client = await Client.connect(token=owner_token)
    await client.send({"type": "resume", "last_seq": 10})

    message = await client.receive()

    assert message["type"] == "resync_required"
    assert message["last_seq"] == 10


async def test_resume_needs_a_number(relay, owner_token):
    client = await Client.connect(token=owner_token)
    await client.send({"type": "resume", "last_seq": "x"})

    assert (await client.receive())["code"] == "VALIDATION_ERROR"


# -- subscriptions ----------------------------------------------------------------------------
async def test_bot_subscription_gets_only_that_bots_events(relay, owner, owner_token, monkeypatch):
    from realtime import registry

    monkeypatch.setattr(registry, "_bot_access_checker", None)  # fall back to the event table
    await arecord(owner.pk, 0, bot_id=11)  # the event table says bot 11 is the owner's
    await wait_published()
    client = await Client.connect(token=owner_token)
    await client.send({"type": "subscribe", "bot_id": 11})
    assert (await client.until(lambda m: m["type"] == "subscribed"))["bot_id"] == 11

    await arecord(owner.pk, 1, bot_id=12)
    await arecord(owner.pk, 2)
    await arecord(owner.pk, 3, bot_id=11)

    await client.until(lambda m: m.get("n") == 3)
    assert [e["n"] for e in client.events] == [3]


async def test_bot_subscription_uses_the_registered_ownership_checker(relay, owner, owner_token, monkeypatch):
    from realtime import registry

    monkeypatch.setattr(registry, "_bot_access_checker", lambda user_id, bot_id: bot_id == 99)
    client = await Client.connect(token=owner_token)

    await client.send({"type": "subscribe", "bot_id": 98})
    refused = await client.receive()
    await client.send({"type": "subscribe", "bot_id": 99})
    accepted = await client.receive()

    assert refused["type"] == "error"
    assert refused["code"] == "NOT_FOUND"
    assert accepted == {"type": "subscribed", "bot_id": 99}


async def test_cannot_subscribe_to_another_users_bot(relay, owner, other_user, owner_token):
    await arecord(other_user.pk, 0, bot_id=21)
    client = await Client.connect(token=owner_token)
    await client.send({"type": "subscribe", "bot_id": 21})

    message = await client.receive()
    await arecord(other_user.pk, 1, bot_id=21)

    assert message["type"] == "error"
    assert message["code"] == "NOT_FOUND"
    assert await client.nothing_more()


async def test_staff_scope_sees_every_users_events(relay, owner, other_user, staff_token):
    client = await Client.connect(token=staff_token)
    await client.send({"type": "subscribe", "scope": "staff"})
    assert (await client.receive()) == {"type": "subscribed", "scope": "staff"}

    await arecord(owner.pk, 1)
    await arecord(other_user.pk, 2)
    await arecord(None, 3, type="test_admin_thing")

    await client.until_events(3)
    assert [e["n"] for e in client.events] == [1, 2, 3]


async def test_non_staff_cannot_take_staff_scope(relay, other_user, owner_token):
    client = await Client.connect(token=owner_token)
    await client.send({"type": "subscribe", "scope": "staff"})

    message = await client.receive()
    await arecord(other_user.pk, 1)

    assert message["type"] == "error"
    assert message["code"] == "FORBIDDEN"
    assert await client.nothing_more()


# -- slow clients -----------------------------------------------------------------------------
async def test_a_slow_client_is_closed_with_1013(owner_token, settings, transactional_db):
    """A client whose socket does not drain: its queue fills and it is closed, alone."""
    settings.REALTIME_WS_SEND_QUEUE = 3
    sent: list[dict] = []
    stuck = asyncio.Event()
    inbox: asyncio.Queue = asyncio.Queue()

    async def send(message):
        sent.append(message)
        if message["type"] == "websocket.send":
            await stuck.wait()  # the socket never drains

    scope = {"type": "websocket", "path": "/api/ws", "query_string": f"token={owner_token}".encode(), "headers": []}
    consumer = asyncio.create_task(EventConsumer.as_asgi()(scope, inbox.get, send))
    await inbox.put({"type": "websocket.connect"})
    for _ in range(200):
        await asyncio.sleep(0.01)
        if any(m["type"] == "websocket.send" for m in sent):
            break
    for _ in range(10):
        await inbox.put({"type": "websocket.receive", "text": '{"type": "ping"}'})
    for _ in range(200):
        await asyncio.sleep(0.01)
        if any(m["type"] == "websocket.close" for m in sent):
            break

    assert {"type": "websocket.close", "code": 1013} in sent
    await inbox.put({"type": "websocket.disconnect", "code": 1013})
    await asyncio.wait_for(consumer, timeout=5)


async def test_relay_can_start_after_clients_connected(owner, owner_token, transactional_db):
    client = await Client.connect(token=owner_token)
    await arecord(owner.pk, 1)  # recorded before any relay runs

    async with running_relay():
        event = await client.until(lambda m: m.get("n") == 1)

    assert event["seq"] >= 1


# -- the token, checked again on an open connection -----------------------------------------
def short_lived_token(user, seconds: float = 2) -> str:
    """An access token that simplejwt stops accepting in about ``seconds`` (its exp is past,
    within the leeway)."""
    from datetime import timedelta

    from django.conf import settings
    from rest_framework_simplejwt.tokens import RefreshToken
    from rest_framework_simplejwt.utils import aware_utcnow

    refresh = RefreshToken.for_user(user)
    refresh["ver"] = user.token_version
    access = refresh.access_token
    access.set_exp(from_time=aware_utcnow(), lifetime=timedelta(seconds=seconds - settings.SIMPLE_JWT["LEEWAY"]))
    return str(access)


def _api(method: str, path: str, token: str, data: dict | None = None):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return getattr(client, method)(path, data or {}, format="json")


api_call = sync_to_async(_api, thread_sensitive=True)
a_short_lived_token = sync_to_async(short_lived_token, thread_sensitive=True)
an_access_token = sync_to_async(access_token, thread_sensitive=True)


async def closed_with(client: Client, timeout=TIMEOUT) -> int:
    message = await client.until(lambda m: m["type"] == "__closed__", timeout=timeout)
    return message["code"]


async def test_logout_closes_the_sessions_socket_4401(relay, owner, owner_token):
    client = await Client.connect(token=owner_token)

    response = await api_call("post", "/api/auth/logout", owner_token)

    assert response.status_code == 200, response.content
    assert await closed_with(client) == 4401


async def test_a_password_change_closes_the_other_sessions_sockets_4401(relay, owner, owner_token, password):
    other_session = await Client.connect(token=owner_token)
    fresh = await an_access_token(owner)

    response = await api_call(
        "post", "/api/auth/change-password", fresh, {"old_password": password, "new_password": "another-passphrase-2"}
    )

    assert response.status_code == 200, response.content
    assert await closed_with(other_session) == 4401


async def test_disabling_the_account_closes_its_sockets_4401(relay, owner, owner_token, staff_token):
    client = await Client.connect(token=owner_token)

    response = await api_call("put", f"/api/admin/users/{owner.pk}", staff_token, {"is_active": False})

    assert response.status_code == 200, response.content
    assert await closed_with(client) == 4401


async def test_a_staff_scope_closes_4403_when_the_staff_flag_is_withdrawn(relay, staff, staff_token):
    admin = await sync_to_async(lambda: StaffFactory(email="boss@example.com", username="boss"))()
    client = await Client.connect(token=staff_token)
    await client.send({"type": "subscribe", "scope": "staff"})
    await client.until(lambda m: m["type"] == "subscribed")

    response = await api_call("put", f"/api/admin/users/{staff.pk}", await an_access_token(admin), {"is_staff": False})

    assert response.status_code == 200, response.content
    assert await closed_with(client) == 4403


async def test_the_socket_closes_4401_when_its_token_expires(relay, owner):
    client = await Client.connect(token=await a_short_lived_token(owner))

    assert await closed_with(client, timeout=8) == 4401


async def test_another_users_logout_leaves_the_socket_open(relay, owner, other_user, owner_token, other_token):
    client = await Client.connect(token=owner_token)
    assert (await api_call("post", "/api/auth/logout", other_token)).status_code == 200

    await arecord(owner.pk, 7)

    event = await client.until(lambda m: m["type"] in ("test_bot_thing", "__closed__"))
    assert (event["type"], event.get("n")) == ("test_bot_thing", 7)


async def test_a_fresh_token_sent_in_band_keeps_the_socket_open_past_the_old_expiry(relay, owner):
    import time

    old = await a_short_lived_token(owner)
    client = await Client.connect(token=old)
    await client.send({"type": "auth", "token": await an_access_token(owner)})

    # Once the old token is no longer accepted anywhere, the socket still carries events.
    deadline = time.monotonic() + 8
    while await sync_to_async(_accepted, thread_sensitive=True)(old):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.1)  # past the consumer's own check at that expiry
    await arecord(owner.pk, 8)
    event = await client.until(lambda m: m["type"] in ("test_bot_thing", "__closed__"))
    assert (event["type"], event.get("n")) == ("test_bot_thing", 8)


def _accepted(raw: str) -> bool:
    from accounts.authentication import parse_access_token

    try:
        parse_access_token(raw)
    except Exception:
        return False
    return True


async def test_another_users_token_sent_in_band_closes_the_socket_4401(owner, other_user, owner_token, other_token):
    client = await Client.connect(token=owner_token)

    await client.send({"type": "auth", "token": other_token})

    assert await closed_with(client) == 4401


async def test_a_refresh_token_sent_in_band_closes_the_socket_4401(owner, owner_token):
    client = await Client.connect(token=owner_token)
    refresh = await sync_to_async(lambda: token_pair_for(owner)["refresh_token"], thread_sensitive=True)()

    await client.send({"type": "auth", "token": refresh})

    assert await closed_with(client) == 4401


def _admin_sets_password(user_id: int) -> int:
    from django.test import Client as DjangoClient

    from tests.factories import StaffFactory

    admin = StaffFactory(email="root@example.com", username="root", is_superuser=True)
    client = DjangoClient()
    client.force_login(admin)
    password = "a-fresh-passphrase-9"
    data = {"usable_password": "true", "password1": password, "password2": password}
    return client.post(f"/admin/accounts/user/{user_id}/password/", data).status_code


async def test_a_password_set_in_the_admin_closes_the_accounts_sockets_4401(relay, owner, owner_token):
    client = await Client.connect(token=owner_token)

    status = await sync_to_async(_admin_sets_password, thread_sensitive=True)(owner.pk)

    assert status == 302
    assert await closed_with(client) == 4401
