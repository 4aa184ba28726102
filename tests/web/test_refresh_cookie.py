"""``"cookie": true`` on the auth endpoints: the refresh token goes to an HttpOnly,
SameSite=Strict cookie on ``/api/auth/`` and stays out of the body (the web app keeps only
the access token, in memory); ``auth/refresh`` and ``auth/logout`` read it from there."""

from __future__ import annotations

import pytest

from accounts.views import REFRESH_COOKIE

pytestmark = pytest.mark.django_db


def _login(api, owner, password, **extra):
    return api.post("/api/auth/login", {"email": owner.email, "password": password, **extra}, format="json")


def test_login_with_cookie_sets_it_and_keeps_the_refresh_token_out_of_the_body(api, owner, password):
    response = _login(api, owner, password, cookie=True)

    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body and body["access_token"]
    cookie = response.cookies[REFRESH_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/api/auth/"
    assert int(cookie["max-age"]) > 0


def test_without_the_option_nothing_changes(api, owner, password):
    response = _login(api, owner, password)

    assert response.json()["refresh_token"]
    assert REFRESH_COOKIE not in response.cookies


def test_refresh_reads_the_cookie_and_rotates_it(api, owner, password):
    first = _login(api, owner, password, cookie=True).cookies[REFRESH_COOKIE].value

    response = api.post("/api/auth/refresh", {}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["access_token"] and "refresh_token" not in response.json()
    rotated = response.cookies[REFRESH_COOKIE].value
    assert rotated and rotated != first
    # The old one was used up: replaying it fails.
    api.cookies[REFRESH_COOKIE] = first
    assert api.post("/api/auth/refresh", {}, format="json").status_code == 401


def test_refresh_without_cookie_or_body_names_the_field(api):
    response = api.post("/api/auth/refresh", {}, format="json")

    assert response.status_code == 400
    assert "refresh" in response.json()["error"]["details"]


def test_logout_revokes_the_cookie_token_and_clears_it(api, owner, password):
    access = _login(api, owner, password, cookie=True).json()["access_token"]
    token = api.cookies[REFRESH_COOKIE].value

    response = api.post("/api/auth/logout", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {access}")

    assert response.status_code == 200
    assert response.cookies[REFRESH_COOKIE].value == ""
    api.cookies[REFRESH_COOKIE] = token
    assert api.post("/api/auth/refresh", {}, format="json").status_code == 401


def test_register_with_cookie(api):
    response = api.post(
        "/api/auth/register",
        {"email": "new@example.com", "password": "a-Long-pass-9911", "cookie": True},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert "refresh_token" not in response.json()
    assert response.cookies[REFRESH_COOKIE].value
