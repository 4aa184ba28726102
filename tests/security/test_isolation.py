"""Another user's object is a 404 on every endpoint that takes one, and nothing of it
changes; no list shows another user's rows. The endpoints come from the schema
(``endpoints.OPERATIONS``), so a new endpoint is covered the day it is added."""

from __future__ import annotations

import json

import pytest

from bots.models import Bot
from credentials.models import Credential
from notifications.models import Channel
from tests.envelope import assert_error
from tests.security.endpoints import OPERATIONS, OWNED_PARAMETERS, PUBLIC_PARAMETERS, READ_QUERIES

pytestmark = pytest.mark.django_db

# Non-staff operations that take an owned object in their path.
OWNED = [op for op in OPERATIONS if not op.staff_only and set(op.parameters) & set(OWNED_PARAMETERS)]
# Non-staff reads whose path names no owned object: lists, summaries, profiles.
READS = [
    op
    for op in OPERATIONS
    if op.method == "GET" and not op.staff_only and not set(op.parameters) - set(PUBLIC_PARAMETERS)
]
BODIES = {"PATCH": {"name": "renamed"}, "PUT": {"name": "renamed"}, "POST": {}}


def test_the_operation_lists_are_not_empty():
    assert len(OWNED) >= 15 and len(READS) >= 15
    unknown = {p for op in OPERATIONS for p in op.parameters} - {*OWNED_PARAMETERS, *PUBLIC_PARAMETERS, "user_id"}
    assert not unknown, f"new path parameters {unknown}: say in endpoints.py which object they name"


def _call(client, op, url):
    body = BODIES.get(op.method)
    if body is None:
        return client.generic(op.method, url)
    return client.generic(op.method, url, json.dumps(body), content_type="application/json")


def _snapshot(holdings):
    return (
        list(Bot.objects.filter(owner=holdings.bot.owner).order_by("pk").values()),
        list(Credential.objects.filter(owner=holdings.bot.owner).order_by("pk").values("pk", "label", "updated_at")),
        list(Channel.objects.filter(user=holdings.bot.owner).order_by("pk").values()),
    )


@pytest.mark.parametrize("op", OWNED, ids=str)
def test_another_users_object_is_a_404_and_stays_untouched(op, owner_client, owner_holdings, other_holdings):
    before = _snapshot(other_holdings)
    values = {name: other_holdings.value_for(kind) for name, kind in OWNED_PARAMETERS.items()}

    response = _call(owner_client, op, op.url(**values))

    assert_error(response, 404, "NOT_FOUND")
    assert other_holdings.marker not in response.content.decode()
    assert _snapshot(other_holdings) == before


@pytest.mark.parametrize("op", OWNED, ids=str)
def test_the_same_request_on_ones_own_object_is_not_a_404(op, owner_client, owner_holdings):
    # The control: the 404 above is about ownership, not a route that never answers.
    values = {name: owner_holdings.value_for(kind) for name, kind in OWNED_PARAMETERS.items()}

    response = _call(owner_client, op, op.url(**values))

    # Answered as the owner: done, or refused for a reason of its own (e.g. a 409 for a bot
    # that is not running) — never not-found, and never an error a 500 would hide.
    assert response.status_code < 300 or response.status_code in (400, 409), response.content


@pytest.mark.parametrize("op", READS, ids=str)
def test_no_read_shows_another_users_rows(op, owner_client, owner_holdings, other_holdings, ready_without_processes):
    response = owner_client.get(op.url(**PUBLIC_PARAMETERS) + READ_QUERIES.get(op.path, ""))

    assert response.status_code == 200, response.content
    assert other_holdings.marker not in response.content.decode()
