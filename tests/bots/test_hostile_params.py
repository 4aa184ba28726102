"""Hostile numbers in bot params (issue 16, items 1 and 9): refused with a 400 naming the
param, never stored; and a value already stored that JSON encoders refuse still renders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.models import Bot
from realtime.models import Event
from tests.bots.factories import BotFactory

pytestmark = pytest.mark.django_db

GRID = {"name": "G", "exchange": "simulated", "symbol": "BTC/USDT", "strategy": "grid", "capital": 1000}


def _raw_post(client, body: str):
    return client.generic("POST", "/api/bots", body, content_type="application/json")


@pytest.mark.parametrize(
    ("params_json", "field", "fragment"),
    [
        # ≥ 2**64 once PostgreSQL's JSON keeps it as an exact integer: orjson refuses it.
        ('{"lower": 1, "upper": 1e20}', "upper", "maximum"),
        ('{"lower": 1, "upper": 5, "levels": ' + "9" * 30 + "}", "levels", "maximum"),
        ('{"lower": 1, "upper": 1000000000000001}', "upper", "maximum"),
    ],
)
def test_params_beyond_the_declared_range_are_refused_and_nothing_is_stored(owner_client, params_json, field, fragment):
    response = _raw_post(owner_client, _grid_body(params_json))

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]["params"], error
    assert fragment in error["details"]["params"][field][0]
    assert not Bot.objects.exists() and not Event.objects.exists()


@pytest.mark.parametrize(
    "params_json",
    [
        '{"lower": 1, "upper": ' + "1" + "0" * 400 + "}",  # 10**400
        '{"lower": 1, "upper": 1e309}',  # infinity as a double
        '{"lower": -1e309, "upper": 5}',
    ],
)
def test_numbers_no_double_can_hold_are_a_parse_error_naming_the_place(owner_client, params_json):
    response = _raw_post(owner_client, _grid_body(params_json))

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "PARSE_ERROR"
    assert "infinity" in error["message"] and "column" in error["message"]
    assert not Bot.objects.exists() and not Event.objects.exists()


def test_a_non_finite_number_reaching_validation_is_refused():
    """Callers other than the JSON parser (forms, commands) may hand over NaN or ±Infinity:
    JSON Schema's bounds compare false against NaN, so they would pass."""
    from bots.strategies import ParamsError, validate_params

    for bad in (float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")):
        with pytest.raises(ParamsError) as caught:
            validate_params("grid", {"lower": 1, "upper": bad})
        assert caught.value.errors == {"upper": "must be a finite number"}


def _grid_body(params_json: str) -> str:
    return (
        '{"name": "G", "exchange": "simulated", "symbol": "BTC/USDT", "strategy": "grid", '
        f'"capital": 1000, "params": {params_json}}}'
    )


def test_infinite_param_in_form_data_is_refused(owner_client):
    response = owner_client.post("/api/bots", {**GRID, "params": '{"lower": 1, "upper": 1e999}'}, format="multipart")
    assert response.status_code == 400, response.content
    assert "params" in response.json()["error"]["details"]
    assert not Bot.objects.exists()


def test_patch_with_a_huge_param_changes_nothing(owner_client, owner):
    bot = BotFactory(owner=owner, strategy="grid", params={"lower": 1, "upper": 5, "levels": 10})

    response = owner_client.patch(f"/api/bots/{bot.pk}", {"params": {"lower": 1, "upper": 1e20}}, format="json")

    assert response.status_code == 400, response.content
    bot.refresh_from_db()
    assert bot.params == {"lower": 1, "upper": 5, "levels": 10}


def test_the_largest_declared_price_is_accepted(owner_client):
    response = _raw_post(
        owner_client,
        '{"name": "G", "exchange": "simulated", "symbol": "BTC/USDT", "strategy": "grid", "capital": 1000,'
        ' "params": {"lower": 1, "upper": 1000000000000000}}',
    )
    assert response.status_code == 201, response.content
    assert response.json()["bot"]["params"]["upper"] == 10**15


def test_the_strategy_catalogue_declares_the_price_bound(api_client):
    grid = next(s for s in api_client.get("/api/strategies").json()["strategies"] if s["id"] == "grid")
    assert grid["params_schema"]["properties"]["upper"]["maximum"] == 10**15
    assert grid["params_schema"]["properties"]["lower"]["maximum"] == 10**15


def test_a_stored_integer_beyond_64_bits_still_renders_exactly(owner_client, owner):
    """A row written before validation existed (PostgreSQL turns 1e20 into this integer)."""
    bot = BotFactory(owner=owner, strategy="grid", params={"lower": 1, "upper": 10**20, "levels": 10})
    Bot.objects.filter(pk=bot.pk).update(params={"lower": 1, "upper": 10**20, "levels": 10})

    listed = owner_client.get("/api/bots")
    detail = owner_client.get(f"/api/bots/{bot.pk}")

    assert listed.status_code == 200, listed.content
    assert detail.status_code == 200, detail.content
    assert b'"upper":100000000000000000000' in detail.content
    assert listed.json()["bots"][0]["params"]["upper"] == 10**20
