"""Personal API tokens: shown once and stored hashed, scopes, revocation, expiry, last use."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import api_tokens
from accounts.models import ApiToken
from bots.models import Bot
from tests.bots.factories import BotFactory
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db


def create(client, **body):
    return client.post("/api/auth/tokens", {"name": "script", "scopes": ["read"], **body}, format="json")


def with_token(client, raw):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_the_token_is_shown_once_and_stored_hashed(owner_api, owner):
    created = create(owner_api, scopes=["read", "trade"])

    body = created.json()
    assert created.status_code == 201 and body["token"].startswith("bfp_")
    assert body["api_token"]["scopes"] == ["read", "trade"]
    row = ApiToken.objects.get(user=owner)
    assert row.token_hash == api_tokens.digest(body["token"]) and body["token"] not in row.token_hash
    listed = owner_api.get("/api/auth/tokens").json()
    assert listed["total"] == 1 and body["token"] not in str(listed)
    assert listed["tokens"][0]["prefix"] == body["token"][:12]


@pytest.mark.parametrize(
    "scopes", [[], ["root"], "read, admin", 7, ["read", "everything"]], ids=["none", "unknown", "str", "int", "mixed"]
)
def test_bad_scopes_are_a_400_naming_them(owner_api, scopes):
    error = assert_error(create(owner_api, scopes=scopes), 400, "VALIDATION_ERROR")

    assert "scopes" in error["details"]


def test_scopes_may_be_a_comma_separated_string(owner_api):
    assert create(owner_api, scopes="read, keys").json()["api_token"]["scopes"] == ["read", "keys"]


def test_an_expiry_in_the_past_is_a_400(owner_api):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()

    assert_error(create(owner_api, expires_at=past), 400, "VALIDATION_ERROR")


def test_a_token_authenticates_and_its_last_use_is_shown(api_client, owner_client, owner):
    raw = create(owner_client).json()["token"]
    assert ApiToken.objects.get().last_used_at is None

    me = with_token(api_client, raw).get("/api/auth/me")

    assert me.status_code == 200 and me.json()["user"]["email"] == owner.email
    assert owner_client.get("/api/auth/tokens").json()["tokens"][0]["last_used_at"] is not None


def test_a_read_token_cannot_start_a_bot(api_client, owner_client, owner):
    bot = BotFactory(owner=owner)
    raw = create(owner_client, scopes=["read"]).json()["token"]

    response = with_token(api_client, raw).post(f"/api/bots/{bot.pk}/start", {}, format="json")

    error = assert_error(response, 403, "TOKEN_SCOPE_MISSING")
    assert "'trade'" in error["message"] and error["details"]["required_scope"] == "trade"
    bot.refresh_from_db()
    assert bot.status == Bot.Status.STOPPED
    assert api_client.get(f"/api/bots/{bot.pk}").status_code == 200  # reading is what it may do


def test_a_trade_token_can_start_a_bot(api_client, owner_client, owner):
    bot = BotFactory(owner=owner)
    raw = create(owner_client, scopes=["trade"]).json()["token"]

    response = with_token(api_client, raw).post(f"/api/bots/{bot.pk}/start", {}, format="json")

    assert response.status_code == 200, response.content


def test_keys_need_the_keys_scope(api_client, owner_client):
    raw = create(owner_client, scopes=["read", "trade"]).json()["token"]

    error = assert_error(with_token(api_client, raw).get("/api/keys"), 403, "TOKEN_SCOPE_MISSING")

    assert error["details"]["required_scope"] == "keys"
    keys_token = create(owner_client, name="keys", scopes=["keys"]).json()["token"]
    assert with_token(api_client, keys_token).get("/api/keys").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/auth/tokens"),
        ("get", "/api/auth/sessions"),
        ("post", "/api/auth/change-password"),
        ("patch", "/api/auth/me"),
        ("delete", "/api/auth/me"),
        ("get", "/api/auth/me/export"),
    ],
)
def test_a_token_cannot_manage_the_account(api_client, owner_client, method, path):
    raw = create(owner_client, scopes=["read", "trade", "keys"]).json()["token"]

    response = getattr(with_token(api_client, raw), method)(path, {}, format="json")

    assert_error(response, 403, "TOKEN_NOT_ALLOWED")


def test_a_revoked_token_is_a_401(api_client, owner_client):
    created = create(owner_client).json()
    with_token(api_client, created["token"])
    assert api_client.get("/api/auth/me").status_code == 200

    assert owner_client.delete(f"/api/auth/tokens/{created['api_token']['id']}").status_code == 200

    assert_error(api_client.get("/api/auth/me"), 401, "AUTHENTICATION_FAILED")
    assert owner_client.get("/api/auth/tokens").json()["total"] == 0


def test_an_expired_token_is_a_401(api_client, owner_client):
    raw = create(owner_client).json()["token"]
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert_error(with_token(api_client, raw).get("/api/auth/me"), 401, "AUTHENTICATION_FAILED")


@pytest.mark.parametrize("raw", ["bfp_", "bfp_" + "x" * 43, "bfp_" + "\u00e9" * 43, "bfp_" + "a" * 500])
def test_a_made_up_token_is_a_401(api_client, raw):
    assert_error(with_token(api_client, raw).get("/api/auth/me"), 401, "AUTHENTICATION_FAILED")


def test_a_disabled_accounts_token_is_refused(api_client, owner_client, owner):
    raw = create(owner_client).json()["token"]
    owner.is_active = False
    owner.save()

    assert_error(with_token(api_client, raw).get("/api/auth/me"), 403, "ACCOUNT_DISABLED")


def test_another_users_token_is_a_404(owner_client, other_client):
    token_id = create(other_client).json()["api_token"]["id"]

    assert_error(owner_client.delete(f"/api/auth/tokens/{token_id}"), 404, "NOT_FOUND")
    assert ApiToken.objects.get(pk=token_id).revoked_at is None
    assert other_client.get("/api/auth/tokens").json()["total"] == 1
    assert owner_client.get("/api/auth/tokens").json()["total"] == 0


def test_listing_tokens_is_a_constant_number_of_queries(owner_client, django_assert_max_num_queries):
    for n in range(5):
        create(owner_client, name=f"t{n}")

    with django_assert_max_num_queries(3):
        assert owner_client.get("/api/auth/tokens").json()["total"] == 5
