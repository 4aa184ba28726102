"""Schema fuzzing: every operation of the OpenAPI schema, driven by schemathesis in-process
through Django's WSGI handler (no server), as a normal user and as staff.

Each operation is one pytest item per persona; its examples share that item's database
transaction (rolled back at the end), so an operation sees the two fuzzing accounts with
their bots and credential, never another operation's leftovers. Per example:

- a fresh access token (logout and change-password revoke the one before);
- throttle counters and login failures are cleared, and the lockout limit is out of reach,
  so login fuzzing never locks the fuzzing user out and a 429 never hides a bug;
- a generated id that happens to name a fuzzing account is pointed at a sacrificial user,
  so staff PUT/DELETE on ``admin/users/{id}`` never disables the accounts doing the fuzzing;
- half of the generated bot and credential ids are mapped onto the persona's own objects,
  so success paths are fuzzed too, not only 404s.

The checks: no server error, documented status codes, content types, headers and bodies
conform to the schema, and auth is not ignored. Generation is derandomized (the same
examples every run) and does not shrink, so the run stays bounded (see the module-level
``EXAMPLES``); the endless SSE stream has its own tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import schemathesis
from axes.models import AccessAttempt
from django.core import signals
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tokens import token_pair_for
from credentials.services import credential_save
from tests.bots.factories import BotFactory
from tests.conftest import USING_POSTGRES
from tests.factories import StaffFactory, UserFactory

if USING_POSTGRES:
    # Before the schema is loaded: building the coverage cases alone takes seconds.
    pytest.skip("fuzzed once, on the embedded pass of .ci/run", allow_module_level=True)

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

EXAMPLES = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
SSE_STREAM = "/api/realtime/events"
# Operations that revoke the token they were called with: each example gets a fresh one.
REVOKING = {"/api/auth/logout", "/api/auth/change-password"}


def _load_schema():
    raw = SchemaGenerator().get_schema(request=None, public=True)
    # The schema as the endpoint serves it (lazy strings and enums rendered), minus the stream.
    document = json.loads(OpenApiJsonRenderer().render(raw, renderer_context={}))
    loaded = schemathesis.openapi.from_dict(document).exclude(path=SSE_STREAM)
    loaded.app = WSGIHandler()
    return loaded


schema = _load_schema()
# Public operations (no security requirement) are the same for every persona: fuzz them once.
authenticated = schema.exclude(func=lambda ctx: not ctx.operation.definition.raw.get("security", [{}])[0])


@dataclass
class Persona:
    user: object
    bot_ids: list[int]
    credential_ids: list[int]
    protected_user_ids: set[int] = field(default_factory=set)
    victim_id: int = 0
    token: str = ""

    def headers(self, path: str) -> dict[str, str]:
        if path in REVOKING or not self.token:
            self.user.refresh_from_db()  # the password change moved token_version on
            self.token = token_pair_for(self.user)["access_token"]
        return {"Authorization": f"Bearer {self.token}"}


def _persona(user) -> tuple[object, list[int], list[int]]:
    bots = [
        BotFactory(owner=user, name=f"{user.username}-paper", status="stopped"),
        BotFactory(owner=user, name=f"{user.username}-running", status="running"),
    ]
    credential = credential_save(
        user=user,
        provider="binance",
        purpose="backtest",
        label="default",
        secrets={"api_key": "fuzz-key-1234", "api_secret": "fuzz-secret"},
    )
    return user, [b.pk for b in bots], [credential.pk]


@pytest.fixture
def fuzz_world(db, settings, ready_without_processes):
    settings.AXES_FAILURE_LIMIT = 10**9
    settings.INTERNAL_EVENTS_SECRET = "fuzz-ingestion-secret"  # fuzz the endpoint, not its 503
    # Django's test client detaches these too: closing the connection would end the
    # test's transaction, which every example runs inside.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    user = UserFactory(email="fuzz-user@example.com", username="fuzzuser")
    staff = StaffFactory(email="fuzz-staff@example.com", username="fuzzstaff")
    victim = UserFactory(email="fuzz-victim@example.com", username="fuzzvictim")
    protected = {user.pk, staff.pk}
    personas = {}
    for name, account in (("user", user), ("staff", staff)):
        _, bot_ids, credential_ids = _persona(account)
        personas[name] = Persona(account, bot_ids, credential_ids, protected, victim.pk)
    yield personas
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _aim(case, persona: Persona) -> None:
    """Point generated ids at real objects half the time; never at a fuzzing account."""
    params = case.path_parameters or {}
    for name, pool in (("bot_id", persona.bot_ids), ("credential_id", persona.credential_ids)):
        value = params.get(name)
        if isinstance(value, int) and value % 2 == 0:
            params[name] = pool[(value // 2) % len(pool)]
    value = params.get("user_id")
    if isinstance(value, int) and value in persona.protected_user_ids:
        params["user_id"] = persona.victim_id


def _run(case, persona: Persona) -> None:
    cache.clear()
    AccessAttempt.objects.all().delete()
    _aim(case, persona)
    case.call_and_validate(headers=persona.headers(case.operation.path), checks=CHECKS)


def _settings(*phases: Phase):
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


# As a user: schemathesis' coverage cases first (boundary and malformed values of every
# parameter, run as Hypothesis' explicit examples), then EXAMPLES generated ones.
@schema.parametrize()
@_settings(Phase.explicit, Phase.generate)
def test_every_operation_as_a_user(case, fuzz_world):
    _run(case, fuzz_world["user"])


# As staff: EXAMPLES generated cases per operation (the coverage cases would repeat the
# user's; what differs for staff is the data and the permissions).
@authenticated.parametrize()
@_settings(Phase.generate)
def test_every_authenticated_operation_as_staff(case, fuzz_world):
    _run(case, fuzz_world["staff"])
