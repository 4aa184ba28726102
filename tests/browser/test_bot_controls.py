"""A bot owner's controls on the dashboard: the exits on the bot form, shown on its page as
the rules in force (issue 20, item 4), in a real Chromium (the pattern of ``test_dashboard``).

Every wait is for something the page shows; nothing sleeps before a negative check.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in
from tests.browser.test_dashboard import create_bot, demo, demo_api, product  # noqa: F401 (fixtures)
from tests.conftest import USING_POSTGRES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(USING_POSTGRES, reason="checked once, in the embedded pass"),
]


def test_the_owner_sets_exits_on_the_form_and_the_page_shows_them(page, product, demo, demo_api):  # noqa: F811
    bot = create_bot(demo_api)
    sign_in(page, product, *demo, path=f"/bots/{bot['id']}/edit")
    page.wait_for_selector("form.bot-form input[name=stop_loss_pct]")
    page.fill("input[name=stop_loss_pct]", "2")  # 200 %: refused at its field
    page.click("form button[type=submit]")
    error = page.locator('.field[data-field="stop_loss_pct"] .field-error')
    error.wait_for()
    assert "0.999999" in error.inner_text()

    page.fill("input[name=stop_loss_pct]", "0.05")
    page.fill("input[name=trailing_stop_pct]", "0.03")
    page.fill("input[name=trailing_arm_pct]", "0.02")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/bots/{bot['id']}$"))
    rules = page.locator(".facts dt:text('Exits in force') + dd")
    rules.wait_for()
    assert rules.inner_text() == "stop-loss 5 %, trailing stop 3 % once up 2 %"
    saved = demo_api.get(f"bots/{bot['id']}").json()["bot"]
    assert float(saved["stop_loss_pct"]) == 0.05 and saved["take_profit_pct"] is None

    page.click("a.button:text('Edit')")  # emptied, an exit is cleared
    page.wait_for_selector("form.bot-form input[name=stop_loss_pct]")
    assert page.input_value("input[name=trailing_stop_pct]") != ""
    page.fill("input[name=stop_loss_pct]", "")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/bots/{bot['id']}$"))
    page.wait_for_selector(".facts dd:text('trailing stop 3 % once up 2 %')")
    assert demo_api.get(f"bots/{bot['id']}").json()["bot"]["stop_loss_pct"] is None


def test_orders_by_hand_a_resting_limit_canceled_and_the_position_closed(page, product, demo, demo_api):  # noqa: F811
    # A grid far below the market, ticking hourly: what trades here is the owner.
    bot = create_bot(demo_api, strategy="grid", interval_seconds=3600, params={"lower": 1, "upper": 2, "levels": 2})
    assert demo_api.post(f"bots/{bot['id']}/start").status_code == 200
    sign_in(page, product, *demo, path=f"/bots/{bot['id']}")
    page.wait_for_selector(".trade-count")  # the page is loaded
    manual = page.locator("section.manual")
    said = manual.locator(".action-status .notice")

    page.select_option("section.manual select[name=unit]", "quote_amount")
    manual.locator("input[name=amount]").fill("100")
    manual.locator("button[type=submit]").click()
    said.filter(has_text="Buy order placed").wait_for()
    page.locator(".grid2 tbody tr td[data-label=Symbol]:text('BTC/USDT')").wait_for()  # the position, without a reload

    page.select_option("section.manual select[name=type]", "limit")
    manual.locator("input[name=price]").fill("1")  # far below the market: it rests
    manual.locator("input[name=amount]").fill("50")
    manual.locator("button[type=submit]").click()
    said.filter(has_text="rests").wait_for()
    cancel = page.locator("[data-action=cancel-order]")
    cancel.wait_for()
    order_id = cancel.get_attribute("data-order")
    cancel.click()
    page.locator(".action-status .notice.info", has_text=f"Order {order_id} canceled").wait_for()
    page.locator("[data-action=cancel-order]").wait_for(state="detached")

    page.once("dialog", lambda dialog: dialog.accept())
    manual.locator("[data-action=close-position]").click()
    said.filter(has_text="Closing the position").wait_for()
    page.wait_for_selector("text=Flat: no open position.")

    assert demo_api.post(f"bots/{bot['id']}/stop").status_code == 200
    page.wait_for_selector(".page-head .badge.st-stopped")
    page.select_option("section.manual select[name=type]", "market")
    manual.locator("button[type=submit]").click()
    refusal = manual.locator(".form-general .notice.error")
    refusal.wait_for()  # a stopped bot places nothing, and the form says why
    assert "running" in refusal.inner_text()
