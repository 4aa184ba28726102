"""Shared by the 2FA, token and leaving tests: an authenticator app on a clock the test moves."""

from __future__ import annotations

import pyotp
import pytest

from accounts.services import two_factor


class Authenticator:
    """The user's authenticator app; ``code()`` is the code of the current step."""

    def __init__(self, clock, secret: str):
        self.clock = clock
        self.totp = pyotp.TOTP(secret, interval=two_factor.STEP_SECONDS)

    def code(self, steps: int = 0) -> str:
        return self.totp.at(self.clock.now + steps * two_factor.STEP_SECONDS)


class Clock:
    def __init__(self, start: float):
        self.now = start

    def next_step(self) -> None:
        self.now += two_factor.STEP_SECONDS


@pytest.fixture
def clock(monkeypatch):
    """The time TOTP codes are checked at, moved by the test (no sleeping for a new step)."""
    value = Clock(1_900_000_020.0)
    monkeypatch.setattr(two_factor, "_now", lambda: value.now)
    return value


def turn_on_two_factor(client, clock) -> tuple[Authenticator, list[str]]:
    setup = client.post("/api/auth/2fa/setup", {}, format="json")
    assert setup.status_code == 200, setup.content
    app = Authenticator(clock, setup.json()["secret"])
    enabled = client.post("/api/auth/2fa/enable", {"code": app.code()}, format="json")
    assert enabled.status_code == 200, enabled.content
    clock.next_step()  # the enabling code is spent; the next action uses the next step's
    return app, enabled.json()["recovery_codes"]
