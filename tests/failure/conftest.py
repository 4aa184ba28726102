"""Failure tests: real processes, killed and starved on purpose (issue 9).

They run in the services pass of ``.ci/run`` (PostgreSQL on 127.0.0.1:5432 and a
``redis-server`` binary), each with its own database and its own Redis server.
"""

from __future__ import annotations

import pytest

from tests.conftest import USING_POSTGRES
from tests.processes import services_reachable

needs_services = pytest.mark.skipif(
    not (USING_POSTGRES and services_reachable()),
    reason="failure tests run in the services pass (PostgreSQL on 127.0.0.1:5432 and redis-server on PATH)",
)
