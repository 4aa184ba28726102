"""Who may call what: every operation that needs a token refuses anonymous callers and
revoked tokens (401); every ``/api/admin/*`` operation refuses non-staff (403) and
changes nothing. The operations come from the schema, the routes from the resolver."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from accounts.models import AuditEntry
from bots.models import Bot, FleetHalt
from tests.bots.factories import BotFactory
from tests.conftest import bearer_client
from tests.envelope import assert_error
from tests.factories import DEFAULT_PASSWORD
from tests.security.endpoints import (
    OPERATIONS,
    OUTSIDE_THE_SCHEMA,
    OWNED_PARAMETERS,
    PUBLIC_PARAMETERS,
    resolver_routes,
)

pytestmark = pytest.mark.django_db
User = get_user_model()

NEEDS_TOKEN = [op for op in OPERATIONS if op.needs_token]
STAFF_ONLY = [op for op in OPERATIONS if op.staff_only]
SSE = "/api/realtime/events"


def test_every_api_route_is_in_the_schema_or_named_here():
    documented = {op.path for op in OPERATIONS}
    routes = {route for route in resolver_routes() if route.startswith("/api/")}
    assert routes - documented - set(OUTSIDE_THE_SCHEMA) == set()
    assert len(NEEDS_TOKEN) >= 45 and len(STAFF_ONLY) >= 10
    assert all(op.needs_token for op in STAFF_ONLY)


def _url(op, holdings, target_user_id) -> str:
    values = {name: holdings.value_for(kind) for name, kind in OWNED_PARAMETERS.items()}
    return op.url(**values, **PUBLIC_PARAMETERS, user_id=target_user_id)


def _call(client, op, url, **extra):
    if op.method in {"GET", "DELETE"}:
        return client.generic(op.method, url, **extra)
    return client.generic(op.method, url, json.dumps({}), content_type="application/json", **extra)


@pytest.mark.parametrize("op", NEEDS_TOKEN, ids=str)
def test_anonymous_is_a_401(op, api_client, owner, owner_holdings):
    assert_error(_call(api_client, op, _url(op, owner_holdings, owner.pk)), 401, "NOT_AUTHENTICATED")


@pytest.fixture
def world(owner, other_user, staff, owner_holdings):
    """What a staff endpoint could change, to prove a refused call changed none of it."""

    def snapshot():
        return (
            list(User.objects.order_by("pk").values("pk", "email", "is_active", "is_staff", "token_version")),
            list(Bot.objects.order_by("pk").values("pk", "status", "force_paused", "override_rules")),
            list(FleetHalt.objects.values()),
            AuditEntry.objects.count(),
        )

    return snapshot


@pytest.mark.parametrize("op", STAFF_ONLY, ids=str)
def test_staff_endpoints_refuse_anonymous_and_non_staff_and_change_nothing(
    op, api_client, owner_client, other_user, owner_holdings, world
):
    before = world()
    url = _url(op, owner_holdings, other_user.pk)

    assert_error(_call(api_client, op, url), 401, "NOT_AUTHENTICATED")
    assert_error(_call(owner_client, op, url), 403, "PERMISSION_DENIED")
    assert world() == before


@pytest.mark.parametrize("op", STAFF_ONLY, ids=str)
def test_staff_endpoints_answer_staff(op, staff_client, other_user, owner_holdings):
    # The control: the refusals above are about the caller, not a route that never answers.
    response = _call(staff_client, op, _url(op, owner_holdings, other_user.pk))
    assert response.status_code not in {401, 403, 404}, response.content


def test_the_django_admin_refuses_a_non_staff_session(client, owner):
    client.force_login(owner)
    for url in ["/admin/", "/admin/bots/bot/", "/admin/credentials/credential/", "/admin/accounts/auditentry/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


# ---------------------------------------------------------------------------
# Revoked tokens
# ---------------------------------------------------------------------------
def _revoked_by_logout(user):
    client = bearer_client(user)
    response = client.post("/api/auth/logout", {"refresh": client.tokens["refresh_token"]}, format="json")
    assert response.status_code == 200, response.content
    return client


def _revoked_by_password_change(user):
    stale = bearer_client(user)  # another session, from before the change
    changer = bearer_client(user)
    response = changer.post(
        "/api/auth/change-password",
        {"old_password": DEFAULT_PASSWORD, "new_password": "An0ther-long-passphrase!"},
        format="json",
    )
    assert response.status_code == 200, response.content
    return stale


REVOCATIONS = {"logout": _revoked_by_logout, "password-change": _revoked_by_password_change}


@pytest.mark.parametrize("how", sorted(REVOCATIONS))
@pytest.mark.parametrize("op", NEEDS_TOKEN, ids=str)
def test_a_revoked_token_is_refused_everywhere(op, how, owner, other_user, owner_holdings):
    client = REVOCATIONS[how](owner)
    before = list(Bot.objects.filter(owner=owner).order_by("pk").values("pk", "status", "name"))

    response = _call(client, op, _url(op, owner_holdings, other_user.pk))

    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    assert list(Bot.objects.filter(owner=owner).order_by("pk").values("pk", "status", "name")) == before


# channels' database_sync_to_async closes old connections around the call, which would
# end the test's transaction on PostgreSQL: this one commits for real.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", sorted(REVOCATIONS))
def test_a_revoked_token_never_opens_the_event_stream(how, owner):
    client = REVOCATIONS[how](owner)
    token = client.tokens["access_token"]

    for response in (client.get(SSE), client.generic("GET", f"{SSE}?token={token}")):
        assert response.status_code == 401
        assert not getattr(response, "streaming", False)


def test_a_running_bot_of_a_revoked_session_keeps_running(owner):
    # Revocation ends sessions, not the owner's trading.
    bot = BotFactory(owner=owner, status=Bot.Status.RUNNING)
    _revoked_by_logout(owner)
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING
