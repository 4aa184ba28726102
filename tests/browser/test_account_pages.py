"""The dashboard's account-security and notifications pages (issue 22 item 6, issue 21 item 4),
in a real Chromium on the product as ``make run`` starts it.

Telegram and the webhook receiver are local fakes (tests/fakes/notify.py) the product is
pointed at; mails are read from the processes' logs (the console mail backend). TOTP codes
are computed here with pyotp, each for a step the server has not seen used, so no test
waits for the clock beyond making sure a step is not about to end.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path

import httpx
import pyotp
import pytest

from tests.browser.conftest import sign_in
from tests.conftest import USING_POSTGRES
from tests.fakes.notify import FakeTelegram, WebhookReceiver
from tests.processes import running_product, wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(USING_POSTGRES, reason="checked once, in the embedded pass"),
]

PASSWORD = "a-Long-pass-5531"
# Screenshots for the README when this names a folder (as in test_dashboard.py).
SCREENSHOTS = os.environ.get("BOTFLEET_SCREENSHOTS")


def screenshot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def receiver():
    fake = WebhookReceiver().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def telegram():
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def product(receiver, telegram):
    env = {
        "TELEGRAM_API_URL": telegram.url,
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "NOTIFICATIONS_ALLOW_PRIVATE_URLS": "1",  # the receiver is on loopback
        "NOTIFICATIONS_RETRY_BASE_SECONDS": "1",
        "NOTIFICATIONS_SWEEP_SECONDS": "1",
        # Every test registers and signs in from this one address: the sign-in throttles are
        # tested elsewhere, not hit here.
        "THROTTLE_AUTH": "600/min",
        "THROTTLE_OTP": "120/min",
    }
    with running_product(services=False, extra_env=env, start=False) as product:
        product.extra_env["PUBLIC_URL"] = product.base_url  # the reset mail links to this app
        product.start()
        yield product


def new_user(product, email=None) -> tuple[str, str]:
    email = email or f"acct-{uuid.uuid4().hex[:8]}@example.com"
    answer = httpx.post(f"{product.base_url}/api/auth/register", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    return email, PASSWORD


def api_client(product, email, password, **headers) -> httpx.Client:
    """Another device's session (its own sign-in), as an authenticated client."""
    answer = httpx.post(
        f"{product.base_url}/api/auth/login", json={"email": email, "password": password}, headers=headers
    ).json()
    token = answer["access_token"]
    return httpx.Client(
        base_url=f"{product.base_url}/api/", headers={"Authorization": f"Bearer {token}", **headers}, timeout=30
    )


def mail_matching(product, pattern: str) -> str | None:
    """The last match of ``pattern``'s group in any process's log (the console mail backend)."""
    found = []
    for log in sorted(Path(product.data_dir).glob("*.log")):
        found += re.findall(pattern, log.read_text(errors="replace"), re.S)
    return found[-1] if found else None


def step_with_time_left(seconds: float = 6) -> None:
    """Waits (polling) until the current 30 s TOTP step has ``seconds`` left, so a code computed
    now is judged by the server within the step the test meant."""
    wait_until(lambda: 30 - time.time() % 30 > seconds, timeout=40, what="a TOTP step with time left")


def menu_sign_out(page) -> None:
    page.click("details.menu summary")
    page.click("#signout")
    page.wait_for_url("**/signin")


# ---------------------------------------------------------------------------
# Two-factor sign-in
# ---------------------------------------------------------------------------
def test_two_factor_setup_then_sign_in_with_a_code_and_with_a_recovery_code(page, product):
    email, password = new_user(product)
    sign_in(page, product, email, password, path="/account/security")
    page.click("#tfa-setup")
    qr = page.locator("img.qr")
    qr.wait_for()
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert page.evaluate("() => document.querySelector('img.qr').naturalWidth") > 0  # the image draws
    totp = pyotp.TOTP(page.locator(".tfa-secret").inner_text().strip())
    screenshot(page, "dashboard-security")

    page.fill(".tfa-enable input[name=code]", "000000" if totp.now() != "000000" else "111111")
    page.click(".tfa-enable button[type=submit]")
    page.locator(".tfa-enable .field-error:not(:empty)").wait_for()  # a wrong code is refused in place

    step_with_time_left()
    page.fill(".tfa-enable input[name=code]", totp.now())
    page.click(".tfa-enable button[type=submit]")
    page.locator(".recovery-codes li").first.wait_for()
    recovery = page.locator(".recovery-codes li").all_inner_texts()
    assert len(recovery) == 10 and len(set(recovery)) == 10
    page.click("button:text('I have saved them')")
    page.wait_for_selector(".tfa-state:has-text('10 recovery codes left')")
    assert page.locator(".recovery-codes").count() == 0  # shown once: gone from the page

    # Sign in again: the password, then the authenticator's code (next step; the enabling one is spent).
    menu_sign_out(page)
    page.goto(f"{product.base_url}/signin?next=%2Faccount%2Fsecurity")
    page.fill("input[name=identifier]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_selector("h1:text('Two-factor sign-in')")
    assert page.evaluate("() => window.__botfleetStream.state()") != "live"  # no session yet
    page.fill("input[name=code]", "123456" if totp.at(time.time() + 30) != "123456" else "654321")
    page.click("form button[type=submit]")
    page.locator(".field-error:not(:empty), .form-general .notice.error").first.wait_for()
    page.fill("input[name=code]", totp.at(time.time() + 30))
    page.click("form button[type=submit]")
    page.wait_for_url("**/account/security")
    page.wait_for_selector("#conn[data-state=live]")

    # And with a recovery code, which then works no more.
    menu_sign_out(page)
    page.fill("input[name=identifier]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.click("#use-recovery")
    page.fill("input[name=recovery_code]", recovery[0])
    page.click("form button[type=submit]")
    page.wait_for_selector("#conn[data-state=live]")
    page.goto(f"{product.base_url}/account/security")
    page.wait_for_selector(".tfa-state:has-text('9 recovery codes left')")

    # Turning it off takes the password and a code (here the next recovery code).
    page.fill(".tfa-disable input[name=password]", "wrong-password-1")
    page.fill(".tfa-disable input[name=code]", recovery[1])
    page.click(".tfa-disable button[type=submit]")
    page.locator(".tfa-disable .field[data-field=password] .field-error:not(:empty)").wait_for()
    page.fill(".tfa-disable input[name=password]", password)
    page.click(".tfa-disable button[type=submit]")
    page.wait_for_selector("#tfa-setup")
    page.wait_for_selector(".notice.info:text('Two-factor sign-in is off.')")
    assert httpx.post(f"{product.base_url}/api/auth/login", json={"email": email, "password": password}).json()[
        "access_token"
    ]


def test_with_two_factor_on_sensitive_actions_ask_for_a_fresh_code(page, product):
    email, password = new_user(product)
    sign_in(page, product, email, password, path="/account/security")
    page.wait_for_selector("#tfa-setup")
    # 2FA turned on from another device, with the previous step's code: the page's next
    # two actions use this step's and the next one's, each unused so far.
    step_with_time_left(10)
    with api_client(product, email, password) as other:
        secret = other.post("auth/2fa/setup").json()["secret"]
        totp = pyotp.TOTP(secret)
        assert other.post("auth/2fa/enable", json={"code": totp.at(time.time() - 30)}).status_code == 200

    page.fill(".token-form input[name=name]", "ci-script")
    page.click(".token-form button[type=submit]")
    dialog = page.locator("dialog.fresh-code")
    dialog.wait_for()
    dialog.locator("input").fill(totp.at(time.time() - 30))  # spent already: refused, asked again
    dialog.locator("button[type=submit]").click()
    dialog.locator(".notice.error").wait_for()
    dialog.locator("input").fill(totp.now())
    dialog.locator("button[type=submit]").click()
    page.wait_for_selector(".shown-once.token code")
    assert page.locator("dialog.fresh-code").count() == 0
    page.wait_for_selector("#api-tokens tr[data-key] >> text=ci-script")

    # Closing the account: the password, then (2FA on) a code; cancelling changes nothing.
    page.on("dialog", lambda d: d.accept())  # the confirm() before closing
    page.fill(".close-account input[name=password]", password)
    page.click(".close-account button[type=submit]")
    dialog.wait_for()
    dialog.locator("button:text('Cancel')").click()
    page.locator(".close-account .notice.error:has-text('Cancelled')").wait_for()
    page.click(".close-account button[type=submit]")
    dialog.wait_for()
    dialog.locator("input").fill(totp.at(time.time() + 30))
    dialog.locator("button[type=submit]").click()
    page.wait_for_url("**/signin?closed=1")
    page.wait_for_selector(".notice.info:has-text('Your account is closed')")
    refused = httpx.post(f"{product.base_url}/api/auth/login", json={"email": email, "password": password})
    assert refused.status_code in (401, 403)


def test_with_two_factor_on_saving_keys_asks_for_a_code(page, product):
    email, password = new_user(product)
    sign_in(page, product, email, password, path="/keys")
    page.wait_for_selector("select[name=provider]")
    step_with_time_left(10)
    with api_client(product, email, password) as other:
        totp = pyotp.TOTP(other.post("auth/2fa/setup").json()["secret"])
        assert other.post("auth/2fa/enable", json={"code": totp.at(time.time() - 30)}).status_code == 200

    page.select_option("select[name=provider]", "binance")
    page.select_option("select[name=purpose]", "backtest")
    page.fill("input[name=label]", "2fa")
    page.fill("input[name=api_key]", "APIKEY-TWOFACTOR-1234")
    page.fill("input[name=api_secret]", "s3cr3t-" + uuid.uuid4().hex)
    page.click("form:has(h2:text('Add or replace')) button[type=submit]")
    page.locator("dialog.fresh-code").wait_for()
    page.fill("dialog.fresh-code input", totp.now())
    page.click("dialog.fresh-code button[type=submit]")
    page.wait_for_selector("tr[data-key] >> text=2fa")


# ---------------------------------------------------------------------------
# API tokens, sessions, export
# ---------------------------------------------------------------------------
def test_an_api_token_is_shown_once_works_shows_its_last_use_and_is_revoked(page, product):
    email, password = new_user(product)
    sign_in(page, product, email, password, path="/account/security")
    page.fill(".token-form input[name=name]", "reader")
    page.fill(".token-form input[name=expires_at]", "2099-12-31")
    page.click(".token-form button[type=submit]")
    raw = page.locator(".shown-once.token code").inner_text()
    assert raw.startswith("bfp_")
    row = page.locator("#api-tokens tr[data-key]", has_text="reader")
    row.wait_for()
    assert row.locator("td[data-label='Last used']").inner_text() == "never"
    assert "12/31/99" in row.locator("td[data-label=Expires]").inner_text()  # en-US, the end of that day
    assert "read" in row.locator("td[data-label=Scopes]").inner_text()
    assert raw not in row.inner_text()  # the list shows only its prefix

    bearer = {"Authorization": f"Bearer {raw}"}
    assert httpx.get(f"{product.base_url}/api/bots", headers=bearer).status_code == 200
    page.reload()
    row.wait_for()
    assert row.locator("td[data-label='Last used']").inner_text() != "never"
    assert page.locator(".shown-once.token").count() == 0  # not shown again

    page.on("dialog", lambda d: d.accept())
    row.locator("button:text('Revoke')").click()
    page.wait_for_selector("#api-tokens .notice.info:has-text('Revoked')")
    assert row.count() == 0
    assert httpx.get(f"{product.base_url}/api/bots", headers=bearer).status_code == 401


def test_sessions_are_listed_one_is_ended_and_the_export_downloads(page, product):
    email, password = new_user(product)
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
    other = api_client(product, email, password, **{"User-Agent": firefox})
    sign_in(page, product, email, password, path="/account/security")
    rows = page.locator("#sessions tr[data-key]")
    page.locator("#sessions tr[data-key]", has_text="Firefox on Windows").wait_for()
    assert rows.count() == 3  # registering signed in too
    mine = page.locator("#sessions tr[data-key]", has_text="this device")
    assert mine.count() == 1 and "Firefox" not in mine.inner_text()

    page.locator("#sessions tr[data-key]", has_text="Firefox on Windows").locator("button:text('End')").click()
    page.wait_for_selector("#sessions .notice.info:has-text('Ended the session')")
    assert rows.count() == 2
    assert other.get("auth/me").status_code == 401
    other.close()

    with page.expect_download() as download:
        page.click("#export")
    archive = json.loads(Path(download.value.path()).read_text())["archive"]
    assert (archive["format"], archive["user"]["email"]) == ("botfleet-export", email)
    assert download.value.suggested_filename.startswith("botfleet-export-")

    page.on("dialog", lambda d: d.accept())
    page.click("#signout-everywhere")
    page.wait_for_url("**/signin?signedout=1")
    page.goto(f"{product.base_url}/account/security")  # the refresh cookie no longer restores a session
    page.wait_for_url("**/signin?next=%2Faccount%2Fsecurity")


# ---------------------------------------------------------------------------
# Forgotten password
# ---------------------------------------------------------------------------
def test_a_forgotten_password_is_reset_with_the_mailed_link_once(page, product):
    email, _ = new_user(product)
    page.goto(f"{product.base_url}/signin")
    page.click("a[href='/forgot-password']")
    page.fill("input[name=email]", email)
    page.click("form button[type=submit]")
    page.wait_for_selector(".notice.info:has-text('reset code')")

    pattern = rf"To: {re.escape(email)}.*?or open (\S+/reset-password\?token=\S+)"
    link = wait_until(lambda: mail_matching(product, pattern), timeout=30, what="the reset mail")
    assert link.startswith(product.base_url)
    page.goto(link)
    page.wait_for_selector("h1:text('Choose a new password')")
    assert page.url == f"{product.base_url}/reset-password"  # the token left the address bar
    page.fill("input[name=new_password]", "short")
    page.click("form button[type=submit]")
    page.locator(".field-error:not(:empty), .form-general .notice.error").first.wait_for()
    page.fill("input[name=new_password]", "brand-New-pass-7731")
    page.click("form button[type=submit]")
    page.wait_for_url("**/signin?reset=1")
    page.wait_for_selector(".notice.info:has-text('Sign in with the new password')")
    page.fill("input[name=identifier]", email)
    page.fill("input[name=password]", "brand-New-pass-7731")
    page.click("form button[type=submit]")
    page.wait_for_selector("#conn[data-state=live]")

    token = link.split("token=", 1)[1]
    again = httpx.post(
        f"{product.base_url}/api/auth/password-reset/confirm", json={"token": token, "new_password": "x-Third-pass-99"}
    )
    assert again.status_code == 400  # single use


# ---------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------
def channel(page, name):
    return page.locator("article.channel", has_text=name)


def add_channel(page, kind, name, **fields):
    page.select_option(".channel-form select[name=kind]", kind)
    page.fill(".channel-form input[name=name]", name)
    for key, value in fields.items():
        page.fill(f".channel-form input[name={key}]", value)
    page.click(".channel-form button[type=submit]")
    channel(page, name).wait_for()
    return channel(page, name)


def test_a_webhook_channel_shows_its_secret_once_and_its_test_is_delivered_signed(page, product, receiver):
    email, password = new_user(product)
    sign_in(page, product, email, password, path="/notifications")
    path = f"/hooks/{uuid.uuid4().hex[:6]}"
    card = add_channel(page, "webhook", "My hook", url=receiver.url + path)
    secret = card.locator(".shown-once.secret code").inner_text()
    assert card.locator(".target").inner_text().startswith(receiver.url)
    assert card.locator(".badge.ok").inner_text() == "verified"
    receiver.secrets[path] = secret

    card.locator("button.test").click()
    delivered = page.locator("tr[data-key]", has_text="My hook")
    delivered.locator(".badge.ok:text('delivered')").wait_for()
    assert "HTTP 200" in delivered.locator("td[data-label=Detail]").inner_text()
    assert [r["path"] for r in receiver.received if r["path"] == path] == [path]
    assert receiver.bad_signatures == []

    page.reload()  # shown once: not after a reload
    channel(page, "My hook").wait_for()
    assert page.locator(".shown-once").count() == 0
    assert secret not in page.content()

    # Preferences: which events go to this channel.
    card = channel(page, "My hook")
    card.locator("summary").click()
    boxes = card.locator(".events-form input[name=events]")
    first_checked = card.locator(".events-form input[name=events]:checked").first.get_attribute("value")
    unchecked = card.locator(".events-form input[name=events]:not(:checked)").first.get_attribute("value")
    card.locator(f".events-form input[value='{first_checked}']").uncheck()
    card.locator(f".events-form input[value='{unchecked}']").check()
    total = card.locator(".events-form input[name=events]:checked").count()
    card.locator(".events-form button[type=submit]").click()
    page.wait_for_selector(".notice.info:has-text('Saved the events')")
    with api_client(product, email, password) as client:
        events = client.get("notifications/channels").json()["channels"][0]["events"]
    assert unchecked in events and first_checked not in events and len(events) == total
    assert boxes.count() > total


def test_a_telegram_channel_links_with_its_code_and_an_email_channel_verifies(page, product, telegram):
    email, password = new_user(product)
    sign_in(page, product, email, password, path="/notifications")
    card = add_channel(page, "telegram", "Phone")
    code = card.locator(".shown-once.link-code code").inner_text()
    assert card.locator(".badge.warn").inner_text() == "waiting for the code"

    card.locator("button.link-check").click()  # not sent yet: the page says so
    page.wait_for_selector("[role=status] .notice.error:has-text('has not received')")
    telegram.user_sends(4242, f"/start {code}")
    card.locator("button.link-check").click()
    page.wait_for_selector("article.channel:has-text('Phone') .badge.ok:text('linked')")
    channel(page, "Phone").locator("button.test").click()
    page.locator("tr[data-key]", has_text="Phone").locator(".badge.ok:text('delivered')").wait_for()
    assert any(m["chat_id"] == "4242" for m in telegram.received)

    address = f"alerts-{uuid.uuid4().hex[:6]}@example.com"
    card = add_channel(page, "email", "Alerts", address=address)
    card.locator(".badge.warn:text('unverified')").wait_for()
    mailed = wait_until(
        lambda: mail_matching(product, rf"To: {re.escape(address)}.*?verification code: (\S+)"),
        timeout=30,
        what="the channel's verification mail",
    )
    card.locator(".verify-form input[name=code]").fill(mailed)
    card.locator(".verify-form button[type=submit]").click()
    page.wait_for_selector("article.channel:has-text('Alerts') .badge.ok:text('verified')")
    screenshot(page, "dashboard-notifications")


def test_a_failing_webhook_shows_its_retries_in_the_delivery_log(page, product, receiver):
    email, password = new_user(product)
    sign_in(page, product, email, password, path="/notifications")
    path = f"/down/{uuid.uuid4().hex[:6]}"
    card = add_channel(page, "webhook", "Down hook", url=receiver.url + path)
    receiver.secrets[path] = card.locator(".shown-once.secret code").inner_text()
    receiver.mode = "fail"
    try:
        card.locator("button.test").click()
        row = page.locator("tr[data-key]", has_text="Down hook")
        row.locator("td[data-label=Detail]:has-text('500')").wait_for()
        assert row.locator(".badge").inner_text() in ("pending", "sending")
    finally:
        receiver.mode = "ok"


# ---------------------------------------------------------------------------
# The staff policy (last in the module: it changes a site-wide rule for staff)
# ---------------------------------------------------------------------------
def test_under_the_staff_policy_a_staff_account_is_sent_to_turn_on_two_factor(page, product):
    email, password = (product.data_dir / "demo-logins.txt").read_text().splitlines()[0].split()[:2]
    page.goto(f"{product.base_url}/admin/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{product.base_url}/admin/")
    page.goto(f"{product.base_url}/admin/accounts/accountpolicy/add/")
    page.check("input[name=require_two_factor_for_staff]")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    page.goto(f"{product.base_url}/bots")  # the app's sign-in (the stream may refuse it: not awaited)
    page.fill("input[name=identifier]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_url("**/account/security?required=1")
    page.wait_for_selector(".notice.error:has-text('Staff accounts must turn on two-factor')")
    page.wait_for_selector("#tfa-setup")  # what it needs is on this page
