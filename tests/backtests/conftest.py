from tests.engine.conftest import _engine_defaults  # noqa: F401  (same engine settings as tests/engine)
from tests.fakes.fixtures import fake_exchange  # noqa: F401
