from tests.fakes.fixtures import fake_exchange, unreachable_venues  # noqa: F401
