"""Signed-in sessions: the list (device, IP, created, last used), ending one, ending all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import UserSession
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Safari/604.1"


def sign_in(client, password, user_agent, ip="203.0.113.7"):
    response = client.post(
        "/api/auth/login",
        {"email": "owner@example.com", "password": password},
        format="json",
        HTTP_USER_AGENT=user_agent,
        REMOTE_ADDR=ip,
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(client, pair):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    return client


def test_the_list_shows_each_device(api, owner, password):
    laptop = sign_in(api, password, FIREFOX, ip="203.0.113.7")
    sign_in(api, password, IPHONE, ip="198.51.100.9")

    body = bearer(api, laptop).get("/api/auth/sessions").json()

    assert body["total"] == 2
    rows = {row["device"]: row for row in body["sessions"]}
    assert set(rows) == {"Firefox on Linux", "Safari on iOS"}
    assert rows["Firefox on Linux"]["ip_address"] == "203.0.113.7"
    assert rows["Safari on iOS"]["ip_address"] == "198.51.100.9"
    assert rows["Firefox on Linux"]["current"] is True and rows["Safari on iOS"]["current"] is False
    assert all(row["created_at"] and row["last_used_at"] for row in body["sessions"])


def test_ending_one_session_stops_its_tokens_only(api_client, owner, password):
    laptop = sign_in(api_client, password, FIREFOX)
    phone = sign_in(api_client, password, IPHONE)
    phone_id = UserSession.objects.get(user_agent=IPHONE).pk

    assert bearer(api_client, laptop).delete(f"/api/auth/sessions/{phone_id}").status_code == 200

    assert_error(bearer(api_client, phone).get("/api/auth/me"), 401, "AUTHENTICATION_FAILED")
    refreshed = api_client.post("/api/auth/refresh", {"refresh": phone["refresh_token"]}, format="json")
    assert_error(refreshed, 401, "TOKEN_REVOKED")
    assert bearer(api_client, laptop).get("/api/auth/me").status_code == 200


def test_a_refresh_stays_in_its_session_and_marks_it_used(api_client, owner, password):
    laptop = sign_in(api_client, password, FIREFOX)
    long_ago = timezone.now() - timedelta(days=3)
    UserSession.objects.update(last_used_at=long_ago)

    pair = api_client.post("/api/auth/refresh", {"refresh": laptop["refresh_token"]}, format="json").json()

    assert UserSession.objects.count() == 1
    assert UserSession.objects.get().last_used_at > long_ago
    assert bearer(api_client, pair).get("/api/auth/sessions").json()["sessions"][0]["current"] is True


def test_signing_out_everywhere_ends_every_session(api_client, owner, password):
    laptop = sign_in(api_client, password, FIREFOX)
    phone = sign_in(api_client, password, IPHONE)

    response = bearer(api_client, laptop).delete("/api/auth/sessions")

    assert response.status_code == 200 and response.json()["ended"] == 2
    for pair in (laptop, phone):
        assert_error(bearer(api_client, pair).get("/api/auth/me"), 401, "AUTHENTICATION_FAILED")
        assert (
            api_client.post("/api/auth/refresh", {"refresh": pair["refresh_token"]}, format="json").status_code == 401
        )


def test_logout_with_the_refresh_token_ends_the_session(api_client, owner, password):
    laptop = sign_in(api_client, password, FIREFOX)

    bearer(api_client, laptop).post("/api/auth/logout", {"refresh": laptop["refresh_token"]}, format="json")

    assert UserSession.objects.get().ended_at is not None


def test_a_password_change_keeps_this_session_and_ends_the_others(api_client, owner, password):
    laptop = sign_in(api_client, password, FIREFOX)
    phone = sign_in(api_client, password, IPHONE)

    changed = bearer(api_client, laptop).post(
        "/api/auth/change-password", {"old_password": password, "new_password": "another-passphrase-5"}, format="json"
    )

    assert changed.status_code == 200
    assert_error(bearer(api_client, phone).get("/api/auth/me"), 401, "AUTHENTICATION_FAILED")
    listed = bearer(api_client, changed.json()).get("/api/auth/sessions").json()["sessions"]
    assert [(row["device"], row["current"]) for row in listed] == [("Firefox on Linux", True)]


@pytest.mark.parametrize("session_id", ["0", "99999999999999999999", "-1"])
def test_a_made_up_session_is_a_404(owner_client, session_id):
    response = owner_client.delete(f"/api/auth/sessions/{session_id}")

    assert response.status_code == 404


def test_another_users_session_is_a_404_and_stays(owner_client, other_client, other_user):
    theirs = UserSession.objects.filter(user=other_user).get()

    assert_error(owner_client.delete(f"/api/auth/sessions/{theirs.pk}"), 404, "NOT_FOUND")

    theirs.refresh_from_db()
    assert theirs.ended_at is None
    assert other_client.get("/api/auth/me").status_code == 200


def test_listing_sessions_is_a_constant_number_of_queries(api_client, owner, password, django_assert_max_num_queries):
    pairs = [sign_in(api_client, password, FIREFOX) for _ in range(5)]

    with django_assert_max_num_queries(3):
        assert bearer(api_client, pairs[0]).get("/api/auth/sessions").json()["total"] == 5


def test_a_request_marks_the_session_used_at_most_once_a_minute(api_client, owner, password):
    laptop = sign_in(api_client, password, FIREFOX)
    long_ago = timezone.now() - timedelta(minutes=5)
    UserSession.objects.update(last_used_at=long_ago)

    assert bearer(api_client, laptop).get("/api/auth/me").status_code == 200
    touched = UserSession.objects.get().last_used_at
    assert touched > long_ago

    assert api_client.get("/api/auth/me").status_code == 200
    assert UserSession.objects.get().last_used_at == touched  # within the minute: no second write
