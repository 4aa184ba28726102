"""Resource usage counts backtests (issue 19, item 5): the runs a user stores and the candles
they ticked over, kept by the services, equal to a recount, shown to staff."""

from __future__ import annotations

from accounts.models import UserUsage
from accounts.usage import COUNTERS
from adminpanel.services import usage_reconcile
from bots.models import Backtest
from bots.services import backtests as service
from tests.backtests.test_api import BASE


def _counters(user) -> dict:
    row = UserUsage.objects.filter(user=user).first()
    return {kind: getattr(row, kind) if row else 0 for kind in COUNTERS}


def test_backtests_and_their_candles_are_counted_and_equal_a_recount(owner, staff_client):
    # Given a run and a sweep of two combinations, all run to their end
    run = service.backtest_create(user=owner, data=BASE)
    sweep = service.backtest_create(user=owner, data={**BASE, "params_grid": {"fast": [3, 4]}})
    for pk in [run.pk, *sweep.runs.values_list("pk", flat=True)]:
        assert service.backtest_run(pk) == Backtest.Status.FINISHED
    counted = _counters(owner)
    # Then four rows are stored (a sweep and its combinations) and three runs' candles ticked
    assert counted["backtests"] == 4
    assert counted["backtest_candles"] == 3 * (24 * 12 + 1)
    # and the counters are what a recount finds
    assert usage_reconcile()["corrected"] == 0
    assert _counters(owner) == counted

    # When the sweep is deleted, its rows and candles are no longer counted
    service.backtest_delete(user=owner, backtest_id=sweep.pk)
    assert _counters(owner)["backtests"] == 1
    assert _counters(owner)["backtest_candles"] == 24 * 12 + 1
    assert usage_reconcile()["corrected"] == 0

    # And staff see them on the resource list
    users = staff_client.get("/api/admin/resources/users").json()["users"]
    mine = next(u for u in users if u["user_id"] == owner.pk)
    assert mine["storage_breakdown"]["backtests"]["count"] == 1
    assert mine["backtest_candles"] == 24 * 12 + 1
    totals = staff_client.get("/api/admin/resources/users").json()["system_totals"]
    assert totals["total_backtests"] == 1 and totals["total_backtest_candles"] == 24 * 12 + 1


def test_a_failed_run_counts_the_candles_it_ticked(owner):
    run = service.backtest_create(user=owner, data=BASE)
    service._claim(run.pk)
    Backtest.objects.filter(pk=run.pk).update(candles=120)
    service._fail(run.pk, "the worker stopped")
    assert _counters(owner)["backtest_candles"] == 120
    assert usage_reconcile()["corrected"] == 0


def test_backtests_are_in_the_admin_with_the_users_usage(owner, admin_client):
    run = service.backtest_create(user=owner, data=BASE)
    service.backtest_run(run.pk)
    listed = admin_client.get("/admin/bots/backtest/")
    assert listed.status_code == 200
    assert owner.email in listed.content.decode() and "finished" in listed.content.decode()
    # The change page shows the summary, not the results (orders, trades, an equity point a candle)
    page = admin_client.get(f"/admin/bots/backtest/{run.pk}/change/")
    assert page.status_code == 200 and 'name="equity"' not in page.content.decode()
    users = admin_client.get("/admin/accounts/user/").content.decode().lower()
    assert "backtest candles" in users and str(24 * 12 + 1) in users
