"""Suite-wide set-up: the run mode under test, personas, authenticated clients.

The suite runs on the embedded default (SQLite in memory, in-memory cache and
channel layer, Celery eager) and, when ``DATABASE_URL``/``REDIS_URL`` are set, against
the real PostgreSQL and Redis. Nothing here flushes a shared server: Redis keys carry a
per-run prefix and only those are deleted.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache, caches
from django.test import override_settings
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, StaffFactory, UserFactory

# Fixture modules shared across test folders.
pytest_plugins = ["tests.engine.fixtures", "tests.asgi"]

USING_REDIS = bool(settings.REDIS_URL)
USING_POSTGRES = not settings.EMBEDDED


# Tests that start real processes (servers, workers, a browser). Under pytest-xdist they
# share one worker, one test at a time, as in a serial run: their deadlines (offline within
# 30 s, a 300 s timeout) assume one product on the machine at a time — a parallel run that
# let two products start together timed out. The scheduler sees node ids only, so these are
# named by path; the collection hook below fails a marked test outside them.
PROCESS_MARKERS = ("e2e", "failure", "browser")
PROCESS_PATHS = (
    "tests/e2e/",
    "tests/failure/",
    "tests/browser/",
    "tests/security/test_served.py",
    "tests/engine/test_worker_redis.py",
)


def pytest_xdist_make_scheduler(config, log):
    # pytest-xdist's own "loadgroup" marks groups by rewriting node ids, which pytest 9
    # no longer reads back: the groups are made here instead.
    from xdist.scheduler import LoadScopeScheduling

    class ProcessTestsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "processes" if nodeid.startswith(PROCESS_PATHS) else nodeid

    return ProcessTestsTogether(config, log)


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs DATABASE_URL and REDIS_URL (the services run of .ci/run)")
    for item in items:
        if "services" in item.keywords and not (USING_REDIS and USING_POSTGRES):
            item.add_marker(skip)
        if any(m in item.keywords for m in PROCESS_MARKERS) and not item.nodeid.startswith(PROCESS_PATHS):
            raise pytest.UsageError(f"{item.nodeid} starts processes: add its path to PROCESS_PATHS")


@pytest.fixture(scope="session", autouse=True)
def _test_mode_settings():
    overrides = {
        # Fast hashing: the suite creates hundreds of users.
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        "CELERY_TASK_ALWAYS_EAGER": True,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    if not USING_REDIS:
        # One process: the in-memory cache stands in for the shared database cache, so
        # query counts on list endpoints measure our queries, not throttle bookkeeping.
        # The throttle's own alias (THROTTLE_CACHE) is process memory in the embedded default anyway.
        overrides["CACHES"] = {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"},
        }
    from config.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    with override_settings(**overrides):
        yield


@pytest.fixture(scope="session", autouse=True)
def _release_test_database(django_db_setup, django_db_blocker):
    """Let pytest-django drop the PostgreSQL test database at the end.

    Threads of async and threaded tests (database_sync_to_async, relay, ready checks)
    keep thread-local connections open, and DROP DATABASE refuses while any session is
    connected: each CI run would leave its database behind on the shared server. This
    teardown runs just before pytest-django's and ends those sessions — on the test
    database only.
    """
    yield
    from django.db import connection, connections

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
        connections.close_all()


# Rows that migrate and its post_migrate hooks create once, which no test changes: kept
# across the flushes below, so no flush has to recreate them.
KEPT_TABLES = frozenset({"django_content_type", "auth_permission"})
_model_tables: dict[str, list[str]] = {}


def _empty_the_tables(test_case) -> None:
    """A transactional test's teardown, leaving what Django's leaves at a fraction of the cost.

    Django's ``flush`` truncates every table (80 here) and then sends ``post_migrate``,
    which recreates every content type and permission: about 2 s a test on PostgreSQL,
    more than most of these tests take, for tables of which a test fills a handful.
    This deletes the rows of the tables that have any (one query finds them), in one
    transaction (foreign keys are checked at its commit, so the order does not matter),
    and keeps content types and permissions as migrate made them.
    """
    from django.db import connections, transaction

    for alias in test_case._databases_names(include_mirrors=False):
        conn = connections[alias]
        if alias not in _model_tables:
            names = conn.introspection.django_table_names(only_existing=True, include_views=False)
            _model_tables[alias] = [name for name in names if name not in KEPT_TABLES]
        quote = conn.ops.quote_name
        tables = _model_tables[alias]
        probe = " UNION ALL ".join(f"SELECT %s WHERE EXISTS (SELECT 1 FROM {quote(name)})" for name in tables)  # noqa: S608
        with transaction.atomic(using=alias), conn.cursor() as cursor:
            cursor.execute(probe, tables)
            for (name,) in cursor.fetchall():
                cursor.execute(f"DELETE FROM {quote(name)}")  # noqa: S608 - our own table names


@pytest.fixture(scope="session", autouse=True)
def _quick_flush():
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def teardown(self):
        if self.available_apps is not None or self.serialized_rollback:
            return original(self)  # flushes of other kinds: Django's own
        return _empty_the_tables(self)

    TransactionTestCase._fixture_teardown = teardown
    yield
    TransactionTestCase._fixture_teardown = original


def _clear_cache() -> None:
    if not USING_REDIS:
        cache.clear()
        caches["throttle"].clear()
        return
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"*{settings.KEY_PREFIX}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and cached market data must not leak between tests."""
    _clear_cache()
    yield
    _clear_cache()


# ---------------------------------------------------------------------------
# Personas (STYLE.md): an owner, another user, staff
# ---------------------------------------------------------------------------
@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@example.com", username="owner")


@pytest.fixture
def other_user(db):
    return UserFactory(email="other@example.com", username="other")


@pytest.fixture
def staff(db):
    return StaffFactory(email="staff@example.com", username="staff")


def bearer_client(user) -> APIClient:
    from accounts.tokens import token_pair_for

    client = APIClient()
    pair = token_pair_for(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    client.tokens = pair
    client.user = user
    return client


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def owner_client(owner) -> APIClient:
    return bearer_client(owner)


@pytest.fixture
def other_client(other_user) -> APIClient:
    return bearer_client(other_user)


@pytest.fixture
def staff_client(staff) -> APIClient:
    return bearer_client(staff)


@pytest.fixture
def redis_server():
    """A ``redis-server`` of the test's own on a free port, which it may kill and restart."""
    from tests.processes import RedisServer

    redis = RedisServer().start()
    yield redis
    redis.stop()


@pytest.fixture
def shared_data_dir():
    """``../shared/data`` when present (a developer's checkout), else None."""
    from pathlib import Path

    path = Path(settings.BASE_DIR).parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def ready_without_processes(monkeypatch):
    """``ready`` as if a relay and an engine were running: in-process tests start neither,
    and those two checks read on their own connections, which a test's transaction locks out."""
    from config import health

    for check in ("relay", "engine"):
        monkeypatch.setitem(health.CHECKS, check, lambda: None)
