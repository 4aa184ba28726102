"""Where the running API and its contract disagreed (issue 16, item 14)."""

from __future__ import annotations

import pytest

from accounts.models import AuditEntry
from bots.models import Bot
from tests.bots.factories import BotFactory
from tests.envelope import assert_error

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------
# Empty filters are refused, as the schema says (an enum, a date, a timeframe)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/platforms/simulated/bots?mode=", "mode"),
        ("/api/trades?until=", "until"),
        ("/api/trades?since=", "since"),
        ("/api/trades?side=", "side"),
        ("/api/bots/{bot}/trades?until=", "until"),
        ("/api/bots/{bot}/candles?timeframe=", "timeframe"),
    ],
)
def test_an_empty_filter_is_a_400_naming_it(owner_client, owner, path, param):
    bot = BotFactory(owner=owner)

    response = owner_client.get(path.format(bot=bot.pk))

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"] == {param: ["may not be empty; leave the parameter out instead"]}


def test_a_filter_left_out_still_means_all(owner_client, owner):
    BotFactory(owner=owner, trading_mode="paper")
    BotFactory(owner=owner, trading_mode="live")

    response = owner_client.get("/api/platforms/simulated/bots")

    assert response.status_code == 200
    assert (response.json()["mode"], response.json()["total_bots"]) == (None, 2)


# ---------------------------------------------------------------------------
# start / pause / resume / stop read their body: a malformed one is a 400
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "status"),
    [("start", "stopped"), ("pause", "running"), ("resume", "paused"), ("stop", "running")],
)
@pytest.mark.parametrize(("body", "code"), [("{not json", "PARSE_ERROR"), ("[1, 2]", "VALIDATION_ERROR")])
def test_a_malformed_body_on_a_bot_action_is_a_400_and_nothing_changes(owner_client, owner, action, status, body, code):
    bot = BotFactory(owner=owner, status=status)

    response = owner_client.generic("POST", f"/api/bots/{bot.pk}/{action}", body, content_type="application/json")

    assert_error(response, 400, code)
    bot.refresh_from_db()
    assert bot.status == status
    assert not AuditEntry.objects.filter(action__startswith="bot.").exists()


def test_pause_keeps_its_reason_and_start_still_takes_an_empty_body(owner_client, owner):
    bot = BotFactory(owner=owner, status="stopped")

    started = owner_client.post(f"/api/bots/{bot.pk}/start")
    paused = owner_client.post(f"/api/bots/{bot.pk}/pause", {"reason": "  lunch  "}, format="json")

    assert started.status_code == 200, started.content
    assert paused.status_code == 200, paused.content
    bot.refresh_from_db()
    assert (bot.status, bot.paused_reason) == ("paused", "lunch")


@pytest.mark.parametrize("path", ["/api/start", "/api/stop"])
def test_a_malformed_body_on_a_fleet_action_is_a_400(owner_client, owner, path):
    bot = BotFactory(owner=owner, status="stopped")

    response = owner_client.generic("POST", path, "{not json", content_type="application/json")

    assert_error(response, 400, "PARSE_ERROR")
    assert Bot.objects.get(pk=bot.pk).status == "stopped"


# ---------------------------------------------------------------------------
# The OpenAPI schema names every status these endpoints answer
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/api/keys/test", "post", "404"),  # a credential_id naming no key set of the caller's
        ("/api/admin/users/{user_id}", "put", "409"),
        ("/api/admin/users/{user_id}", "patch", "409"),  # staff changing their own flags, a taken e-mail
    ],
)
def test_the_schema_documents_the_status(schema, path, method, status):
    assert status in schema["paths"][path][method]["responses"]


def test_keys_test_answers_the_documented_404(owner_client):
    response = owner_client.post("/api/keys/test", {"provider": "binance", "credential_id": 999999}, format="json")

    assert_error(response, 404, "NOT_FOUND")
