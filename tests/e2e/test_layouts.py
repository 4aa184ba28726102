"""Each process layout, run from its own Procfile as a process manager (or ``make run``) runs it.

After nothing but ``manage.py migrate`` (issue 16, item 11), the HTTP server of each
layout serves the admin's stylesheet and the API docs' assets (item 17, 18), and its
ASGI server writes no token of a ``?token=`` URL to its access log (item 6) — the
production ``Procfile`` included, whose ``asgi`` line used to be plain daphne.

These run on the embedded database (the layouts' commands do not depend on it), once,
in the embedded pass of ``.ci/run``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from config.processes import PROCFILE, PROCFILE_EMBEDDED
from tests.conftest import USING_POSTGRES
from tests.processes import Product, free_port, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(USING_POSTGRES, reason="the layouts are checked once, in the embedded pass"),
]

STATIC_FILES = (
    "/static/admin/css/base.css",
    "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js",
)


class Layout:
    def __init__(self, procfile: Path):
        self.procfile = procfile
        self.product = Product(extra_env={})
        if procfile == PROCFILE:
            # Production: WSGI for HTTP on one port, ASGI for the streams on another.
            self.asgi_port = free_port()
            self.product.extra_env.update(WEB_PORT=str(self.product.port), ASGI_PORT=str(self.asgi_port))
            self.http_processes = ("web", "asgi")
        else:
            self.asgi_port = self.product.port
            self.http_processes = ("asgi",)

    @property
    def asgi_url(self) -> str:
        return f"http://127.0.0.1:{self.asgi_port}"

    def start(self) -> Layout:
        self.product.manage("migrate", "--noinput")  # and nothing else: `migrate` must be enough
        self.product.start(*self.http_processes, procfile=self.procfile)
        wait_until(
            lambda: httpx.get(f"{self.asgi_url}/api/health", timeout=2).status_code == 200,
            timeout=120,
            what="the ASGI server",
        )
        return self


@pytest.fixture(scope="module", params=[PROCFILE_EMBEDDED, PROCFILE], ids=["Procfile.embedded", "Procfile"])
def layout(request):
    layout = Layout(request.param)
    try:
        yield layout.start()
    except BaseException:
        print(layout.product.logs())
        raise
    finally:
        layout.product.cleanup()


@pytest.mark.parametrize("path", STATIC_FILES)
def test_the_http_server_serves_static_files(layout, path):
    response = httpx.get(f"{layout.product.base_url}{path}", timeout=10)

    assert response.status_code == 200, (layout.procfile.name, path)
    expected = "text/css" if path.endswith(".css") else "javascript"
    assert expected in response.headers["content-type"]
    assert len(response.content) > 1000


def test_the_docs_pages_load_their_assets_from_this_server(layout):
    for page in ("/api/docs/", "/api/redoc/"):
        html = httpx.get(f"{layout.product.base_url}{page}", timeout=10).text

        assert "/static/drf_spectacular_sidecar/" in html, page
        assert "cdn" not in html.lower() and "@latest" not in html, page


def test_tokens_in_stream_urls_never_reach_the_access_log(layout):
    token = f"eyJsecret{uuid.uuid4().hex}"
    with httpx.Client(base_url=layout.asgi_url, timeout=10) as http:
        refused = http.post(f"/api/realtime/events?token={token}")  # an EventSource never POSTs
        unauthorized = http.get(f"/api/realtime/events?last_seq=3&token={token}")
    assert (refused.status_code, unauthorized.status_code) == (403, 401)
    log = layout.product.data_dir / "asgi.log"

    wait_until(
        lambda: log.read_text(errors="replace").count("token=[redacted]") >= 2,
        timeout=20,
        what="both requests in the access log",
    )
    text = log.read_text(errors="replace")
    assert token not in text
    assert "POST /api/realtime/events?token=[redacted]" in text
    assert "GET /api/realtime/events?last_seq=3&token=[redacted]" in text


def test_migrate_alone_leaves_the_cache_ready(layout):
    response = httpx.get(f"{layout.product.base_url}/api/ready", timeout=10)

    checks = response.json().get("checks") or response.json()["error"]["details"]["checks"]
    assert checks["cache"] == {"ok": True}
    assert checks["database"] == {"ok": True}
