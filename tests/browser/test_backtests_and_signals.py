"""The dashboard's backtests page and a signal bot's webhook, parse box and history, in a real
Chromium on the product as ``make run`` starts it (the pattern of ``test_dashboard``).

Every wait is for something the page shows; nothing sleeps before a negative check.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import sign_in
from tests.browser.test_dashboard import create_bot, demo, demo_api, product  # noqa: F401 (fixtures)
from tests.conftest import USING_POSTGRES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(USING_POSTGRES, reason="checked once, in the embedded pass"),
]

SCREENSHOTS = os.environ.get("BOTFLEET_SCREENSHOTS")  # as in test_dashboard
MARKET = "UNITTEST/BTC · 1m · replay"  # a recording the product ships


def choose_market(tab, label: str = MARKET) -> None:
    value = tab.locator("select[name=market] option", has_text=label).first.get_attribute("value")
    tab.select_option("select[name=market]", value)


def shot(tab, name: str) -> None:
    if SCREENSHOTS:
        tab.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def test_a_backtest_runs_from_the_form_and_shows_its_equity_curve(page, product, demo):  # noqa: F811
    sign_in(page, product, *demo, path="/backtests")
    page.wait_for_selector("form.bt-form")
    page.select_option("select[name=strategy]", "sma_cross")
    choose_market(page)
    # The range comes from the store's coverage; one outside it is refused, naming what is stored.
    assert page.input_value("input[name=since]").startswith("2017-11-")
    until = page.input_value("input[name=until]")
    page.fill("input[name=since]", "2001-01-01T00:00")
    page.fill("input[name=until]", "2001-01-02T00:00")
    page.click("form.bt-form button[type=submit]")
    refusal = page.locator(".bt-form .form-general .notice.error")
    refusal.wait_for()
    assert "the store has" in refusal.inner_text()

    choose_market(page)  # back to the whole recording
    assert page.input_value("input[name=until]") == until
    page.fill("input[name='params.fast']", "5")
    page.fill("input[name='params.slow']", "20")
    page.click("form.bt-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/backtests/\d+$"))
    backtest_id = int(page.url.rsplit("/", 1)[1])
    page.wait_for_selector(".page-head .bt-status:text('finished')", timeout=60_000)
    page.wait_for_selector("canvas.bt-equity[data-points]")
    assert int(page.get_attribute("canvas.bt-equity", "data-points")) > 100
    assert page.locator(".tile").count() >= 8
    page.wait_for_selector("canvas.bt-candles[data-marks]")
    trades = page.locator("nav.pager[aria-label='Trade pages'] .muted").inner_text()
    assert int(page.get_attribute("canvas.bt-candles", "data-marks")) == int(trades.split()[0].replace(",", ""))
    assert page.locator(".bt-progress").count() == 0  # ended: no progress bar left
    shot(page, "dashboard-backtest.png")

    page.click("a[href='/backtests']")
    row = page.locator(f'tr[data-key="{backtest_id}"]')
    row.wait_for()
    assert row.locator(".bt-status").inner_text() == "finished"
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1


def test_a_sweep_from_the_form_ranks_its_combinations(page, product, demo):  # noqa: F811
    sign_in(page, product, *demo, path="/backtests")
    page.wait_for_selector("form.bt-form")
    page.select_option("select[name=strategy]", "sma_cross")
    choose_market(page)
    page.check("input[name=sweep]")
    page.fill("input[name='grid.fast']", "5, 10")
    page.fill("input[name='grid.slow']", "20, 40")
    page.fill(".bt-form input[name=stop_loss_pct]", "0.01")  # every run with the same exit
    page.click("form.bt-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/backtests/\d+$"))
    page.wait_for_selector("h1.bt-title:text('Sweep')")
    assert page.locator(".facts dt:text('Rules') + dd").inner_text() == "stop loss 0.01"
    ranked = page.locator(".bt-ranked tr[data-key]")
    page.wait_for_selector(".page-head .bt-status:text('finished')", timeout=90_000)
    ranked.nth(3).wait_for()
    assert ranked.count() == 4
    assert [ranked.nth(i).locator("td").first.inner_text() for i in range(4)] == ["1", "2", "3", "4"]
    assert {ranked.nth(i).locator("a").inner_text() for i in range(4)} == {
        f"fast={f}, slow={s}" for f in (5, 10) for s in (20, 40)
    }

    page.select_option("select[name=metric]", "max_drawdown")
    page.wait_for_selector(".bt-ranked[data-metric=max_drawdown] th:text('Max drawdown')")
    drawdowns = [float(ranked.nth(i).locator("td").nth(2).inner_text().replace(",", "") or "nan") for i in range(4)]
    assert drawdowns == sorted(drawdowns)  # lowest first

    ranked.first.locator("a").click()  # one combination's own run, with its curve
    page.wait_for_selector(".crumbs a:text('Sweep')")
    page.wait_for_selector("canvas.bt-equity[data-points]")


def test_the_list_follows_a_run_started_elsewhere_and_deletes_one(page, product, demo, demo_api):  # noqa: F811
    sign_in(page, product, *demo, path="/backtests")
    page.wait_for_selector("form.bt-form")
    page.wait_for_selector(".bt-list table, .bt-list .empty")
    coverage = demo_api.get("candles/coverage", params={"exchange": "replay", "symbol": "ETH/BTC"}).json()
    market = coverage["coverage"][0]
    answer = demo_api.post(
        "backtests",
        json={
            "strategy": "rsi",
            "params": {},
            "exchange": "replay",
            "symbol": "ETH/BTC",
            "timeframe": market["timeframe"],
            "since": market["since"],
            "until": market["until"],
            "capital": 1,
        },
    )
    assert answer.status_code == 202, answer.text
    backtest_id = answer.json()["backtest"]["id"]
    row = page.locator(f'tr[data-key="{backtest_id}"]')
    row.locator(".bt-status:text('finished')").wait_for(timeout=60_000)  # from the stream, no reload
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("[data-action=delete]").click()
    page.locator(".action-status .notice.info", has_text=f"#{backtest_id} deleted").wait_for()
    row.wait_for(state="detached")
    assert demo_api.get(f"backtests/{backtest_id}").status_code == 404


def test_a_run_of_a_bots_configuration_waits_queued_and_is_canceled(page, product, demo, demo_api):  # noqa: F811
    bot = create_bot(
        demo_api, exchange="replay", symbol="ETH/BTC", timeframe="5m", strategy="rsi", params={}, capital=1
    )
    product.kill("worker")  # nothing runs it: it stays queued until canceled
    try:
        sign_in(page, product, *demo, path=f"/bots/{bot['id']}")
        page.click("a.button:text('Backtest')")  # the bot's page offers a run of its configuration
        page.wait_for_selector("form.bt-form")
        assert page.is_checked("input[name=source][value=bot]")
        assert page.input_value("select[name=bot_id]") == str(bot["id"])
        assert page.input_value("input[name=since]").startswith("20")  # the bot's market's stored range
        assert "candles from" in page.locator('.field[data-field="bot_id"] .hint').inner_text()
        page.click("form.bt-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/backtests/\d+$"))
        backtest_id = int(page.url.rsplit("/", 1)[1])
        page.wait_for_selector(".bt-progress[data-status=queued] progress")
        assert page.locator(f".facts a[href='/bots/{bot['id']}']").count() == 1
        page.click("[data-action=cancel]")
        page.wait_for_selector(".page-head .bt-status:text('canceled')")
        assert page.locator(".bt-progress").count() == 0
        page.wait_for_selector(".bt-nothing:text('canceled before it started')")
        assert demo_api.get(f"backtests/{backtest_id}").json()["backtest"]["status"] == "canceled"
    finally:
        product.start("worker")


def signal_bot(running, api) -> dict:
    """A signal bot of the demo user: made through the API where the strategy is offered,
    else a bot made signal-driven in the product's own database (as the signal tests' factories do)."""
    name = f"sig-{uuid.uuid4().hex[:6]}"
    body = {"name": name, "exchange": "simulated", "symbol": "BTC/USDT", "strategy": "signal", "capital": 1000}
    answer = api.post("bots", json=body)
    if answer.status_code == 201:
        return answer.json()["bot"]
    bot = create_bot(api, name=name)
    update = f"Bot.objects.filter(pk={bot['id']}).update(strategy='signal', params={{}})"
    running.manage("shell", "-c", f"from bots.models import Bot; {update}")
    return api.get(f"bots/{bot['id']}").json()["bot"]


def test_a_signal_bot_shows_its_webhook_rotates_it_and_parses_a_signal(page, product, demo, demo_api):  # noqa: F811
    bot = signal_bot(product, demo_api)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=product.base_url)
    sign_in(page, product, *demo, path=f"/bots/{bot['id']}")
    url_box = page.locator("input.webhook-url")
    page.wait_for_function("() => document.querySelector('input.webhook-url')?.value.includes('/api/signals/')")
    page.wait_for_selector(".signal-history .empty")
    old = url_box.input_value()

    page.click("[data-action=copy-webhook]")
    page.locator(".action-status .notice.info", has_text="copied").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == old

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=rotate-webhook]")
    page.wait_for_function("old => document.querySelector('input.webhook-url').value !== old", arg=old)
    new = url_box.input_value()
    assert "/api/signals/" in new and new != old
    assert page.locator(".webhook-rotated").inner_text().startswith("Rotated")
    assert httpx.post(old, json={"action": "buy"}).status_code == 404  # the old URL stopped working
    sent = httpx.post(new, json={"action": "buy", "id": "ui-1"})
    assert sent.status_code == 202, sent.text
    # The bot is stopped: the signal is refused, and the history shows why, without a reload.
    outcome = page.locator(".signal-history tr[data-key] td[data-label=Outcome]")
    outcome.first.wait_for()
    assert outcome.first.inner_text() == sent.json()["signal"]["status"]

    page.fill("textarea[name=signal_text]", "BUY XAUUSD at 1950.00 TP: 1965.00 SL: 1940.00")
    page.click("form.parse-box button[type=submit]")
    page.wait_for_selector(".parsed-fields dd[data-field=symbol]")
    assert "XAU" in page.locator(".parsed-fields dd[data-field=symbol]").inner_text()
    assert page.locator(".parsed-fields dd[data-field=action]").inner_text() == "buy"
    assert "1965" in page.locator(".parsed-fields dd[data-field=take_profit]").inner_text()
    assert "1940" in page.locator(".parsed-fields dd[data-field=stop_loss]").inner_text()

    page.fill("textarea[name=signal_text]", "good morning everyone, markets look calm today")
    page.click("form.parse-box button[type=submit]")
    page.wait_for_selector(".parse-refused")
    assert page.locator(".parsed-fields").count() == 0


def test_the_backtest_pages_fit_a_phone_width_screen(page, product, demo, demo_api):  # noqa: F811
    page.set_viewport_size({"width": 390, "height": 844})
    market = demo_api.get("candles/coverage", params={"exchange": "replay", "symbol": "XRP/USDT"}).json()["coverage"][0]
    body = {"strategy": "sma_cross", "params": {}, "capital": 100, "exchange": "replay", "symbol": "XRP/USDT"}
    body.update({key: market[key] for key in ("timeframe", "since", "until")})
    answer = demo_api.post("backtests", json=body)
    assert answer.status_code == 202, answer.text
    backtest_id = answer.json()["backtest"]["id"]
    sign_in(page, product, *demo, path=f"/backtests/{backtest_id}")
    page.wait_for_selector("canvas.bt-equity[data-points]", timeout=60_000)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.click("a[href='/backtests']")
    page.wait_for_selector(f'.bt-list tr[data-key="{backtest_id}"]')
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
