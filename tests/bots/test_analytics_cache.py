"""analytics/summary is cached per user; the services that change it retire the entry on commit.

Writes run inside the test's transaction, which never commits: the tests that expect an
invalidation wrap them in ``django_capture_on_commit_callbacks(execute=True)``, which runs
what a commit would.
"""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal

import pytest
import redis.exceptions
from django.core.cache import cache, caches
from django.core.cache.backends import base as cache_base
from django.core.cache.backends import locmem
from django.db import transaction

from adminpanel import services as admin_services
from bots import analytics
from bots.models import Bot
from tests.bots.factories import BotFactory, fill
from tests.conftest import USING_REDIS

pytestmark = pytest.mark.django_db

SUMMARY = "/api/analytics/summary"
AUTH_QUERIES = 1  # the bearer token's user (tests/accounts/test_tokens.py)


@pytest.fixture(autouse=True)
def _cache_on(settings, monkeypatch):
    settings.ANALYTICS_SUMMARY_CACHE_SECONDS = 30
    # A test that breaks the cache opens this process's skip window; the next must not inherit it.
    monkeypatch.setattr(analytics._outage, "until", 0.0)


@pytest.fixture
def traded(owner):
    """A stopped USDT bot with one closed round trip: +10 on 1000."""
    bot = BotFactory(owner=owner, capital=Decimal(1000))
    fill(bot, "buy", 1, 100)
    fill(bot, "sell", 1, 110)
    return bot


def _summary(client) -> dict:
    response = client.get(SUMMARY)
    assert response.status_code == 200, response.content
    return response.json()


def _key(user) -> str:
    return analytics.SUMMARY_KEY.format(user_id=user.pk)


# ---------------------------------------------------------------------------
# Hits
# ---------------------------------------------------------------------------
def test_a_hit_costs_only_the_auth_query_and_serves_the_stored_summary(
    owner, owner_client, traded, django_assert_num_queries
):
    first = owner_client.get(SUMMARY)
    # A write that bypasses the services is not seen until the entry expires: proof of a hit.
    Bot.objects.filter(pk=traded.pk).update(capital=Decimal(5000))

    with django_assert_num_queries(AUTH_QUERIES):
        second = owner_client.get(SUMMARY)

    assert second.content == first.content  # the same bytes as the computed response
    body = second.json()
    assert (body["capital"], body["total_pnl"], body["total_trades"], body["total_pnl_percentage"]) == (
        1000,
        10,
        2,
        1.0,
    )
    assert analytics._summary_compute(owner)["capital"] == 5000


def test_the_cached_summary_is_the_computed_one(owner, traded):
    computed = analytics._summary_compute(owner)
    assert analytics.user_summary(owner) == computed  # miss: computed and stored
    assert analytics.user_summary(owner) == computed  # hit


# ---------------------------------------------------------------------------
# Invalidation by the services
# ---------------------------------------------------------------------------
def test_a_fill_invalidates_at_once(owner, owner_client, traded, django_capture_on_commit_callbacks):
    assert _summary(owner_client)["total_trades"] == 2

    with django_capture_on_commit_callbacks(execute=True):
        fill(traded, "buy", 1, 100)
        fill(traded, "sell", 1, 95)  # -5

    body = _summary(owner_client)
    assert (body["total_trades"], body["winning_trades"], body["losing_trades"], body["total_pnl"]) == (4, 1, 1, 5)


def test_a_rolled_back_fill_retires_nothing(owner, owner_client, traded, django_capture_on_commit_callbacks):
    _summary(owner_client)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        contextlib.suppress(RuntimeError),
        transaction.atomic(),
    ):
        fill(traded, "buy", 1, 100)
        raise RuntimeError("the caller's transaction fails after the fill")

    assert callbacks == []
    assert _summary(owner_client)["total_trades"] == 2


def _create(client, bot):
    body = {"name": "New", "exchange": "simulated", "symbol": "BTC/USDT", "strategy": "sma_cross", "capital": 500}
    return client.post("/api/bots", body, format="json")


CHANGES = {
    # name: (status before, the request, the field that moves, before, after)
    "create": ("stopped", _create, "total_bots", 1, 2),
    "update": (
        "stopped",
        lambda c, b: c.patch(f"/api/bots/{b.pk}", {"capital": 3000}, format="json"),
        "capital",
        1000,
        3000,
    ),
    "delete": ("stopped", lambda c, b: c.delete(f"/api/bots/{b.pk}"), "total_bots", 1, 0),
    "start": ("stopped", lambda c, b: c.post(f"/api/bots/{b.pk}/start"), "active_bots", 0, 1),
    "pause": ("running", lambda c, b: c.post(f"/api/bots/{b.pk}/pause"), "active_bots", 1, 0),
    "resume": ("paused", lambda c, b: c.post(f"/api/bots/{b.pk}/resume"), "active_bots", 0, 1),
    "stop": ("running", lambda c, b: c.post(f"/api/bots/{b.pk}/stop"), "active_bots", 1, 0),
    "stop_closing": (
        "running",
        lambda c, b: c.post(f"/api/bots/{b.pk}/stop", {"close_positions": True}, format="json"),
        "total_trades",
        3,
        4,
    ),
    "start_all": ("stopped", lambda c, b: c.post("/api/start"), "active_bots", 0, 1),
    "stop_all": ("running", lambda c, b: c.post("/api/stop"), "active_bots", 1, 0),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_owners_changes_invalidate_at_once(owner, owner_client, change, django_capture_on_commit_callbacks):
    status, request, field, before, after = CHANGES[change]
    bot = BotFactory(owner=owner, capital=Decimal(1000), status=status)
    if change == "stop_closing":
        # Closed at the simulated BTC price: a capital that keeps the day's return sane.
        Bot.objects.filter(pk=bot.pk).update(capital=Decimal(10**7), cash_balance=Decimal(10**7))
        fill(bot, "buy", 1, 100)
        fill(bot, "sell", "0.5", 110)
        fill(bot, "buy", "0.5", 100)  # leaves a position for the stop to close
    assert _summary(owner_client)[field] == before

    with django_capture_on_commit_callbacks(execute=True):
        response = request(owner_client, bot)
    assert response.status_code in (200, 201), response.content

    assert _summary(owner_client)[field] == after


def test_a_staff_force_pause_invalidates_the_owners_summary(
    owner, owner_client, staff, django_capture_on_commit_callbacks
):
    bot = BotFactory(owner=owner, status="running")
    assert _summary(owner_client)["active_bots"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        admin_services.bot_force_pause(actor=staff, bot_id=bot.pk, reason="checks")

    assert _summary(owner_client)["active_bots"] == 0


def test_another_users_entry_is_untouched(
    owner, owner_client, other_user, other_client, traded, django_capture_on_commit_callbacks, django_assert_num_queries
):
    BotFactory(owner=other_user, capital=Decimal(200))
    theirs = _summary(other_client)

    with django_capture_on_commit_callbacks(execute=True):
        fill(traded, "buy", 1, 100)

    with django_assert_num_queries(AUTH_QUERIES):
        assert _summary(other_client) == theirs
    assert _summary(owner_client)["total_trades"] == 3


def test_a_summary_computed_before_a_write_commits_is_never_served(
    owner, owner_client, traded, monkeypatch, django_assert_num_queries
):
    """The reader computes from the old state while a write commits; it may store its
    summary, but the write retired the version it was stored under."""
    compute = analytics._summary_compute

    def racing(user):
        summary = compute(user)
        analytics._summary_retire(user.pk)  # a write committed while this one computed
        return summary

    monkeypatch.setattr(analytics, "_summary_compute", racing)
    _summary(owner_client)
    monkeypatch.setattr(analytics, "_summary_compute", compute)

    with django_assert_num_queries(AUTH_QUERIES + 2):  # a miss: the totals and the daily series
        _summary(owner_client)
    with django_assert_num_queries(AUTH_QUERIES):
        _summary(owner_client)


# ---------------------------------------------------------------------------
# Settings, outage, expiry
# ---------------------------------------------------------------------------
def test_zero_seconds_disables_the_cache(
    settings, owner, owner_client, traded, monkeypatch, django_capture_on_commit_callbacks, django_assert_num_queries
):
    settings.ANALYTICS_SUMMARY_CACHE_SECONDS = 0
    _summary(owner_client)
    Bot.objects.filter(pk=traded.pk).update(capital=Decimal(5000))

    with django_assert_num_queries(AUTH_QUERIES + 2):
        assert _summary(owner_client)["capital"] == 5000
    assert cache.get_many([_key(owner), analytics.SUMMARY_VERSION_KEY.format(user_id=owner.pk)]) == {}
    retired = []
    monkeypatch.setattr(analytics, "_summary_retire", retired.append)
    with django_capture_on_commit_callbacks(execute=True):
        fill(traded, "buy", 1, 100)
    assert retired == []  # nothing to retire: no cache round trip per fill


def _broken(monkeypatch) -> list[str]:
    """Every summary cache call raises as a refused Redis connection would; returns the calls."""
    calls: list[str] = []
    backend = caches["default"]
    # Not add/incr: the throttles count with those, and their fail-open is tested elsewhere.
    for name in ("get", "get_many", "set", "delete"):

        def refuse(*args, _name=name, **kwargs):
            calls.append(_name)
            raise redis.exceptions.ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

        monkeypatch.setattr(backend, name, refuse)
    return calls


def test_a_broken_cache_still_answers_with_the_right_numbers(
    owner, owner_client, traded, monkeypatch, django_capture_on_commit_callbacks
):
    calls = _broken(monkeypatch)

    body = _summary(owner_client)

    assert (body["capital"], body["total_pnl"], body["total_trades"], body["win_rate"]) == (1000, 10, 2, 100.0)
    assert calls == ["get_many"]
    # A fill still commits and reports; within the skip window the cache is not asked again.
    with django_capture_on_commit_callbacks(execute=True):
        fill(traded, "buy", 1, 100)
    assert _summary(owner_client)["total_trades"] == 3
    assert calls == ["get_many"]


def test_a_cache_that_fails_on_store_or_invalidation_still_answers(
    owner, owner_client, traded, monkeypatch, django_capture_on_commit_callbacks
):
    backend = caches["default"]

    def refuse(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(backend, "set", refuse)
    assert _summary(owner_client)["total_trades"] == 2  # computed; storing it failed

    monkeypatch.setattr(analytics._outage, "until", 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        trade = fill(traded, "buy", 1, 100)  # the retirement after commit fails, quietly
    assert trade.pk is not None
    assert _summary(owner_client)["total_trades"] == 3


def test_an_unexpected_cache_error_is_not_mistaken_for_an_outage(owner, traded, monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("a bug, not an outage")

    monkeypatch.setattr(caches["default"], "get_many", broken)
    with pytest.raises(TypeError):
        analytics.user_summary(owner)


class _Clock:
    def __init__(self):
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.mark.skipif(USING_REDIS, reason="Redis expires keys on its own clock")
def test_the_entry_expires_after_the_setting(settings, owner, owner_client, traded, monkeypatch):
    settings.ANALYTICS_SUMMARY_CACHE_SECONDS = 5
    clock = _Clock()
    monkeypatch.setattr(locmem, "time", clock)
    monkeypatch.setattr(cache_base, "time", clock)

    _summary(owner_client)
    Bot.objects.filter(pk=traded.pk).update(capital=Decimal(5000))  # bypasses the services: only the TTL sees it

    clock.now += 4.9
    assert cache.get(_key(owner)) is not None
    assert _summary(owner_client)["capital"] == 1000

    clock.now += 0.2
    assert cache.get(_key(owner)) is None
    assert _summary(owner_client)["capital"] == 5000
