"""The trader's dashboard at ``/``, in a real Chromium, on the product as ``make run`` starts it
(ASGI server, worker and beat on the embedded default, demo data seeded).

One product per module and one browser; each test gets a fresh browser context (no shared
cookies). Every wait is for something the page shows; nothing sleeps before a negative check.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import sign_in
from tests.conftest import USING_POSTGRES
from tests.processes import running_product, wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(USING_POSTGRES, reason="checked once, in the embedded pass"),
]

# README's screenshots are taken here when this names a folder (e.g. BOTFLEET_SCREENSHOTS=docs).
SCREENSHOTS = os.environ.get("BOTFLEET_SCREENSHOTS")


@pytest.fixture(scope="module")
def product():
    with running_product(services=False) as product:
        yield product


@pytest.fixture(scope="module")
def demo(product) -> tuple[str, str]:
    email, password = (product.data_dir / "demo-logins.txt").read_text().splitlines()[1].split()[:2]
    return email, password


@pytest.fixture(scope="module")
def demo_api(product, demo):
    """The demo user's own API client, to act from outside the page (as another device would)."""
    answer = httpx.post(f"{product.base_url}/api/auth/login", json={"email": demo[0], "password": demo[1]}).json()
    with httpx.Client(
        base_url=f"{product.base_url}/api/", headers={"Authorization": f"Bearer {answer['access_token']}"}, timeout=30
    ) as client:
        yield client


def create_bot(demo_api, **fields) -> dict:
    body = {
        "name": f"t-{uuid.uuid4().hex[:6]}",
        "exchange": "simulated",
        "symbol": "BTC/USDT",
        "strategy": "dca",
        "capital": 1000,
        **fields,
    }
    answer = demo_api.post("bots", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["bot"]


def row(page, bot_id):
    return page.locator(f'tr[data-key="{bot_id}"]')


def test_register_verify_and_sign_in_again(page, product):
    email = f"trader-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(f"{product.base_url}/register")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "a-Long-pass-5531")
    page.click("form button[type=submit]")
    page.wait_for_url("**/verify?sent=1")
    page.wait_for_selector("input[name=otp_code]")

    log = product.data_dir / "asgi.log"
    code = wait_until(lambda: _otp_for(log, email), timeout=30, what="the verification e-mail")
    page.fill("input[name=otp_code]", "000000" if code != "000000" else "111111")
    page.click("form button[type=submit]")
    page.wait_for_selector(".field-error:not(:empty), .form-general .notice.error")  # a wrong code is refused, in place
    page.fill("input[name=otp_code]", code)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{product.base_url}/")
    page.wait_for_selector(".tile")
    assert page.locator("text=No bots yet").count() == 1  # the empty state offers to create one
    assert page.locator("a[href='/verify']").count() == 0  # verified: no reminder left

    page.click("details.menu summary")
    page.click("#signout")
    page.wait_for_url("**/signin")
    page.goto(f"{product.base_url}/bots")  # signed out: a deep link asks to sign in first, then goes there
    page.wait_for_url("**/signin?next=%2Fbots")
    page.fill("input[name=identifier]", email)
    page.fill("input[name=password]", "a-Long-pass-5531")
    page.click("form button[type=submit]")
    page.wait_for_url(f"{product.base_url}/bots")
    page.wait_for_selector("text=No bots yet")
    # The refresh token lives in an HttpOnly cookie; nothing in storage.
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert "botfleet_refresh" not in page.evaluate("() => document.cookie")

    # A password change ends the other sessions; this one carries on (and so does its stream).
    page.click("details.menu summary")
    page.click("a[href='/account/password']")
    page.fill("input[name=old_password]", "a-Long-pass-5531")
    page.fill("input[name=new_password]", "another-Pass-8842")
    page.click("form button[type=submit]")
    page.wait_for_selector(".notice.info:text('Password changed')")
    page.wait_for_selector("#conn[data-state=live]")
    page.reload()  # the renewed refresh cookie restores the session
    page.wait_for_selector("h1:text('Change password')")
    assert "/signin" not in page.url


def _otp_for(log: Path, email: str) -> str | None:
    text = log.read_text(errors="replace") if log.exists() else ""
    found = re.findall(rf"To: {re.escape(email)}.*?Your code is (\d{{6}})", text, re.S)
    return found[-1] if found else None


def test_staff_get_a_link_to_the_admin(page, product):
    email, password = (product.data_dir / "demo-logins.txt").read_text().splitlines()[0].split()[:2]
    sign_in(page, product, email, password)
    page.wait_for_selector("#nav a[href='/admin/']")
    page.click("#nav a[href='/admin/']")
    page.wait_for_url("**/admin/**")


def test_a_session_survives_a_reload(page, product, demo):
    sign_in(page, product, *demo, path="/training")
    page.wait_for_url("**/training")
    page.reload()
    page.wait_for_selector("h1:text('Training bay')")
    assert "/signin" not in page.url


def test_create_form_shows_field_errors_then_the_bot_trades_live(page, product, demo, demo_api):
    sign_in(page, product, *demo, path="/bots/new")
    page.wait_for_selector("form.bot-form")
    name = f"Form bot {uuid.uuid4().hex[:4]}"
    page.fill("input[name=name]", name)
    page.fill("input[name=symbol]", "NOPE/USDT")
    page.select_option("select[name=strategy]", "sma_cross")
    page.fill("input[name='params.fast']", "50")
    page.fill("input[name='params.slow']", "20")
    page.click("form button[type=submit]")

    symbol_error = page.locator('.field[data-field="symbol"] .field-error')
    symbol_error.wait_for()
    assert "not listed on simulated" in symbol_error.inner_text()
    assert page.locator("input[name=symbol]").get_attribute("aria-invalid") == "true"

    page.fill("input[name=symbol]", "BTC/USDT")
    page.click("form button[type=submit]")
    fast_error = page.locator('.field[data-field="params.fast"] .field-error')
    fast_error.filter(has_text="less than slow").wait_for()
    assert "less than slow" in fast_error.inner_text()
    assert page.locator('.field[data-field="symbol"] .field-error').inner_text() == ""

    # A DCA bot that buys at every tick, ticking every second: its first trade comes quickly.
    page.select_option("select[name=strategy]", "dca")
    page.fill("input[name='params.every_ticks']", "1")
    page.fill("input[name=interval_seconds]", "1")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r".*/bots/\d+$"))
    bot_id = int(page.url.rsplit("/", 1)[1])
    page.wait_for_selector(".bot-actions [data-action=start]:not([aria-disabled])")
    assert page.locator("h1.bot-title").inner_text() == name
    page.wait_for_selector("text=No trades yet")  # the whole page is loaded, before the bot starts

    page.click("[data-action=start]")
    page.wait_for_selector(".page-head .badge.st-running")
    page.wait_for_selector(".bot-actions [data-action=start][aria-disabled=true]")
    # The first trade arrives through the stream: no reload.
    page.wait_for_selector(".trades-list tbody tr", timeout=60_000)
    page.wait_for_selector("ol.events li[data-type=trade_executed]")
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1
    if SCREENSHOTS:
        page.wait_for_timeout(500)  # let the debounced charts redraw with the trade
        page.screenshot(path=str(Path(SCREENSHOTS) / "dashboard-bot.png"), full_page=True)

    page.click("[data-action=pause]")
    page.wait_for_selector(".page-head .badge.st-paused")
    page.wait_for_selector("[data-action=resume]:not([aria-disabled])")
    page.click("[data-action=resume]")
    page.wait_for_selector(".page-head .badge.st-running")
    page.click("[data-action=stop]")
    page.wait_for_selector(".page-head .badge.st-stopped")
    page.wait_for_selector("[data-action=start]:not([aria-disabled])")
    assert demo_api.get(f"bots/{bot_id}").json()["bot"]["status"] == "stopped"


def test_the_bots_list_follows_changes_made_elsewhere_and_shows_a_refusal(page, product, demo, demo_api):
    bot = create_bot(demo_api, name="Elsewhere", interval_seconds=1, params={"every_ticks": 1})
    sign_in(page, product, *demo, path="/bots")
    row(page, bot["id"]).wait_for()
    assert row(page, bot["id"]).locator(".badge.st-stopped").count() == 1

    assert demo_api.post(f"bots/{bot['id']}/start").status_code == 200  # another device starts it
    row(page, bot["id"]).locator(".badge.st-running").wait_for()
    row(page, bot["id"]).locator("[data-action=pause]:not([aria-disabled])").wait_for()
    assert row(page, bot["id"]).locator("[data-action=start]").get_attribute("aria-disabled") == "true"
    # Its trades move the counters, still without a reload.
    page.wait_for_function(
        'id => Number(document.querySelector(`tr[data-key="${id}"] td[data-label=Trades]`).textContent) > 0',
        arg=bot["id"],
        timeout=60_000,
    )

    # Start on a running bot: the API refuses and the page says why.
    # Playwright will not click an aria-disabled button; a keyboard user reaches it and presses Enter.
    row(page, bot["id"]).locator("[data-action=start]").focus()
    page.keyboard.press("Enter")
    refusal = page.locator(".action-status .notice.error")
    refusal.wait_for()
    assert "already running" in refusal.inner_text()
    demo_api.post(f"bots/{bot['id']}/stop")
    row(page, bot["id"]).locator(".badge.st-stopped").wait_for()


def _seconds(countdown: str) -> int:
    """``1d 00:00:00`` or ``23:59:59`` as seconds: the text compares wrongly across a day."""
    days, _, clock = countdown.strip().rpartition(" ")
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return int(days.rstrip("d") or 0) * 86400 + hours * 3600 + minutes * 60 + seconds


def test_training_countdown_ticks_and_promotion_says_why_it_waits(page, product, demo):
    sign_in(page, product, *demo, path="/training")
    countdown = page.locator(".countdown").first
    countdown.wait_for()
    first = countdown.inner_text()
    assert re.fullmatch(r"(\d+d )?\d\d:\d\d:\d\d", first)
    page.wait_for_function("t => document.querySelector('.countdown').textContent !== t", arg=first)
    assert _seconds(countdown.inner_text()) < _seconds(first)

    promote = page.locator("button:text('Promote')").first
    assert promote.get_attribute("aria-disabled") == "true"
    assert "needs" in page.locator(".why").first.inner_text()
    promote.focus()
    page.keyboard.press("Enter")
    page.locator("[role=status] .notice.error").wait_for()


def test_a_platform_card_drills_down_and_history_works(page, product, demo):
    sign_in(page, product, *demo)
    page.wait_for_selector(".card.platform[data-platform=simulated]")
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "dashboard-overview.png"), full_page=True)
    assert page.locator("#conn-text").inner_text() == "live"
    assert "updated" in page.locator("#updated").inner_text()

    page.click(".card.platform[data-platform=simulated]")
    page.wait_for_url("**/platforms/simulated?mode=paper")
    page.wait_for_selector("tr[data-key]")
    assert page.locator("tr[data-key]").count() >= 4
    page.click("a.tab:text('Live')")
    page.wait_for_url("**/platforms/simulated?mode=live")
    page.wait_for_selector("tr[data-key] >> text=Demo live BTC (training)")

    page.go_back()
    page.wait_for_url("**/platforms/simulated?mode=paper")
    page.wait_for_selector("a.tab[aria-current=page]:text('Paper')")
    page.go_back()
    page.wait_for_url(f"{product.base_url}/")
    page.wait_for_selector(".card.platform")
    page.go_forward()
    page.wait_for_url("**/platforms/simulated?mode=paper")
    page.wait_for_selector("tr[data-key]")
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1


def test_a_saved_key_shows_only_its_hint(page, product, demo):
    sign_in(page, product, *demo, path="/keys")
    page.wait_for_selector("select[name=provider]")
    secret = "s3cr3t-" + uuid.uuid4().hex
    page.select_option("select[name=provider]", "binance")
    page.select_option("select[name=purpose]", "backtest")
    page.fill("input[name=label]", "ui")
    page.fill("input[name=api_key]", "APIKEY-ABCDEFGH-7788")
    page.fill("input[name=api_secret]", secret)
    page.click("form:has(h2:text('Add or replace')) button[type=submit]")
    page.wait_for_selector("tr[data-key] >> text=ui")
    content = page.content()
    assert secret not in content and "APIKEY-ABCDEFGH-7788" not in content
    hint = page.locator("tr[data-key] code.hint-code").first.inner_text()
    assert hint.endswith("7788") and len(hint) < 12


def test_a_hostile_bot_name_is_text(page, product, demo, demo_api):
    name = '<img src=x onerror="window.__xss=1">'
    bot = create_bot(demo_api, name=name)
    sign_in(page, product, *demo, path="/bots")
    row(page, bot["id"]).wait_for()
    assert row(page, bot["id"]).locator("a.bot-name").inner_text() == name
    assert page.locator("main img").count() == 0
    page.click(f'a[href="/bots/{bot["id"]}"]')
    page.wait_for_selector("h1.bot-title")
    assert page.locator("h1.bot-title").inner_text() == name
    assert page.evaluate("() => window.__xss") is None


def test_the_page_catches_up_after_the_asgi_server_restarts(page, product, demo, demo_api):
    bot = create_bot(
        demo_api, name="Restarted", interval_seconds=1, params={"every_ticks": 1, "order_pct": 0.05, "max_orders": 20}
    )
    sign_in(page, product, *demo, path=f"/bots/{bot['id']}")
    page.wait_for_selector("h1.bot-title")
    demo_api.post(f"bots/{bot['id']}/start")
    page.wait_for_selector(".trades-list tbody tr", timeout=60_000)
    seq_before = page.evaluate("() => window.__botfleetStream.lastSeq()")

    product.restart("asgi")  # the stream drops; trades go on in the worker meanwhile
    page.wait_for_function("() => window.__botfleetStream.state() !== 'live'")
    page.wait_for_function("() => window.__botfleetStream.state() === 'live'", timeout=90_000)
    count = lambda: len(product.query("SELECT id FROM bots_trade WHERE bot_id = %s", [bot["id"]]))  # noqa: E731
    after_restart = count()
    wait_until(lambda: count() > after_restart, timeout=60, what="a trade after the restart")
    demo_api.post(f"bots/{bot['id']}/stop")
    page.wait_for_selector(".page-head .badge.st-stopped")

    expected = sorted(
        r[0]
        for r in product.query("SELECT id FROM bots_trade WHERE bot_id = %s ORDER BY id DESC LIMIT 20", [bot["id"]])
    )
    # The badge may turn on a refresh of the bot before the relay has brought the last trade:
    # wait for the stream's bot_stopped, which comes after every trade of the bot.
    page.wait_for_selector("li[data-type=bot_stopped]")
    shown = page.evaluate(
        "() => [...document.querySelectorAll('.trades-list tr[data-key]')].map(r => Number(r.dataset.key))"
    )
    assert sorted(shown) == expected  # every trade, once
    assert page.locator(".trade-count").inner_text() == f"{count()} trades"
    events = page.evaluate(
        "() => [...document.querySelectorAll('li[data-type=trade_executed]')].map(li => Number(li.dataset.seq))"
    )
    assert len(events) == len(set(events))
    assert page.evaluate("() => window.__botfleetStream.lastSeq()") > seq_before
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1


def test_a_phone_width_screen_gets_one_card_per_bot(page, product, demo):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, product, *demo, path="/bots")
    page.wait_for_selector("tr[data-key]")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    label = page.evaluate("() => getComputedStyle(document.querySelector('tr[data-key] td'), '::before').content")
    assert label == '"Bot"'
