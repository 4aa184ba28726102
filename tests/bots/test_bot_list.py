"""``GET bots``: one page and its total in one query (a window count), paged as DRF pages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots import selectors
from tests.bots.factories import BotFactory, fill

pytestmark = pytest.mark.django_db


def test_pages_slice_one_order_and_carry_the_total(owner, other_user):
    for i in range(7):
        BotFactory(owner=owner, name=f"p{i}")
    BotFactory(owner=other_user)
    everything = [b.pk for b in selectors.bot_list(user=owner)]

    pages = [selectors.bot_page(user=owner, limit=3, offset=o) for o in (0, 3, 6, 9)]

    assert [b.pk for rows, _ in pages for b in rows] == everything
    assert [total for _, total in pages] == [7, 7, 7, None]


def test_the_total_counts_the_filtered_rows(owner):
    BotFactory(owner=owner, status="running", exchange="replay")
    BotFactory(owner=owner, status="running", exchange="simulated")
    BotFactory(owner=owner, status="stopped", exchange="replay")

    rows, total = selectors.bot_page(user=owner, limit=1, offset=0, status="running")

    assert len(rows) == 1 and total == 2
    assert selectors.bot_page(user=owner, limit=5, offset=0, exchange="nowhere") == ([], None)


def test_a_page_row_has_its_profit_today(owner):
    bot = BotFactory(owner=owner)
    fill(bot, "buy", 1, 100)
    fill(bot, "sell", 1, 130)

    [row], total = selectors.bot_page(user=owner, limit=10, offset=0)

    assert (row.pk, row.profit_today, total) == (bot.pk, Decimal(30), 1)


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


def test_a_platform_drilldown_lists_its_bots_only(owner, owner_client):
    BotFactory(owner=owner, exchange="replay", trading_mode="paper", name="rp")
    BotFactory(owner=owner, exchange="replay", trading_mode="live", name="rl")
    BotFactory(owner=owner, exchange="simulated", name="s")

    body = owner_client.get("/api/platforms/replay/bots?mode=paper").json()

    assert [b["name"] for b in body["bots"]] == ["rp"] and body["total_bots"] == 1
