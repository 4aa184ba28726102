"""The compiled-once reads of ``GET bots`` and ``platforms/{p}/bots`` answer exactly what
the ORM selector answers, and their paging behaves as DRF's."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from accounts.prepared import PreparedQuery
from bots import selectors
from bots.models import Bot
from tests.bots.factories import BotFactory, fill

pytestmark = pytest.mark.django_db

FIELDS = [f.attname for f in Bot._meta.concrete_fields]


def _fleet(owner, other_user) -> None:
    for i, (status, exchange, mode) in enumerate(
        itertools.product(["running", "stopped", "paused"], ["simulated", "replay"], ["paper", "live"])
    ):
        BotFactory(owner=owner, status=status, exchange=exchange, trading_mode=mode, name=f"b{i}")
    BotFactory(owner=other_user, status="running")
    BotFactory(owner=owner, deleted_at=timezone.now())


def _snapshot(bots) -> list[tuple]:
    return [(tuple(getattr(b, f) for f in FIELDS), b.profit_today) for b in bots]


@pytest.mark.parametrize("status", [None, "running", "stopped"])
@pytest.mark.parametrize("exchange", [None, "simulated", "replay", "nowhere"])
@pytest.mark.parametrize("mode", [None, "paper", "live"])
def test_every_filter_shape_answers_as_the_orm(owner, other_user, status, exchange, mode):
    _fleet(owner, other_user)
    bot = Bot.objects.filter(owner=owner, deleted_at__isnull=True).order_by("pk").first()
    fill(bot, "buy", 1, 100)
    fill(bot, "sell", 1, 110)  # a profit today, through the annotation

    expected = list(selectors.bot_list(user=owner, status=status, exchange=exchange, mode=mode))
    page, total = selectors.bot_page(user=owner, status=status, exchange=exchange, mode=mode, limit=50, offset=0)

    assert _snapshot(page) == _snapshot(expected)
    assert total == (len(expected) or None)
    if exchange is not None and status is None:  # the drilldown has no status filter
        rows = selectors.bot_rows(user=owner, exchange=exchange, mode=mode)
        assert _snapshot(rows) == _snapshot(expected)


def test_profit_today_and_field_types_survive(owner):
    bot = BotFactory(owner=owner, params={"fast": 3, "slow": 9}, override_rules={"max_daily_loss": 5})
    fill(bot, "buy", 1, 100)
    fill(bot, "sell", 1, 130)

    [row], total = selectors.bot_page(user=owner, limit=10, offset=0)

    assert total == 1
    assert row.profit_today == Decimal(30)
    assert row.params == {"fast": 3, "slow": 9}  # JSON decoded, not text
    assert row.override_rules == {"max_daily_loss": 5}
    assert row.created_at.tzinfo is not None
    assert row._state.adding is False and row._state.db == "default"


def test_paging_slices_the_same_order(owner):
    for i in range(7):
        BotFactory(owner=owner, name=f"p{i}")
    everything = [b.pk for b in selectors.bot_list(user=owner)]

    pages = [selectors.bot_page(user=owner, limit=3, offset=o) for o in (0, 3, 6, 9)]

    assert [b.pk for rows, _ in pages for b in rows] == everything
    assert [total for _, total in pages] == [7, 7, 7, None]


def test_a_stand_in_that_never_reaches_the_sql_is_refused(owner):
    query = PreparedQuery(Bot, lambda name: Bot.objects.filter(name__icontains=name), name=str)
    with pytest.raises(ImproperlyConfigured, match="name"):
        query.fetch(name="x")


def test_sliced_or_non_model_querysets_are_refused(owner):
    with pytest.raises(ImproperlyConfigured):
        PreparedQuery(Bot, lambda: Bot.objects.all()[:3]).fetch()
    with pytest.raises(ImproperlyConfigured):
        PreparedQuery(Bot, lambda: Bot.objects.values("pk")).fetch()


def test_unknown_parameters_are_a_type_error():
    with pytest.raises(TypeError, match="colour"):
        PreparedQuery(Bot, lambda: Bot.objects.all()).fetch(colour="red")


def test_date_parameters_bind_on_both_backends(owner):
    bot = BotFactory(owner=owner)
    day = timezone.now().date()
    query = PreparedQuery(
        Bot, lambda day=None: Bot.objects.filter(created_at__date__gte=day) if day else Bot.objects.all(), day=date
    )
    assert [b.pk for b in query.fetch(day=day)] == [bot.pk]
    assert query.fetch(day=day + timedelta(days=1)) == []


# --- through the API -------------------------------------------------------------


def _bots(owner, n):
    return [BotFactory(owner=owner, name=f"api{i}") for i in range(n)]


def test_pages_links_and_totals(owner, owner_client):
    _bots(owner, 5)

    first = owner_client.get("/api/bots?page_size=2").json()
    second = owner_client.get("/api/bots?page=2&page_size=2").json()
    last = owner_client.get("/api/bots?page=last&page_size=2").json()

    assert first["total"] == second["total"] == last["total"] == 5
    assert first["previous"] is None and first["next"].endswith("/api/bots?page=2&page_size=2")
    assert second["previous"].endswith("/api/bots?page_size=2") and second["next"].endswith("page=3&page_size=2")
    assert len(last["bots"]) == 1 and last["next"] is None
    names = [b["name"] for r in (first, second, last) for b in r["bots"]]
    assert names == [f"api{i}" for i in reversed(range(5))]


def test_no_bots_is_an_empty_first_page(owner_client):
    body = owner_client.get("/api/bots").json()
    assert body["bots"] == [] and body["total"] == 0 and body["next"] is None
    assert owner_client.get("/api/bots?page=last").json()["total"] == 0


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "3", str(10**20)])
def test_a_page_out_of_range_is_a_404_envelope(owner, owner_client, page):
    _bots(owner, 2)

    response = owner_client.get(f"/api/bots?page={page}")

    assert response.status_code == 404
    assert response.json()["success"] is False
    assert "Invalid page" in response.json()["error"]["message"]


def test_list_filters_still_apply(owner, owner_client):
    BotFactory(owner=owner, status="running", name="r")
    BotFactory(owner=owner, status="stopped", name="s")

    body = owner_client.get("/api/bots?status=running").json()

    assert [b["name"] for b in body["bots"]] == ["r"] and body["total"] == 1
