"""keys/test against the fake exchange: good key, bad key, timeout, unreachable — for a ccxt
venue (binance) and for Angel One. Never a hang, never a 500."""

from __future__ import annotations

import pytest

from accounts.models import AuditEntry
from credentials.models import Credential
from tests.fakes.fixtures import ANGEL_KEYS, BINANCE_KEYS

TEST = "/api/keys/test"
VENUES = {"binance": (BINANCE_KEYS, "Binance"), "angelone": (ANGEL_KEYS, "Angel One")}


def _test(client, payload, content_type=None):
    if content_type:
        import json

        response = client.generic("POST", TEST, json.dumps(payload), content_type=content_type)
    else:
        response = client.post(TEST, payload, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert isinstance(body["latency_ms"], int)
    return body


@pytest.mark.parametrize("venue", VENUES)
def test_good_keys(owner_client, fake_exchange, venue):
    keys, name = VENUES[venue]

    body = _test(owner_client, keys)

    assert (body["provider"], body["ok"], body["message"]) == (venue, True, f"{name} accepted the keys.")


@pytest.mark.parametrize("venue", VENUES)
def test_rejected_keys(owner_client, fake_exchange, venue):
    keys, name = VENUES[venue]
    fake_exchange.reject_keys = True

    body = _test(owner_client, keys)

    assert body["ok"] is False
    assert body["message"].startswith(f"{name} rejected the keys")
    assert keys["api_key"] not in body["message"]


def test_wrong_binance_secret_fails_the_signature(owner_client, fake_exchange):
    body = _test(owner_client, {**BINANCE_KEYS, "api_secret": "not-the-secret"})

    assert body["ok"] is False
    assert "Invalid API-key" in body["message"]


def test_wrong_angel_pin(owner_client, fake_exchange):
    body = _test(owner_client, {**ANGEL_KEYS, "password": "0000"})

    assert body == {
        **body,
        "ok": False,
        "message": "Angel One rejected the keys: Invalid clientcode or password (AB1007)",
    }


@pytest.mark.parametrize("venue", VENUES)
def test_timeout(owner_client, fake_exchange, settings, venue):
    keys, name = VENUES[venue]
    settings.KEYS_TEST_TIMEOUT_SECONDS = 0.5
    fake_exchange.delay = 3

    body = _test(owner_client, keys)

    assert body["ok"] is False
    assert body["message"] == f"{name} did not answer within 0.5 s (timeout)."


@pytest.mark.parametrize("venue", VENUES)
def test_unreachable(owner_client, unreachable_venues, venue):
    keys, name = VENUES[venue]

    body = _test(owner_client, keys)

    assert body["ok"] is False
    assert body["message"].startswith(f"{name} is unreachable")


def test_raw_json_as_text_plain(owner_client, fake_exchange):
    payload = {"exchange": "binance", "apiKey": BINANCE_KEYS["api_key"], "secret": BINANCE_KEYS["api_secret"]}

    assert _test(owner_client, payload, content_type="text/plain")["ok"] is True


def test_local_venues_need_no_keys(owner_client):
    body = _test(owner_client, {"platform": "replay"})

    assert (body["provider"], body["ok"], body["latency_ms"]) == ("replay", True, 0)


def test_a_saved_set_by_id_records_the_result(owner_client, owner, fake_exchange):
    saved_id = owner_client.post("/api/keys/save", ANGEL_KEYS, format="json").json()["credential"]["id"]
    before = Credential.objects.get(pk=saved_id).updated_at

    body = _test(owner_client, {"provider": "angelone", "credential_id": saved_id})

    assert body["ok"] is True
    assert body["credential"]["id"] == saved_id
    assert body["credential"]["last_test_ok"] is True
    stored = Credential.objects.get(pk=saved_id)
    assert (stored.last_test_ok, stored.last_test_message) == (True, "Angel One accepted the keys.")
    assert stored.updated_at == before  # a test is not a change of the keys
    entry = AuditEntry.objects.filter(action="credential.tested").get()
    assert (entry.target_id, entry.data["ok"], entry.data["saved"]) == (str(saved_id), True, True)


def test_provider_alone_tests_the_saved_set(owner_client, fake_exchange):
    owner_client.post("/api/keys/save", BINANCE_KEYS, format="json")
    fake_exchange.reject_keys = True

    body = _test(owner_client, {"exchange": "binance"})

    assert body["ok"] is False
    assert body["credential"]["last_test_ok"] is False


def test_provider_alone_without_a_saved_set_names_the_missing_fields(owner_client):
    response = owner_client.post(TEST, {"provider": "binance"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"api_key", "api_secret"}


def test_unknown_provider_is_400(owner_client):
    response = owner_client.post(TEST, {"provider": "mtgox", "key": "x"}, format="json")

    assert response.status_code == 400
    assert "binance" in response.json()["error"]["details"]["providers"]
