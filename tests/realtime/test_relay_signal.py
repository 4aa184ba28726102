"""Waking the relay: one NOTIFY per window inside a ``coalesced`` block, every wake outside one."""

from __future__ import annotations

from realtime import relay_signal


def test_a_coalesced_block_sends_one_notify_per_window_and_the_one_owed_at_its_end(monkeypatch):
    sent, woken = [], []
    monkeypatch.setattr(relay_signal, "_send", lambda: sent.append(1))
    waker = lambda: woken.append(1)  # noqa: E731
    relay_signal.add_waker(waker)
    try:
        with relay_signal.coalesced(window=3600):
            for _ in range(5):
                relay_signal.notify()
            assert len(sent) == 1  # the first commit's wake leaves at once; the others wait
            with relay_signal.coalesced():  # a nested block joins the outer one
                relay_signal.notify()
            assert len(sent) == 1
        assert len(sent) == 2  # the one owed, at the end of the block
        assert len(woken) == 6  # in-process wakers cost no query: every commit wakes them
        relay_signal.notify()
        assert len(sent) == 3  # outside a block, every wake is sent
    finally:
        relay_signal.remove_waker(waker)


def test_a_block_that_owes_nothing_sends_nothing_at_its_end(monkeypatch):
    sent = []
    monkeypatch.setattr(relay_signal, "_send", lambda: sent.append(1))
    with relay_signal.coalesced(window=3600):
        relay_signal.notify()
    assert len(sent) == 1
