"""The web app's shell at ``/`` and its deep links, through WSGI and through the ASGI
application ``make run`` serves (the ``api`` fixture runs each test both ways)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

DEEP_LINKS = [
    "/",
    "/signin",
    "/register",
    "/verify",
    "/account/password",
    "/bots",
    "/bots/new",
    "/bots/12",
    "/bots/12/edit",
    "/backtests",
    "/backtests/3",
    "/platforms/simulated",
    "/keys",
    "/training",
]


@pytest.mark.parametrize("path", DEEP_LINKS)
def test_every_page_of_the_app_answers_its_shell(api, path):
    response = api.get(path, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert '<script type="module" src="/static/web/app.js"></script>' in body
    assert "no-store" in response["Cache-Control"]


def test_the_shell_has_a_strict_policy_and_no_inline_script(api):
    response = api.get("/")
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))

    assert policy["script-src"] == "'self'"
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert "ws://testserver" in policy["connect-src"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", response.content.decode(), re.S)
    assert scripts and all("src=" in attrs and not inner.strip() for attrs, inner in scripts)
    assert response["X-Frame-Options"] == "DENY"


def test_the_app_shadows_neither_the_api_nor_other_paths(api):
    assert api.get("/api/health").json()["success"] is True
    assert api.get("/api/bots").status_code == 401  # still the API's JSON, not the shell
    assert api.get("/bots/12/nonsense").status_code == 404
    assert api.get("/bots/x").status_code == 404
    assert api.post("/", {}).status_code == 405


@pytest.mark.parametrize(
    "name", ["app.js", "api.js", "stream.js", "dom.js", "app.css", "pages/overview.js", "pages/botdetail.js"]
)
def test_the_app_files_are_served(api, name):
    response = api.get(f"/static/web/{name}")

    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] in ("text/javascript", "application/javascript", "text/css")
