"""The relay: one active (a standby waits), seq order, resends, purge, and layer outages."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from realtime.models import Event, RelayState
from realtime.relay import Relay, relay_status
from realtime.services import events_purge
from tests.realtime.conftest import TIMEOUT, Client, ObservedLayer, arecord, record_now, running_relay, until
from tests.realtime.layers import BreakableLayer

pytestmark = pytest.mark.django_db(transaction=True)


async def wait_for(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not await sync_to_async(predicate)():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def all_published() -> bool:
    return not Event.objects.filter(published_at__isnull=True).exists()


async def test_seq_is_assigned_in_publish_order_and_rows_are_marked(owner, transactional_db):
    for n in range(5):
        await arecord(owner.pk, n)

    async with running_relay():
        await wait_for(all_published)

    rows = await sync_to_async(list)(Event.objects.order_by("id").values_list("seq", "published_at"))
    assert [seq for seq, _ in rows] == [1, 2, 3, 4, 5]
    assert all(published is not None for _, published in rows)
    status = await sync_to_async(relay_status)()
    assert (status["last_seq"], status["published_total"], status["backlog"], status["active"]) == (5, 5, 0, False)


async def test_events_committed_while_the_relay_is_busy_go_together_in_its_next_batch(owner, transactional_db):
    # A stream of small commits (a flood of signals) is claimed in batches, not one claim each.
    async with running_relay(coalesce_seconds=1.0) as relay:
        await arecord(owner.pk, 0)
        await until(lambda: relay.batches == [1], what="the first event published alone, at once")
        for n in range(1, 4):
            await arecord(owner.pk, n)  # each its own commit, within the relay's pause
        await wait_for(all_published)
    assert relay.batches == [1, 3]
    seqs = await sync_to_async(list)(Event.objects.order_by("id").values_list("seq", flat=True))
    assert seqs == [1, 2, 3, 4]


async def test_a_second_relay_waits_while_the_first_holds_the_lease(owner, transactional_db):
    async with running_relay(name="first") as first:
        await wait_for(lambda: relay_status()["holder"] == "first")
        async with running_relay(name="second") as second:
            await until(lambda: second.refused >= 1, what="the second relay on standby")
            refused_before = second.refused  # read before the event: its wake-up may be quick
            await arecord(owner.pk, 1)
            await wait_for(all_published)
            # The event woke the standby too: it looked again and was refused.
            await until(lambda: second.refused > refused_before, what="the standby refused again")

            assert first.active is True
            assert second.active is False
            assert (first.published, second.published) == (1, 0)
            assert (await sync_to_async(relay_status)())["holder"] == "first"


async def test_a_standby_takes_over_an_expired_lease_and_resends_unconfirmed_rows(owner, transactional_db):
    """A relay died after numbering rows but before confirming them: the next one sends them."""
    await arecord(owner.pk, 1)

    def crashed_relay():
        now = timezone.now()
        RelayState.objects.create(pk=1, holder="dead", lease_until=now - timedelta(seconds=1), last_seq=41)
        Event.objects.update(seq=42)

    await sync_to_async(crashed_relay)()
    client = await Client.connect(token=await sync_to_async(_token)(owner))
    await client.send({"type": "resume", "last_seq": 41})

    async with running_relay(name="standby"):
        await wait_for(all_published)
        await client.until(lambda m: m["type"] == "resumed")
        await arecord(owner.pk, 2)
        await client.until_events(2)

    assert client.seqs() == [42, 43]  # the resent row once (replay and live deduplicated), then the next
    assert await client.nothing_more()


async def test_a_relay_numbers_past_the_table_even_when_its_state_is_behind(owner, transactional_db):
    """A restored backup: the table holds a higher seq than the relay's state. The first event
    after the relay took its lease (idle meanwhile) is numbered past the table, not into it."""
    await arecord(owner.pk, 1)

    def restored():
        RelayState.objects.create(pk=1, last_seq=10)
        Event.objects.update(seq=50, published_at=timezone.now())

    await sync_to_async(restored)()
    async with running_relay() as relay:
        await until(lambda: relay.active, what="the relay holding the lease")
        await arecord(owner.pk, 2)
        await wait_for(all_published)

    seqs = await sync_to_async(list)(Event.objects.order_by("id").values_list("seq", flat=True))
    assert seqs == [50, 51]


def _token(user):
    from accounts.tokens import token_pair_for

    return token_pair_for(user)["access_token"]


async def test_a_relay_that_lost_its_lease_stops_numbering(owner, transactional_db):
    async with running_relay(name="first") as first:
        await wait_for(lambda: relay_status()["holder"] == "first")
        await sync_to_async(RelayState.objects.update)(
            holder="usurper", lease_until=timezone.now() + timedelta(hours=1)
        )
        await arecord(owner.pk, 1)
        # It found the lease gone when it came to number the row, then went back to standby
        # and was refused: it has had its chance to number and did not.
        await until(lambda: first.leases_lost >= 1 and first.refused >= 1, what="the relay back on standby")

        assert first.active is False
        assert await sync_to_async(Event.objects.filter(seq__isnull=True).count)() == 1


async def test_purge_deletes_old_published_events_and_resume_below_it_requires_resync(owner, transactional_db):
    await arecord(owner.pk, 1)
    await arecord(owner.pk, 2)
    async with running_relay():
        await wait_for(all_published)
    await sync_to_async(Event.objects.filter(seq=1).update)(created_at=timezone.now() - timedelta(days=40))

    deleted = await sync_to_async(events_purge)(older_than_days=30)

    assert deleted == 1
    assert await sync_to_async(lambda: RelayState.objects.get().purged_through)() == 1
    client = await Client.connect(token=await sync_to_async(_token)(owner))
    await client.send({"type": "resume", "last_seq": 0})
    assert (await client.receive())["type"] == "resync_required"


# -- the channel layer fails --------------------------------------------------------------------
async def _outage_scenario(owner, other_user, break_layer, restore_layer):
    """Connected clients and a reconnecting one all end with every event once, in seq order."""
    owner_token = await sync_to_async(_token)(owner)
    other_token = await sync_to_async(_token)(other_user)
    async with running_relay(name="relay", layer=ObservedLayer(get_channel_layer())) as relay:
        steady = await Client.connect(token=owner_token)
        other = await Client.connect(token=other_token)
        leaving = await Client.connect(token=owner_token)
        for n in range(2):
            await arecord(owner.pk, n)
            await arecord(other_user.pk, n)
        for client in (steady, other, leaving):
            await client.until_events(2)
        last_seen = leaving.seqs()[-1]

        await break_layer()
        await leaving.close()
        for n in range(2, 7):
            await arecord(owner.pk, n)
            await arecord(other_user.pk, n)
        await until(lambda: relay.layer.failed_sends >= 2, what="the relay retrying through the outage")
        await restore_layer()

        back = await Client.connect(token=owner_token)
        await back.send({"type": "resume", "last_seq": last_seen})
        for client in (steady, other):
            await client.until_events(7, timeout=30)
        # Its replay ends with "resumed": after the 5 events when the relay had published them
        # all before the resume (a loaded machine), else among them. Read up to both.
        await back.until(lambda message: message["type"] == "resumed", timeout=30)
        await back.until_events(5, timeout=30)
        await wait_for(all_published)

    def expected(user):
        return list(Event.objects.filter(user=user).order_by("seq").values_list("seq", flat=True))

    mine, theirs = await sync_to_async(expected)(owner), await sync_to_async(expected)(other_user)
    assert len(mine) == len(theirs) == 7
    assert steady.seqs() == mine
    assert other.seqs() == theirs
    assert back.seqs() == mine[2:]
    assert [e["n"] for e in steady.events] == list(range(7))
    for client in (steady, other, back):
        assert await client.nothing_more()
        await client.close()


@pytest.fixture
def breakable_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.realtime.layers.BreakableLayer"}}
    yield BreakableLayer
    BreakableLayer.broken = False


async def test_layer_outage_loses_nothing(owner, other_user, transactional_db, breakable_layer):
    async def break_layer():
        breakable_layer.broken = True

    async def restore_layer():
        breakable_layer.broken = False

    await _outage_scenario(owner, other_user, break_layer, restore_layer)


# The outage test keeps its own redis-server, stopped and started like a crashed one; it
# passed this way on PostgreSQL, where the shared RedisServer's restart left clients unserved.
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self):
        self.port = _free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.mark.services
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
@pytest.mark.services
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
async def test_redis_outage_loses_nothing(owner, other_user, settings, transactional_db):
    """The real Redis channel layer: the server is killed and restarted mid-stream."""
    redis = RedisServer()
    redis.start()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {"address": f"redis://127.0.0.1:{redis.port}/0", "socket_timeout": 2, "socket_connect_timeout": 1}
                ],
                "prefix": "rt-outage",
            },
        }
    }
    settings.RELAY_SEND_TIMEOUT = 1.0

    async def break_layer():
        await sync_to_async(redis.stop)()

    async def restore_layer():
        await sync_to_async(redis.start)()

    try:
        await _outage_scenario(owner, other_user, break_layer, restore_layer)
    finally:
        redis.stop()


async def test_status_command_prints_the_lease(owner, transactional_db, capsys):
    from django.core.management import call_command

    async with running_relay(name="visible"):
        await wait_for(lambda: relay_status()["holder"] == "visible")
        await sync_to_async(call_command)("relay_events", "--status")

    out = capsys.readouterr().out
    assert "holder: visible" in out
    assert "active: True" in out


def test_relay_names_are_unique():
    assert Relay().name != Relay().name


def test_record_now_needs_no_relay(owner):
    event = record_now(owner.pk, 1)

    assert (event.seq, event.published_at) == (None, None)
