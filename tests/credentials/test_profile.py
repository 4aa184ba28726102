"""val/profile and the flat broker form of val/update_profile."""

from __future__ import annotations

import json

from credentials.models import Credential

UPDATE = "/api/val/update_profile"
TOTP_LIVE = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TOTP_BT = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
FLAT = {
    "angel_api_key": "live-angel-key-0001",
    "angel_client_code": "L111",
    "angel_password": "1111",
    "angel_totp": TOTP_LIVE,
    "backtest_api_key": "test-angel-key-0002",
    "backtest_client_code": "B222",
    "backtest_password": "2222",
    "backtest_totp": TOTP_BT,
    "first_name": "ignored here",
}


def _sets(owner) -> dict[str, Credential]:
    return {c.purpose: c for c in Credential.objects.filter(owner=owner, provider="angelone")}


def test_flat_form_saves_two_distinct_sets(owner_client, owner):
    response = owner_client.post(UPDATE, FLAT, format="json")

    assert response.status_code == 200, response.content
    sets = _sets(owner)
    assert set(sets) == {"live", "backtest"}
    live, backtest = sets["live"], sets["backtest"]
    assert (live.api_key, live.client_code, live.password, live.totp_secret) == (
        "live-angel-key-0001",
        "L111",
        "1111",
        TOTP_LIVE,
    )
    assert (backtest.api_key, backtest.client_code, backtest.password, backtest.totp_secret) == (
        "test-angel-key-0002",
        "B222",
        "2222",
        TOTP_BT,
    )
    body = response.json()
    assert body["broker_keys"]["live"]["api_key_hint"] == "…0001"
    assert body["broker_keys"]["backtest"]["api_key_hint"] == "…0002"
    assert (body["angel_api_key"], body["angel_password"], body["backtest_totp"]) == ("…0001", "********", "********")
    for secret in ("live-angel-key-0001", "L111", TOTP_LIVE, "test-angel-key-0002", "B222", TOTP_BT):
        assert secret not in json.dumps(body)


def test_flat_form_as_urlencoded(owner_client, owner):
    body = "&".join(f"{k}={v}" for k, v in FLAT.items() if k.startswith("angel_"))
    response = owner_client.generic("POST", UPDATE, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    assert set(_sets(owner)) == {"live"}


def test_blank_fields_keep_stored_values(owner_client, owner):
    owner_client.post(UPDATE, FLAT, format="json")

    response = owner_client.post(
        UPDATE,
        {"angel_api_key": "", "angel_client_code": "  ", "angel_password": "9999", "backtest_totp": ""},
        format="json",
    )

    assert response.status_code == 200
    live, backtest = _sets(owner)["live"], _sets(owner)["backtest"]
    assert (live.api_key, live.client_code, live.password, live.totp_secret) == (
        "live-angel-key-0001",
        "L111",
        "9999",
        TOTP_LIVE,
    )
    assert backtest.password == "2222"


def test_a_new_set_needs_every_field(owner_client, owner):
    response = owner_client.post(UPDATE, {"backtest_api_key": "only-the-key-00001"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"client_code", "password", "totp_secret"}
    assert not Credential.objects.filter(owner=owner).exists()


def test_a_totp_code_in_the_flat_form_is_refused(owner_client, owner):
    response = owner_client.post(UPDATE, {**FLAT, "angel_totp": "123456"}, format="json")

    assert response.status_code == 400
    assert "one-time code" in response.json()["error"]["details"]["angel_totp"][0]
    assert not Credential.objects.filter(owner=owner).exists()


def test_profile_masks_keys(owner_client, owner):
    owner_client.post(UPDATE, FLAT, format="json")

    body = owner_client.get("/api/val/profile").json()

    assert body["success"] is True
    assert body["user"]["email"] == "owner@example.com"
    assert body["angel_configured"] is True and body["backtest_configured"] is True
    assert len(body["credentials"]) == 2
    assert "live-angel-key-0001" not in json.dumps(body)


def test_profile_of_a_user_without_keys(owner_client):
    body = owner_client.get("/api/val/profile").json()

    assert body["broker_keys"] == {"live": None, "backtest": None}
    assert body["angel_api_key"] == "" and body["angel_configured"] is False


def test_profiles_are_isolated(owner_client, other_client):
    owner_client.post(UPDATE, FLAT, format="json")

    assert other_client.get("/api/val/profile").json()["credentials"] == []
