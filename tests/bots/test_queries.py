"""Every list endpoint costs a constant number of queries, whatever the number of rows."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from realtime.services import event_record
from tests.bots.factories import BotFactory, fill

pytestmark = pytest.mark.django_db


def _seed(owner, bots: int) -> list:
    rows = []
    for i in range(bots):
        bot = BotFactory(
            owner=owner, symbol="ETH/BTC" if i % 2 else "BTC/USDT", status="running" if i % 3 else "stopped"
        )
        fill(bot, "buy", 1, 1, with_order=True)
        fill(bot, "sell", 1, 2, with_order=True)
        with transaction.atomic():
            event_record(type="bot_updated", user_id=owner.pk, bot_id=bot.pk, payload={"bot": {}}, message="x")
        rows.append(bot)
    return rows


def _count(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(queries)


PATHS = [
    "/api/bots",
    "/api/trades",
    "/api/platforms/summary",
    "/api/platforms/simulated/bots",
    "/api/platforms/simulated/bots?mode=paper",
    "/api/analytics/summary",
    "/api/bots/{id}/trades",
    "/api/bots/{id}/orders",
    "/api/bots/{id}/positions",
    "/api/bots/{id}/events",
    "/api/bots/{id}/equity",
    "/api/bots/{id}/performance",
    "/api/status",
]


@pytest.mark.parametrize("path", PATHS)
def test_constant_queries(owner, owner_client, path, django_assert_num_queries, django_capture_on_commit_callbacks):
    small = _seed(owner, 2)
    path_small = path.format(id=small[0].pk)
    baseline = _count(owner_client, path_small)
    # The writes commit, as they would between two requests: cached reads (analytics/summary)
    # are invalidated after commit, and the second count must measure the same computation.
    with django_capture_on_commit_callbacks(execute=True):
        big = _seed(owner, 12)
        for bot in big[:1]:
            for _ in range(5):
                fill(bot, "buy", 1, 1, with_order=True)
    with django_assert_num_queries(baseline):
        owner_client.get(path.format(id=big[0].pk))
    assert baseline <= 6, f"{path}: {baseline} queries"
