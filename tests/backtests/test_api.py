"""Backtests API (API.md "backtests and candles"): create, run on Celery, read, sweep, cancel, limits."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import Backtest
from bots.services import backtests as service
from tests.bots.factories import BacktestFactory

BASE = {
    "strategy": "sma_cross",
    "params": {"fast": 5, "slow": 20},
    "exchange": "replay",
    "symbol": "ETH/BTC",
    "timeframe": "5m",
    "since": "2018-01-13T00:00:00Z",
    "until": "2018-01-14T00:00:00Z",
    "capital": "1",
}
PERFORMANCE_FIELDS = {
    "total_trades",
    "winning_trades",
    "losing_trades",
    "win_rate",
    "total_pnl",
    "total_pnl_percentage",
    "profit_factor",
    "max_drawdown",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
}


def _create(api, **changes) -> dict:
    response = api.post("/api/backtests", {**BASE, **changes}, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["backtest"]


def test_a_backtest_is_accepted_queued_then_run_and_read(owner_api):
    created = _create(owner_api)
    assert created["status"] == "queued" and created["progress"] == 0

    assert service.backtest_run(created["id"]) == "finished"

    body = owner_api.get(f"/api/backtests/{created['id']}").json()["backtest"]
    assert body["status"] == "finished" and body["progress"] == 1.0
    assert body["candles"] == 24 * 12 + 1  # every 5 minutes, both ends included
    assert set(body["performance"]) >= PERFORMANCE_FIELDS
    assert body["started_at"] and body["finished_at"] and body["error"] is None
    trades = owner_api.get(f"/api/backtests/{created['id']}/trades").json()
    orders = owner_api.get(f"/api/backtests/{created['id']}/orders").json()
    equity = owner_api.get(f"/api/backtests/{created['id']}/equity").json()
    assert trades["total"] == orders["total"] == body["performance"]["total_trades"] > 0
    assert {"side", "quantity", "price", "fee", "realized_pnl", "executed_at"} <= set(trades["trades"][0])
    assert equity["total"] == body["candles"]
    listed = owner_api.get("/api/backtests").json()
    assert [b["id"] for b in listed["backtests"]] == [created["id"]]


def test_post_runs_the_backtest_on_celery(owner_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/api/backtests", BASE, format="json")
    assert response.status_code == 202
    assert Backtest.objects.get(pk=response.json()["backtest"]["id"]).status == "finished"


def test_a_backtest_of_a_bot_uses_that_bots_configuration(owner_api, owner):
    from tests.bots.factories import BotFactory

    bot = BotFactory(
        owner=owner,
        exchange="replay",
        symbol="ETH/BTC",
        timeframe="5m",
        strategy="rsi",
        params={"period": 6, "oversold": 35, "overbought": 65},
        capital=Decimal("2"),
    )
    created = _create_bot(owner_api, bot.pk)
    assert (created["strategy"], created["params"]["period"], Decimal(str(created["capital"])), created["bot_id"]) == (
        "rsi",
        6,
        Decimal(2),
        bot.pk,
    )


def _create_bot(api, bot_id):
    response = api.post(
        "/api/backtests", {"bot_id": bot_id, "since": BASE["since"], "until": BASE["until"]}, format="json"
    )
    assert response.status_code == 202, response.json()
    return response.json()["backtest"]


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"strategy": "martingale"}, "unknown strategy 'martingale'"),
        ({"params": {"fats": 3}}, "fats"),
        ({"params": {"fast": 30, "slow": 20}}, "fast"),
        ({"since": "2018-01-14T00:00:00Z", "until": "2018-01-13T00:00:00Z"}, "since must be before until"),
        ({"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}, "2018-01-10"),
        ({"symbol": "DOGE/USDT"}, "none of that market"),
        # The shipped recording runs 2018-01-10T04:55 → 2018-01-17T04:50: a range beyond either end.
        ({"until": "2018-01-20T00:00:00Z"}, "cover only 2018-01-13T00:00:00Z → 2018-01-17T04:50:00Z of that range"),
        ({"since": "2018-01-09T00:00:00Z"}, "cover only 2018-01-10T04:55:00Z → 2018-01-14T00:00:00Z of that range"),
        ({"timeframe": "7m"}, "unknown timeframe"),
        ({"capital": "-1"}, "capital"),
        ({"fee_pct": "0.5"}, "fee_pct"),
        ({"params_grid": {"fast": list(range(2, 20)), "slow": list(range(21, 60))}}, "limit is 500"),
        ({"params_grid": {"fast": []}}, "params_grid.fast"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(owner_api, changes, needle):
    response = owner_api.post("/api/backtests", {**BASE, **changes}, format="json")
    assert response.status_code == 400, response.json()
    assert needle in str(response.json())
    assert not Backtest.objects.exists()


def test_too_many_candles_for_one_run_is_a_400_naming_the_limit(owner_api, settings):
    settings.BACKTEST_MAX_CANDLES = 100
    response = owner_api.post("/api/backtests", BASE, format="json")
    assert response.status_code == 400
    assert "the limit per run is 100" in str(response.json())


def test_a_user_has_a_limit_on_concurrent_runs(owner_api, settings):
    settings.BACKTEST_MAX_CONCURRENT = 2
    _create(owner_api)
    _create(owner_api)
    response = owner_api.post("/api/backtests", BASE, format="json")
    assert response.status_code == 429
    assert "the limit is 2" in str(response.json())


def test_other_users_backtests_are_404(owner_api, other_user):
    created = _create(owner_api)
    other = BacktestFactory(
        owner=other_user,
        capital=1,
    )
    for path in ("", "/trades", "/orders", "/equity"):
        assert owner_api.get(f"/api/backtests/{other.pk}{path}").status_code == 404
    assert owner_api.post(f"/api/backtests/{other.pk}/cancel").status_code == 404
    assert owner_api.delete(f"/api/backtests/{other.pk}").status_code == 404
    assert owner_api.get(f"/api/backtests/{created['id']}").status_code == 200


def test_a_sweep_runs_each_combination_and_ranks_them(owner_api):
    created = _create(owner_api, params_grid={"fast": [3, 5], "slow": [20, 30]})
    runs = list(Backtest.objects.filter(parent_id=created["id"]).order_by("pk"))
    assert [(r.params["fast"], r.params["slow"]) for r in runs] == [(3, 20), (3, 30), (5, 20), (5, 30)]
    for run in runs:
        assert service.backtest_run(run.pk) == "finished"
    sweep = owner_api.get(f"/api/backtests/{created['id']}").json()["backtest"]
    assert sweep["status"] == "finished" and sweep["progress"] == 1.0
    ranked = owner_api.get(f"/api/backtests/{created['id']}/results?metric=total_pnl").json()["results"]
    values = [Decimal(r["value"]) for r in ranked]
    assert values == sorted(values, reverse=True) and [r["rank"] for r in ranked] == [1, 2, 3, 4]
    drawdowns = owner_api.get(f"/api/backtests/{created['id']}/results?metric=max_drawdown").json()["results"]
    assert [r["value"] for r in drawdowns] == sorted(r["value"] for r in drawdowns)
    assert owner_api.get(f"/api/backtests/{created['id']}/results?metric=luck").status_code == 400


def test_cancel_keeps_what_ran_and_a_finished_run_cannot_be_canceled(owner_api):
    queued = _create(owner_api)
    response = owner_api.post(f"/api/backtests/{queued['id']}/cancel")
    assert response.status_code == 200 and response.json()["backtest"]["status"] == "canceled"
    assert service.backtest_run(queued["id"]) == ""  # a canceled run is never started
    done = _create(owner_api)
    service.backtest_run(done["id"])
    assert owner_api.post(f"/api/backtests/{done['id']}/cancel").status_code == 409


def test_a_cancel_while_running_stops_at_the_next_progress_point_keeping_partial_results(owner):
    backtest = service.backtest_create(user=owner, data={**BASE, "until": "2018-01-17T04:50:00Z"})
    calls = []
    original = service._progress

    def cancel_on_first(bt, fraction, ticks, last):
        if not calls:
            service.backtest_cancel(user=owner, backtest_id=bt.pk)
        calls.append(ticks)
        return original(bt, fraction, ticks, last)

    service._progress = cancel_on_first
    try:
        assert service.backtest_run(backtest.pk) == "canceled"
    finally:
        service._progress = original
    backtest.refresh_from_db()
    assert backtest.status == "canceled" and 0 < backtest.candles == calls[0] < 1000
    assert backtest.performance is not None


def test_a_run_whose_worker_died_is_failed_with_a_reason_never_running_forever(owner):
    backtest = service.backtest_create(user=owner, data=BASE)
    Backtest.objects.filter(pk=backtest.pk).update(
        status="running", claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert service.backtests_reap() == 1
    backtest.refresh_from_db()
    assert backtest.status == "failed" and "worker" in backtest.error


def test_delete_removes_a_backtest(owner_api):
    created = _create(owner_api)
    assert owner_api.delete(f"/api/backtests/{created['id']}").status_code == 200
    assert owner_api.get(f"/api/backtests/{created['id']}").status_code == 404


def test_the_list_reads_a_fixed_number_of_queries(owner_api, django_assert_max_num_queries):
    for _ in range(3):
        service.backtest_run(_create(owner_api)["id"])
    with django_assert_max_num_queries(6):
        response = owner_api.get("/api/backtests")
    assert response.json()["total"] == 3
