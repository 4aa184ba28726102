"""POST /api/internal/events: HMAC signature, age window, replay, allowed types, user."""

from __future__ import annotations

import json
import time

import pytest

from realtime.models import Event
from realtime.views import sign

SECRET = "test-internal-secret"


def post(api_client, body: dict | bytes, *, timestamp=None, signature=None, secret=SECRET):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = str(int(time.time())) if timestamp is None else str(timestamp)
    signature = signature or sign(secret, timestamp, raw)
    return api_client.post(
        "/api/internal/events",
        data=raw,
        content_type="application/json",
        HTTP_X_BOTFLEET_TIMESTAMP=timestamp,
        HTTP_X_BOTFLEET_SIGNATURE=signature,
    )


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.INTERNAL_EVENTS_SECRET = SECRET


def test_a_signed_event_is_recorded(api_client, owner):
    response = post(api_client, {"user_id": owner.pk, "type": "test_ingested", "payload": {"n": 5}, "message": "hi"})

    assert response.status_code == 201
    event = Event.objects.get()
    assert response.json() == {"success": True, "event_id": event.pk}
    assert (event.user_id, event.type, event.payload, event.message, event.seq) == (
        owner.pk,
        "test_ingested",
        {"n": 5},
        "hi",
        None,
    )


def test_wrong_signature_is_401(api_client, owner):
    response = post(api_client, {"user_id": owner.pk, "type": "test_ingested", "payload": {"n": 1}}, secret="wrong")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "BAD_SIGNATURE"
    assert Event.objects.count() == 0


def test_missing_headers_are_401(api_client, owner):
    response = api_client.post("/api/internal/events", data={"user_id": owner.pk}, format="json")

    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_old_request_is_401(api_client, owner):
    response = post(
        api_client,
        {"user_id": owner.pk, "type": "test_ingested", "payload": {"n": 1}},
        timestamp=int(time.time()) - 301,
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "SIGNATURE_EXPIRED"
    assert Event.objects.count() == 0


def test_replayed_request_is_401(api_client, owner):
    body = json.dumps({"user_id": owner.pk, "type": "test_ingested", "payload": {"n": 1}}).encode()
    timestamp = str(int(time.time()))
    signature = sign(SECRET, timestamp, body)

    first = post(api_client, body, timestamp=timestamp, signature=signature)
    again = post(api_client, body, timestamp=timestamp, signature=signature)

    assert first.status_code == 201
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "REPLAYED"
    assert Event.objects.count() == 1


def test_a_user_token_is_not_enough(owner_client, owner):
    response = owner_client.post(
        "/api/internal/events", data={"user_id": owner.pk, "type": "test_ingested", "payload": {"n": 1}}, format="json"
    )

    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_types_not_marked_ingestible_are_refused(api_client, owner):
    response = post(api_client, {"user_id": owner.pk, "type": "test_bot_thing", "payload": {"n": 1}})

    assert response.status_code == 400
    assert "test_ingested" in response.json()["error"]["details"]["allowed_types"]
    assert Event.objects.count() == 0


def test_wrong_payload_shape_is_400(api_client, owner):
    response = post(api_client, {"user_id": owner.pk, "type": "test_ingested", "payload": {"n": "five"}})

    assert response.status_code == 400
    assert Event.objects.count() == 0


def test_unknown_user_is_400(api_client, db):
    response = post(api_client, {"user_id": 987654, "type": "test_ingested", "payload": {"n": 1}})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"user_id": ["does not exist"]}
    assert Event.objects.count() == 0


def test_malformed_body_is_400(api_client, db):
    response = post(api_client, b"{not json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "PARSE_ERROR"


def test_unconfigured_secret_refuses_everything(api_client, owner, settings):
    settings.INTERNAL_EVENTS_SECRET = ""

    response = post(api_client, {"user_id": owner.pk, "type": "test_ingested", "payload": {"n": 1}})

    assert response.status_code == 503
    assert Event.objects.count() == 0


# -- the bot an event is tagged with must be that user's (issue 16, item 13) --------------------
def test_an_event_for_one_user_tagged_with_another_users_bot_is_refused(api_client, owner, other_user):
    from tests.bots.factories import BotFactory

    owners_bot = BotFactory(owner=owner)

    response = post(
        api_client, {"user_id": other_user.pk, "type": "test_ingested", "payload": {"n": 1}, "bot_id": owners_bot.pk}
    )

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["details"] == {"bot_id": ["does not exist"]}
    assert not Event.objects.exists()  # so nothing reaches the owner's bot subscribers


def test_an_event_tagged_with_the_users_own_bot_is_recorded(api_client, other_user):
    from tests.bots.factories import BotFactory

    bot = BotFactory(owner=other_user)

    response = post(
        api_client, {"user_id": other_user.pk, "type": "test_ingested", "payload": {"n": 1}, "bot_id": bot.pk}
    )

    assert response.status_code == 201, response.content
    assert Event.objects.get().bot_id == bot.pk


@pytest.mark.parametrize("bot_id", [2**63, 0, -5])
def test_a_bot_id_no_column_can_hold_is_a_400(api_client, owner, bot_id):
    response = post(api_client, {"user_id": owner.pk, "type": "test_ingested", "payload": {"n": 1}, "bot_id": bot_id})

    assert response.status_code == 400
    assert "bot_id" in response.json()["error"]["details"]
    assert not Event.objects.exists()


def test_the_service_refuses_with_domain_errors_a_caller_without_http_can_read(owner):
    from core.errors import Invalid
    from realtime.services import IngestRefused, UnknownTarget, event_ingest

    with pytest.raises(IngestRefused) as refused:
        event_ingest(user_id=owner.pk, type="test_bot_thing", payload={"n": 1})
    with pytest.raises(UnknownTarget) as unknown:
        event_ingest(user_id=987654, type="test_ingested", payload={"n": 1})

    assert isinstance(refused.value, Invalid) and refused.value.code == "VALIDATION_ERROR"
    assert "test_ingested" in refused.value.details["allowed_types"]
    assert unknown.value.message == "user 987654 does not exist"
    assert unknown.value.details == {"user_id": ["does not exist"]}
    assert Event.objects.count() == 0
