"""What a person sees, in a real browser, on the product as ``make run`` starts it.

The staff admin must be styled (its stylesheet is served and applied), and Swagger UI
and ReDoc must render the API from assets this server serves — nothing from a CDN: the
page is offline except for the product itself, and any other request is refused and
recorded. (ReDoc's own sidebar logo is an image from its CDN that hides itself when it
cannot load; images are recorded apart and tolerated.)
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.conftest import USING_POSTGRES
from tests.processes import running_product

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(USING_POSTGRES, reason="checked once, in the embedded pass"),
]


@pytest.fixture(scope="module")
def product():
    # The admin and the docs need the HTTP server only: no worker, beat or relay competing
    # with chromium for the CPU.
    with running_product(services=False, start=False) as product:
        yield product.start("asgi")


@pytest.fixture
def page(chromium, product):
    """A page that may reach the product only; every other request is refused and kept."""
    context = chromium.new_context()
    page = context.new_page()
    page.foreign_requests, page.foreign_images = [], []
    own = urlsplit(product.base_url).netloc

    def route(route):
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
            return
        kept = page.foreign_images if route.request.resource_type == "image" else page.foreign_requests
        kept.append(route.request.url)
        route.abort()

    page.route("**/*", route)
    page.set_default_timeout(30_000)
    yield page
    context.close()


def staff_login(product) -> tuple[str, str]:
    email, password = (product.data_dir / "demo-logins.txt").read_text().splitlines()[0].split()[:2]
    return email, password


def test_the_admin_is_styled(page, product):
    email, password = staff_login(product)
    stylesheets = []
    page.on("response", lambda r: stylesheets.append((r.url, r.status)) if r.url.endswith(".css") else None)

    page.goto(f"{product.base_url}/admin/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

    assert (f"{product.base_url}/static/admin/css/base.css", 200) in stylesheets
    # Applied, not only fetched: base.css gives the header its colour and the page its font.
    header = page.eval_on_selector("#header", "e => getComputedStyle(e).backgroundColor")
    font = page.eval_on_selector("body", "e => getComputedStyle(e).fontFamily")
    assert header not in ("rgba(0, 0, 0, 0)", "transparent"), header
    assert "Times" not in font and font != "", font
    assert page.foreign_requests == []


def test_swagger_ui_renders_the_api(page, product):
    page.goto(f"{product.base_url}/api/docs/")

    title = page.wait_for_selector(".swagger-ui .info .title")
    assert title.inner_text().startswith("Botfleet API")
    page.wait_for_selector('.opblock-summary-path[data-path="/api/auth/login"]')
    assert page.foreign_requests == []


def test_redoc_renders_the_api(page, product):
    page.goto(f"{product.base_url}/api/redoc/")

    heading = page.wait_for_selector("h1")
    assert heading.inner_text().startswith("Botfleet API")
    page.wait_for_selector('[data-section-id^="tag/"]')
    assert page.locator('[data-section-id^="operation/"]').count() > 20
    assert page.foreign_requests == []
