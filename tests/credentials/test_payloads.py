"""keys/save reads every payload shape of API.md and answers masked; bad input is a clear 400."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from credentials.models import Credential
from tests.fakes.exchange import ANGEL_TOTP

SAVE = "/api/keys/save"
MASKED_FIELDS = {
    "id",
    "provider",
    "purpose",
    "label",
    "api_key_hint",
    "fields_set",
    "created_at",
    "updated_at",
    "last_tested_at",
    "last_test_ok",
}
KEY = "key-ABCDEFGHIJ-0001"
SECRET = "secret-ZYXWVUTSRQ-0002"


def _saved(owner, provider="binance", purpose="live", label="default") -> Credential:
    return Credential.objects.get(owner=owner, provider=provider, purpose=purpose, label=label)


def _assert_masked(body: dict, *, provider: str, fields: list[str], hint: str = "…0001") -> None:
    assert body["success"] is True
    credential = body["credential"]
    assert set(credential) == MASKED_FIELDS
    assert credential["provider"] == provider
    assert credential["api_key_hint"] == hint
    assert credential["fields_set"] == fields
    assert KEY not in json.dumps(body) and SECRET not in json.dumps(body)


@pytest.mark.parametrize(
    "payload",
    [
        {"provider": "binance", "api_key": KEY, "api_secret": SECRET},
        {"exchange": "binance", "apiKey": KEY, "apiSecret": SECRET},
        {"platform": "Binance", "key": KEY, "secret": SECRET},
        {"broker": " binance ", "key": f"  {KEY}\n", "secret": f"\t{SECRET} "},
    ],
    ids=["canonical", "camel", "short", "padded"],
)
def test_json_aliases_save_and_read_back_masked(owner_client, owner, payload):
    response = owner_client.post(SAVE, payload, format="json")

    assert response.status_code == 201, response.json()
    _assert_masked(response.json(), provider="binance", fields=["api_key", "api_secret"])
    stored = _saved(owner)
    assert (stored.api_key, stored.api_secret, stored.purpose, stored.label) == (KEY, SECRET, "live", "default")
    listed = owner_client.get("/api/keys").json()
    assert [c["api_key_hint"] for c in listed["credentials"]] == ["…0001"]


def test_multipart_form_data(owner_client, owner):
    response = owner_client.post(SAVE, {"exchange": "binance", "apiKey": KEY, "apiSecret": SECRET}, format="multipart")

    assert response.status_code == 201
    _assert_masked(response.json(), provider="binance", fields=["api_key", "api_secret"])
    assert _saved(owner).api_secret == SECRET


def test_urlencoded(owner_client, owner):
    body = f"provider=binance&api_key={KEY}&api_secret={SECRET}&purpose=backtest&label=bt1"
    response = owner_client.generic("POST", SAVE, body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 201
    assert response.json()["credential"]["purpose"] == "backtest"
    assert _saved(owner, purpose="backtest", label="bt1").api_key == KEY


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded"]
)
def test_raw_json_with_a_wrong_content_type(owner_client, owner, content_type):
    body = json.dumps({"exchange": "binance", "apiKey": KEY, "secret": SECRET})
    response = owner_client.generic("POST", SAVE, body, content_type=content_type)

    assert response.status_code == 201, response.json()
    _assert_masked(response.json(), provider="binance", fields=["api_key", "api_secret"])
    assert _saved(owner).api_key == KEY


def test_angelone_set_with_every_alias(owner_client, owner):
    payload = {
        "broker": "angelone",
        "key": KEY,
        "clientCode": "C-123",
        "password": "1234",
        "totp_secret": "jbsw y3dp ehpk 3pxp",
        "purpose": "backtest",
    }
    response = owner_client.post(SAVE, payload, format="json")

    assert response.status_code == 201, response.json()
    _assert_masked(response.json(), provider="angelone", fields=["api_key", "client_code", "password", "totp_secret"])
    stored = _saved(owner, provider="angelone", purpose="backtest")
    assert (stored.client_code, stored.password, stored.totp_secret) == ("C-123", "1234", "JBSWY3DPEHPK3PXP")


def test_numbers_are_read_as_text(owner_client, owner):
    payload = {"provider": "angelone", "api_key": KEY, "client_code": 12345, "password": 1234, "totp": ANGEL_TOTP}

    assert owner_client.post(SAVE, payload, format="json").status_code == 201
    assert (_saved(owner, provider="angelone").client_code, _saved(owner, provider="angelone").password) == (
        "12345",
        "1234",
    )


def test_simulated_needs_no_keys(owner_client):
    response = owner_client.post(SAVE, {"provider": "simulated"}, format="json")

    assert response.status_code == 201
    assert response.json()["credential"]["fields_set"] == []


def test_same_provider_purpose_label_replaces(owner_client, owner):
    owner_client.post(SAVE, {"provider": "okx", "api_key": KEY, "api_secret": SECRET, "passphrase": "pp-1"})
    first = _saved(owner, provider="okx")

    response = owner_client.post(
        SAVE, {"provider": "okx", "api_key": "other-key-000000009", "api_secret": "s2", "passphrase": "pp-2"}
    )

    assert response.status_code == 201
    assert Credential.objects.filter(owner=owner).count() == 1
    replaced = _saved(owner, provider="okx")
    assert replaced.pk == first.pk
    assert (replaced.api_key, replaced.api_secret, replaced.passphrase) == ("other-key-000000009", "s2", "pp-2")
    assert response.json()["credential"]["api_key_hint"] == "…0009"


def test_labels_and_purposes_make_distinct_sets(owner_client, owner):
    for purpose, label in (("live", "default"), ("live", "second"), ("backtest", "default")):
        body = {"provider": "binance", "api_key": KEY, "api_secret": SECRET, "purpose": purpose, "label": label}
        assert owner_client.post(SAVE, body).status_code == 201

    assert Credential.objects.filter(owner=owner).count() == 3


# ---------------------------------------------------------------------------
# Refusals: always a 400 that names the field, never echoing the value
# ---------------------------------------------------------------------------
def _error(response, status=400) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    return body["error"]


def test_unknown_provider_lists_providers(owner_client):
    error = _error(owner_client.post(SAVE, {"provider": "nasdaq-direct", "api_key": KEY}))

    assert error["code"] == "VALIDATION_ERROR"
    assert "simulated, replay, angelone" in error["message"]
    providers = error["details"]["providers"]
    assert providers[:3] == ["simulated", "replay", "angelone"]
    assert {"binance", "kraken", "okx"} <= set(providers)


def test_missing_provider_names_aliases(owner_client):
    error = _error(owner_client.post(SAVE, {"api_key": KEY, "api_secret": SECRET}))

    assert "provider, exchange, platform or broker" in error["message"]


def test_missing_field_names_it_and_its_aliases(owner_client, owner):
    error = _error(owner_client.post(SAVE, {"exchange": "binance", "apiKey": KEY}))

    assert error["details"]["api_secret"] == [
        "api_secret is required for binance (send it as api_secret, apiSecret or secret)."
    ]
    assert "api_secret" in error["message"]
    assert not Credential.objects.filter(owner=owner).exists()


def test_angelone_missing_fields(owner_client):
    error = _error(owner_client.post(SAVE, {"provider": "angelone", "api_key": KEY}))

    assert set(error["details"]) == {"client_code", "password", "totp_secret"}
    assert "totp or totp_secret" in error["details"]["totp_secret"][0]


@pytest.mark.parametrize("code", ["123456", "12345678", " 654 321 "])
def test_a_six_digit_code_is_not_a_totp_secret(owner_client, code):
    payload = {"provider": "angelone", "api_key": KEY, "client_code": "C1", "password": "1234", "totp": code}

    error = _error(owner_client.post(SAVE, payload))

    assert "one-time code, not a TOTP secret" in error["details"]["totp_secret"][0]


def test_a_non_base32_totp_secret_is_refused(owner_client):
    payload = {"provider": "angelone", "api_key": KEY, "client_code": "C1", "password": "1", "totp": "not-base32!!"}

    assert "base32" in _error(owner_client.post(SAVE, payload))["message"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"provider": "binance", "api_key": "abc\x00def-12345678", "api_secret": SECRET}, "api_key"),
        ({"provider": "binance", "api_key": KEY, "api_secret": "line\x1bescape"}, "api_secret"),
        ({"provider": "binance", "api_key": "k" * 513, "api_secret": SECRET}, "api_key"),
        ({"provider": "binance", "api_key": KEY, "api_secret": SECRET, "label": "x" * 65}, "label"),
        ({"provider": "binance", "api_key": KEY, "api_secret": SECRET, "purpose": "production"}, "purpose"),
        ({"provider": "binance", "api_key": {"nested": 1}, "api_secret": SECRET}, "api_key"),
        ({"provider": "binance", "api_key": True, "api_secret": SECRET}, "api_key"),
        ({"provider": ["binance"], "api_key": KEY, "api_secret": SECRET}, "provider"),
        ({"provider": "binance", "api_key": KEY, "apiKey": "different-key-0000", "api_secret": SECRET}, "api_key"),
    ],
    ids=["nul", "escape", "too-long", "long-label", "purpose", "object", "bool", "list", "conflict"],
)
def test_bad_values_are_400_naming_the_field(owner_client, owner, payload, field):
    error = _error(owner_client.post(SAVE, payload, format="json"))

    assert field in error["details"]
    assert "\x00" not in json.dumps(error) and "different-key-0000" not in json.dumps(error)
    assert not Credential.objects.filter(owner=owner).exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("{not json", "text/plain"),
        ('["binance"]', "application/json"),
        ('"binance"', "text/plain"),
        ("", "application/json"),
        ("\xff\xfe", "application/x-www-form-urlencoded"),
        ("null", "application/json"),
        ("provider=binance&api_key=%00", "application/x-www-form-urlencoded"),
    ],
)
def test_no_body_shape_gives_a_422_or_a_500(owner_client, body, content_type):
    response = owner_client.generic("POST", SAVE, body.encode("latin-1"), content_type=content_type)

    assert response.status_code == 400, response.content
    assert response.json()["success"] is False


def test_other_content_types_are_415(owner_client):
    response = owner_client.generic("POST", SAVE, b"<xml/>", content_type="application/xml")

    assert _error(response, 415)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_url_names_are_stable():
    assert reverse("credentials:save") == SAVE
