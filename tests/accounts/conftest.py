"""Fixtures shared by the accounts tests."""

from tests.accounts.twofactor_kit import clock  # noqa: F401 - a fixture
