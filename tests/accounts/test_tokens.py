"""Access and refresh tokens: refresh rotation, logout, revocation, bad tokens."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import RevokedAccessToken
from accounts.tokens import VERSION_CLAIM
from tests.conftest import bearer_client
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db


def me(client, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get("/api/auth/me", **headers)


def refresh(client, raw, key="refresh"):
    return client.post("/api/auth/refresh", {key: raw}, format="json")


# ---------------------------------------------------------------------------
# Bad access tokens
# ---------------------------------------------------------------------------
def test_no_token_is_a_401(api_client):
    error = assert_error(me(api_client), 401, "NOT_AUTHENTICATED")
    assert error["message"] == "Authentication credentials were not provided."


@pytest.mark.parametrize("raw", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_a_garbage_token_is_a_401(api_client, raw):
    response = me(api_client, raw)

    error = assert_error(response, 401, "AUTHENTICATION_FAILED")
    assert error["message"] == "Token is invalid or expired."
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_signed_with_another_key_is_a_401(api_client, owner):
    claims = {"token_type": "access", "user_id": str(owner.pk), "jti": "x" * 32, VERSION_CLAIM: 0}
    claims["exp"] = int((timezone.now() + timedelta(minutes=5)).timestamp())
    forged = jwt.encode(claims, "not-our-key-" * 4, algorithm="HS256")

    assert_error(me(api_client, forged), 401, "AUTHENTICATION_FAILED")


@pytest.mark.parametrize("user_id", [None, "not-a-number", "999999"])
def test_a_validly_signed_token_for_no_user_is_a_401(api_client, user_id):
    token = AccessToken()
    token["user_id"] = user_id
    token[VERSION_CLAIM] = 0

    assert_error(me(api_client, str(token)), 401, "AUTHENTICATION_FAILED")


def test_an_expired_token_is_a_401(api_client, owner):
    token = AccessToken.for_user(owner)
    token[VERSION_CLAIM] = owner.token_version
    token.set_exp(from_time=timezone.now() - timedelta(hours=1))

    error = assert_error(me(api_client, str(token)), 401, "AUTHENTICATION_FAILED")
    assert error["message"] == "Token is invalid or expired."


def test_a_remembered_token_still_expires(owner_client, monkeypatch):
    # Given a token verified once (and remembered)
    assert me(owner_client).status_code == 200
    later = timezone.now() + settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] + timedelta(minutes=1)

    # When its lifetime has passed
    monkeypatch.setattr("accounts.authentication.aware_utcnow", lambda: later)

    # Then
    assert_error(me(owner_client), 401, "AUTHENTICATION_FAILED")


def test_a_token_with_a_non_numeric_user_id_is_a_401(api_client, owner):
    token = AccessToken.for_user(owner)
    token["user_id"] = "not-a-number"

    assert_error(me(api_client, str(token)), 401, "AUTHENTICATION_FAILED")


def test_a_refresh_token_is_not_an_access_token(api_client, owner_client):
    assert_error(me(api_client, owner_client.tokens["refresh_token"]), 401, "AUTHENTICATION_FAILED")


def test_a_token_of_a_deleted_user_is_a_401(api_client, owner, owner_client):
    owner.delete()

    assert_error(me(owner_client), 401, "AUTHENTICATION_FAILED")


def test_a_token_from_before_a_version_bump_is_revoked(owner, owner_client):
    owner.token_version = 1
    owner.save(update_fields=["token_version"])

    error = assert_error(me(owner_client), 401, "AUTHENTICATION_FAILED")
    assert error["message"] == "Token has been revoked."


def test_a_disabled_account_is_403_account_disabled_for_access_and_refresh(api_client, owner, owner_client):
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    error = assert_error(me(owner_client), 403, "ACCOUNT_DISABLED")
    assert error["message"] == "This account has been disabled by staff."
    assert_error(refresh(api_client, owner_client.tokens["refresh_token"]), 403, "ACCOUNT_DISABLED")


def test_authentication_costs_one_query(owner_client, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert me(owner_client).status_code == 200


# ---------------------------------------------------------------------------
# Refresh with rotation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["refresh", "refresh_token"])
def test_refresh_rotates_and_the_old_refresh_token_stops_working(api_client, owner, owner_client, key):
    old = owner_client.tokens["refresh_token"]

    response = refresh(api_client, old, key)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["token"] == body["access_token"]
    assert body["refresh_token"] != old
    assert me(api_client, body["access_token"]).json()["user"]["id"] == owner.pk
    assert_error(refresh(api_client, old), 401, "TOKEN_INVALID")
    assert refresh(api_client, body["refresh_token"]).status_code == 200


def test_a_refresh_token_is_used_at_most_once_even_if_not_yet_blacklisted_in_memory(api_client, owner_client):
    raw = owner_client.tokens["refresh_token"]
    assert refresh(api_client, raw).status_code == 200
    count = BlacklistedToken.objects.count()

    assert_error(refresh(api_client, raw), 401, "TOKEN_INVALID")
    assert BlacklistedToken.objects.count() == count


@pytest.mark.parametrize("raw", ["garbage", "a.b.c"])
def test_refresh_with_a_garbage_token_is_a_401(api_client, raw):
    error = assert_error(refresh(api_client, raw), 401, "TOKEN_INVALID")
    assert error["message"] == "Refresh token is invalid, expired or revoked."


def test_refresh_with_an_access_token_is_a_401(api_client, owner_client):
    assert_error(refresh(api_client, owner_client.tokens["access_token"]), 401, "TOKEN_INVALID")


def test_refresh_without_a_token_is_a_400(api_client):
    error = assert_error(api_client.post("/api/auth/refresh", {}, format="json"), 400, "VALIDATION_ERROR")
    assert error["details"] == {"refresh": ["Give the refresh token as refresh or refresh_token."]}


def test_refresh_after_a_password_change_elsewhere_is_revoked(api_client, owner, owner_client):
    owner.token_version += 1
    owner.save(update_fields=["token_version"])

    assert_error(refresh(api_client, owner_client.tokens["refresh_token"]), 401, "TOKEN_REVOKED")


# ---------------------------------------------------------------------------
# Logout
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["refresh", "refresh_token"])
def test_logout_revokes_the_access_token_and_the_refresh_token_at_once(api_client, owner_client, key):
    pair = owner_client.tokens

    response = owner_client.post("/api/auth/logout", {key: pair["refresh_token"]}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "message": "Logged out."}
    error = assert_error(me(owner_client), 401, "AUTHENTICATION_FAILED")
    assert error["message"] == "Token has been revoked."
    assert_error(refresh(api_client, pair["refresh_token"]), 401, "TOKEN_INVALID")
    assert RevokedAccessToken.objects.count() == 1


def test_logout_without_a_refresh_token_revokes_the_access_token_only(api_client, owner_client):
    assert owner_client.post("/api/auth/logout", {}, format="json").status_code == 200

    assert_error(me(owner_client), 401, "AUTHENTICATION_FAILED")
    assert refresh(api_client, owner_client.tokens["refresh_token"]).status_code == 200


def test_logout_leaves_other_sessions_alone(owner):
    first, second = bearer_client(owner), bearer_client(owner)

    first.post("/api/auth/logout", {"refresh": first.tokens["refresh_token"]}, format="json")

    assert me(second).status_code == 200


def test_logout_with_someone_elses_refresh_token_is_a_400_and_changes_nothing(api_client, owner_client, other_client):
    response = owner_client.post("/api/auth/logout", {"refresh": other_client.tokens["refresh_token"]}, format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"] == {"refresh": ["This refresh token belongs to another session."]}
    assert me(owner_client).status_code == 200
    assert refresh(api_client, other_client.tokens["refresh_token"]).status_code == 200
    assert RevokedAccessToken.objects.count() == 0


def test_logout_with_an_unusable_refresh_token_still_logs_out(owner_client):
    response = owner_client.post("/api/auth/logout", {"refresh": "garbage"}, format="json")

    assert response.status_code == 200
    assert_error(me(owner_client), 401, "AUTHENTICATION_FAILED")


def test_logout_needs_a_token(api_client):
    assert_error(api_client.post("/api/auth/logout", {}, format="json"), 401, "NOT_AUTHENTICATED")


def test_logout_twice_is_a_401_the_second_time(owner_client):
    owner_client.post("/api/auth/logout", {}, format="json")

    assert_error(owner_client.post("/api/auth/logout", {}, format="json"), 401, "AUTHENTICATION_FAILED")


def test_revoked_access_tokens_expire_with_the_token(owner_client):
    owner_client.post("/api/auth/logout", {}, format="json")

    revoked = RevokedAccessToken.objects.get()
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    assert timezone.now() + lifetime - timedelta(minutes=1) < revoked.expires_at <= timezone.now() + lifetime
