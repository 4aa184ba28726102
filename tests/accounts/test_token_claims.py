"""Signed tokens whose claims no user can have, and a database that goes away under a request."""

from __future__ import annotations

import psycopg
import pytest
from django.db import close_old_connections, connection
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tokens import VERSION_CLAIM
from tests.conftest import USING_POSTGRES
from tests.envelope import assert_error


def me(client, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get("/api/auth/me", **headers)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("user_id", "jti"),
    [(2**63, "a" * 32), (-(2**63) - 1, "a" * 32), ("99999999999999999999999", "a" * 32)],
    ids=["past-bigint", "below-bigint", "huge-string"],
)
def test_a_signed_token_with_an_impossible_user_id_is_a_401(api_client, owner, user_id, jti):
    token = AccessToken.for_user(owner)
    token["user_id"] = user_id
    token["jti"] = jti
    token[VERSION_CLAIM] = owner.token_version

    assert_error(me(api_client, str(token)), 401, "AUTHENTICATION_FAILED")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "jti",
    [f"{'a' * 16}\x00{'b' * 15}", "\ud800" * 32, "é" * 32, 12345, None, ["a"]],
    ids=["nul", "lone-surrogate", "non-ascii", "int", "null", "list"],
)
def test_a_signed_token_with_a_malformed_jti_is_a_401(api_client, owner, jti):
    token = AccessToken.for_user(owner)
    token["jti"] = jti
    token[VERSION_CLAIM] = owner.token_version

    assert_error(me(api_client, str(token)), 401, "AUTHENTICATION_FAILED")


@pytest.mark.skipif(not USING_POSTGRES, reason="terminates a PostgreSQL backend")
@pytest.mark.django_db(transaction=True)
def test_a_killed_connection_is_a_503_and_the_next_request_reconnects(owner_client):
    assert me(owner_client).status_code == 200
    backend = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])

    assert_error(me(owner_client), 503, "DATABASE_UNAVAILABLE")

    # What the request boundary does in the server (Django's test client skips it):
    close_old_connections()
    assert me(owner_client).status_code == 200
    assert connection.connection.info.backend_pid != backend


@pytest.mark.skipif(not USING_POSTGRES, reason="reads PostgreSQL's pg_prepared_statements")
@pytest.mark.django_db
def test_authentication_leaves_no_prepared_statement_on_the_server(owner_client):
    # Nothing is prepared per connection, so a transaction-mode pooler (PgBouncer) that
    # hands each transaction another server connection needs no switch.
    assert me(owner_client).status_code == 200
    assert me(owner_client).status_code == 200

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)
