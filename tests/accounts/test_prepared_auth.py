"""The authentication query run through libpq (accounts/pgexec.py), and the claims it refuses."""

from __future__ import annotations

import gc
import time
import weakref

import psycopg
import pytest
from django.db import DatabaseError, ProgrammingError, close_old_connections, connection, transaction
from django.db.transaction import TransactionManagementError
from rest_framework_simplejwt.tokens import AccessToken

from accounts import pgexec
from accounts.authentication import _user_with_revocation
from accounts.models import RevokedAccessToken, User
from accounts.tokens import VERSION_CLAIM
from tests.conftest import USING_POSTGRES
from tests.envelope import assert_error

postgres_only = pytest.mark.skipif(not USING_POSTGRES, reason="the libpq path runs on PostgreSQL only")


def me(client, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get("/api/auth/me", **headers)


def auth_statements() -> list[str]:
    """The authentication query's prepared statements on this test's server connection."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements"
            " WHERE name LIKE 'botfleet\\_%%' AND statement LIKE '%%accounts_revokedaccesstoken%%'"
        )
        return [statement for (statement,) in cursor.fetchall()]


# ---------------------------------------------------------------------------
# Everywhere: claims no user can have
# ---------------------------------------------------------------------------
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


def test_placeholders_are_numbered_and_escapes_kept():
    sql = "SELECT %s, '100%%', x LIKE 'a%%' FROM t WHERE a = %s AND b = %s"

    assert pgexec.numbered_placeholders(sql) == "SELECT $1, '100%', x LIKE 'a%' FROM t WHERE a = $2 AND b = $3"


@pytest.mark.parametrize("value", [True, 1.5, b"x", None, "a\x00b"], ids=["bool", "float", "bytes", "none", "nul"])
def test_parameters_other_than_int_and_str_or_with_a_nul_are_refused(value):
    with pytest.raises((TypeError, ValueError)):
        pgexec._text_parameter(value)


# ---------------------------------------------------------------------------
# PostgreSQL: the statement itself
# ---------------------------------------------------------------------------
@postgres_only
@pytest.mark.django_db
def test_the_authentication_query_is_prepared_once_on_the_server(owner_client):
    assert me(owner_client).status_code == 200
    assert me(owner_client).status_code == 200

    statements = auth_statements()
    assert len(statements) == 1
    assert '"accounts_user"' in statements[0] and "$1" in statements[0]


@postgres_only
@pytest.mark.django_db
def test_the_row_is_the_one_the_orm_builds(owner):
    RevokedAccessToken.objects.create(jti="r" * 32, user=owner, expires_at=owner.date_joined)
    from_orm = User.objects.get(pk=owner.pk)

    for jti, revoked in [("r" * 32, True), ("n" * 32, False)]:
        from_libpq = _user_with_revocation(owner.pk, jti)
        assert from_libpq.access_revoked is revoked
        for field in User._meta.concrete_fields:
            expected, got = getattr(from_orm, field.attname), getattr(from_libpq, field.attname)
            assert (got, type(got)) == (expected, type(expected)), field.name
        assert from_libpq._state.adding is False and from_libpq._state.db == "default"
    assert len(auth_statements()) == 1  # it came through libpq, not Django's cursor


@postgres_only
@pytest.mark.django_db
def test_an_sql_error_is_djangos_error_and_nothing_is_recorded():
    with pytest.raises(ProgrammingError) as caught, transaction.atomic():
        pgexec.fetch_one(connection, "SELECT no_such_column FROM accounts_user WHERE id = %s", [1])

    assert isinstance(caught.value.__cause__, psycopg.errors.UndefinedColumn)
    assert not any("no_such_column" in sql for sql in pgexec._session(connection).names)


_MARKED_SQL = "SELECT %s::int + 1 AS follows_the_connection"


def _marked_statements_on(raw) -> int:
    query = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%follows_the_connection%'"
    return raw.execute(query).fetchone()[0]


@postgres_only
@pytest.mark.django_db
def test_what_was_prepared_follows_the_server_connection_when_it_is_swapped():
    # A pool hands the same Django connection another server connection per request.
    first = connection.connection
    second = connection.get_new_connection(connection.get_connection_params())
    try:
        for raw in (first, second, first, second):
            connection.connection = raw
            assert pgexec.fetch_one(connection, _MARKED_SQL, [1]) == (2,)

        assert (_marked_statements_on(first), _marked_statements_on(second)) == (1, 1)
    finally:
        connection.connection = first
        second.close()


@postgres_only
@pytest.mark.django_db
def test_a_connection_nobody_closes_is_still_collected_and_so_closed():
    # A thread's connection is never closed explicitly: it closes when collected, which
    # what pgexec keeps about it must not prevent.
    first = connection.connection
    second = connection.get_new_connection(connection.get_connection_params())
    backend = second.info.backend_pid
    connection.connection = second
    try:
        assert pgexec.fetch_one(connection, _MARKED_SQL, [1]) == (2,)
    finally:
        connection.connection = first
    collected = weakref.ref(second)
    del second

    gc.collect()

    assert collected() is None
    assert _backend_gone(backend)


def _backend_gone(pid: int) -> bool:
    # The server ends the backend once it reads the closed socket: shortly, not at once.
    for _ in range(100):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone() == (0,):
                return True
        time.sleep(0.05)
    return False


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_statement_deallocated_behind_its_back_is_prepared_again(owner_client):
    assert me(owner_client).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what DISCARD ALL or a pooler's reset does
    assert auth_statements() == []

    assert me(owner_client).status_code == 200
    assert len(auth_statements()) == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_statement_made_stale_by_a_migration_is_prepared_again(owner_client):
    assert me(owner_client).status_code == 200
    with connection.cursor() as cursor:
        # A column the statement returns changes type: PostgreSQL refuses the old plan
        # ("cached plan must not change result type").
        cursor.execute("ALTER TABLE accounts_user ALTER COLUMN phone TYPE varchar(40)")
    try:
        assert me(owner_client).status_code == 200
        assert me(owner_client).status_code == 200
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE accounts_user ALTER COLUMN phone TYPE varchar(32)")
        connection.close()  # the next test starts without statements planned for varchar(40)


@postgres_only
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


def _divide_by_zero():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1/0")


@postgres_only
@pytest.mark.django_db
def test_the_query_runs_after_a_rolled_back_savepoint(owner):
    with transaction.atomic():
        with pytest.raises(DatabaseError), transaction.atomic():
            _divide_by_zero()

        assert _user_with_revocation(owner.pk, "x" * 32).pk == owner.pk
        assert len(auth_statements()) == 1


@postgres_only
@pytest.mark.django_db
def test_the_query_refuses_to_run_in_a_broken_transaction(owner):
    with transaction.atomic():
        with pytest.raises(DatabaseError), transaction.atomic(savepoint=False):
            _divide_by_zero()

        with pytest.raises(TransactionManagementError):
            _user_with_revocation(owner.pk, "x" * 32)
