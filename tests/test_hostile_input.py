"""Hostile input is a 400 naming the problem, never a 500 (issue 16, item 9).

Deeply nested JSON (``RecursionError`` in the standard library's parser, before any
authentication), NUL characters (PostgreSQL refuses them in any string it is sent) in
filters, path segments, bodies and ingested payloads, and an absurd timestamp header.
"""

from __future__ import annotations

import json
import time

import pytest

from accounts.models import User
from bots.models import Bot
from realtime.models import Event
from realtime.views import sign
from tests.bots.factories import BotFactory
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db

NESTED = ("[" * 1000 + "]" * 1000).encode()  # what made the parser raise RecursionError
TOO_DEEP = ('{"email": ' + '{"a": ' * 1100 + "1" + "}" * 1100 + "}").encode()  # past the parser's limit


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register", "/api/auth/refresh"])
def test_deeply_nested_json_is_a_400_for_anyone(api_client, path):
    nested = api_client.generic("POST", path, NESTED, content_type="application/json")
    too_deep = api_client.generic("POST", path, TOO_DEEP, content_type="application/json")

    assert_error(nested, 400, "VALIDATION_ERROR")  # parsed: a list, not the object expected
    error = assert_error(too_deep, 400, "PARSE_ERROR")
    assert "depth limit exceeded" in error["message"]
    assert not User.objects.exists()


@pytest.mark.parametrize("path", ["/api/bots", "/api/keys/save", "/api/keys/test"])
def test_deeply_nested_json_on_authenticated_endpoints(owner_client, path):
    nested = owner_client.generic("POST", path, NESTED, content_type="application/json")
    too_deep = owner_client.generic("POST", path, TOO_DEEP, content_type="application/json")

    assert nested.status_code == 400, nested.content
    assert_error(too_deep, 400, "PARSE_ERROR")
    assert not Bot.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/bots?status=%00",
        "/api/bots?exchange=simulated%00",
        "/api/bots/{bot}/orders?side=%00",
        "/api/bots/{bot}/orders?status=x%00y",
        "/api/platforms/%00/bots",
        "/api/trades?symbol=%00",
    ],
)
def test_a_nul_in_a_filter_or_path_is_a_400(owner_client, owner, path):
    bot = BotFactory(owner=owner)

    response = owner_client.get(path.format(bot=bot.pk))

    error = assert_error(response, 400, "BAD_REQUEST")
    assert "NUL" in error["message"]


def test_a_nul_in_a_json_body_is_a_400_and_nothing_is_written(owner_client, owner):
    bot = BotFactory(owner=owner, name="Before")
    body = json.dumps({"name": "After\u0000", "params": {"fast\u0000": 3}})

    response = owner_client.generic("PATCH", f"/api/bots/{bot.pk}", body, content_type="application/json")

    error = assert_error(response, 400, "PARSE_ERROR")
    assert "NUL" in error["message"]
    bot.refresh_from_db()
    assert bot.name == "Before"


def test_an_escaped_backslash_before_u0000_is_not_a_nul(owner_client, owner):
    bot = BotFactory(owner=owner, name="Before")
    body = json.dumps({"name": "back\\u0000slash"})  # the text \u0000, no NUL

    response = owner_client.generic("PATCH", f"/api/bots/{bot.pk}", body, content_type="application/json")

    assert response.status_code == 200, response.content
    bot.refresh_from_db()
    assert bot.name == "back\\u0000slash"


# ---------------------------------------------------------------------------
# Internal ingestion: signed, so the hostile parts sit behind a valid signature
# ---------------------------------------------------------------------------
SECRET = "hostile-test-secret"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.INTERNAL_EVENTS_SECRET = SECRET


def _ingest(client, raw: bytes, *, timestamp: str | None = None):
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    return client.generic(
        "POST",
        "/api/internal/events",
        raw,
        content_type="application/json",
        HTTP_X_BOTFLEET_TIMESTAMP=timestamp,
        HTTP_X_BOTFLEET_SIGNATURE=sign(SECRET, timestamp, raw),
    )


def test_an_ingested_payload_holding_a_nul_is_a_400(api_client, owner):
    raw = json.dumps({"user_id": owner.pk, "type": "trade_executed", "payload": {"note": "x\u0000y"}}).encode()

    error = assert_error(_ingest(api_client, raw), 400, "PARSE_ERROR")

    assert "NUL" in error["message"]
    assert not Event.objects.exists()


def test_an_ingested_body_nested_too_deep_is_a_400(api_client, owner):
    raw = b'{"user_id": %d, "type": "trade_executed", "payload": {"a": ' % owner.pk + TOO_DEEP + b"}}"

    assert_error(_ingest(api_client, raw), 400, "PARSE_ERROR")
    assert not Event.objects.exists()


@pytest.mark.parametrize("timestamp", ["1" * 400, "9" * 13, "12.5", "-1", "１２３"])
def test_a_malformed_timestamp_is_a_400_before_the_signature_is_checked(api_client, owner, timestamp):
    raw = json.dumps({"user_id": owner.pk, "type": "trade_executed", "payload": {}}).encode()

    error = assert_error(_ingest(api_client, raw, timestamp=timestamp), 400, "BAD_TIMESTAMP")

    assert "unix seconds" in error["message"]
    assert not Event.objects.exists()


def test_an_ingested_payload_deeper_than_events_carry_is_a_400(api_client, owner):
    deep: dict = {}
    for _ in range(300):  # parses, but no event encoder carries it (orjson stops at 254 levels)
        deep = {"a": deep}
    raw = json.dumps({"user_id": owner.pk, "type": "trade_executed", "payload": {"trade": deep, "bot_id": 1}})

    error = assert_error(_ingest(api_client, raw.encode()), 400, "VALIDATION_ERROR")

    assert "cannot be encoded" in error["message"]
    assert not Event.objects.exists()
