"""The embedded broker under concurrent producers: 10,000 messages, none lost, torn or doubled.

kombu's stock filesystem transport lets a consumer read a message file while its
producer is still writing it (the worker then dies with "Unrecoverable error") and
slows down with the backlog: in ``bench/broker.py``'s run it lost 2 of 10,000 and was
still draining at its 180 s deadline. ``config.broker`` publishes each message with
an atomic rename. Four producer processes publish through kombu while one consumer
drains the queue, as beat, the web process and the worker do.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from bench.broker import run
from tests.conftest import USING_POSTGRES

pytestmark = [
    pytest.mark.failure,
    pytest.mark.skipif(USING_POSTGRES, reason="the embedded broker: checked in the embedded pass"),
]

PRODUCERS, PER_PRODUCER = 4, 2500
DEADLINE = 120.0


def test_ten_thousand_messages_from_concurrent_producers_arrive_whole_and_once():
    figures = run("atomic", PRODUCERS, PER_PRODUCER, 1500, DEADLINE)

    print(f"\nembedded broker: {figures}")
    assert (figures["messages"], figures["lost"], figures["read_errors"], figures["duplicates"]) == (10_000, 0, 0, 0)
    assert figures["seconds"] < DEADLINE


def test_a_message_claimed_by_a_consumer_that_died_is_delivered_again(tmp_path):
    """A consumer killed between claiming a file and reading it must not lose the message."""
    import subprocess
    import sys

    from bench.broker import connection

    # Its own queue name: kombu keeps declared bindings per process, not per folder.
    with connection("atomic", tmp_path) as conn, contextlib.closing(conn.SimpleQueue("orphans")) as queue:
        queue.put({"n": 1})
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        [name] = [n for n in os.listdir(tmp_path / "queue") if n.endswith(".msg")]
        (tmp_path / "claimed").mkdir(exist_ok=True)
        os.rename(tmp_path / "queue" / name, tmp_path / "claimed" / f"{dead.stdout.strip()}-{name}")

        message = queue.get(timeout=10)

        assert message.payload == {"n": 1}
        message.ack()
        assert os.listdir(tmp_path / "claimed") == []
