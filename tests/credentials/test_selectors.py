"""credential_for_order: live orders only with a live set, backtests only with a backtest set."""

from __future__ import annotations

import pytest

from credentials import services
from credentials.selectors import CredentialUnavailable, credential_for_order


def _save(user, purpose, label="default"):
    return services.credential_save(
        user=user,
        provider="binance",
        purpose=purpose,
        label=label,
        secrets={"api_key": f"{purpose}-{label}-key-000", "api_secret": "s"},
    )


def test_live_orders_get_the_live_set_and_backtests_the_backtest_set(owner):
    live, backtest = _save(owner, "live"), _save(owner, "backtest")

    assert credential_for_order(user=owner, provider="binance", purpose="live") == live
    assert credential_for_order(user=owner, provider="binance", purpose="backtest") == backtest


def test_a_backtest_set_is_never_used_for_live_orders(owner):
    backtest = _save(owner, "backtest")

    with pytest.raises(CredentialUnavailable) as excinfo:
        credential_for_order(user=owner, provider="binance", purpose="live")
    assert excinfo.value.code == "CREDENTIAL_REQUIRED"
    assert "No live key set for binance" in excinfo.value.message

    with pytest.raises(CredentialUnavailable) as excinfo:
        credential_for_order(user=owner, provider="binance", purpose="live", credential_id=backtest.pk)
    assert excinfo.value.code == "CREDENTIAL_WRONG_PURPOSE"


def test_a_live_set_is_never_used_for_backtests(owner):
    live = _save(owner, "live")

    with pytest.raises(CredentialUnavailable):
        credential_for_order(user=owner, provider="binance", purpose="backtest")
    with pytest.raises(CredentialUnavailable):
        credential_for_order(user=owner, provider="binance", purpose="backtest", credential_id=live.pk)


def test_wrong_venue(owner):
    live = _save(owner, "live")

    with pytest.raises(CredentialUnavailable) as excinfo:
        credential_for_order(user=owner, provider="kraken", purpose="live", credential_id=live.pk)
    assert excinfo.value.code == "CREDENTIAL_WRONG_VENUE"


def test_default_label_wins_and_ambiguity_is_an_error(owner):
    _save(owner, "live", "a")
    second = _save(owner, "live", "b")

    with pytest.raises(CredentialUnavailable) as excinfo:
        credential_for_order(user=owner, provider="binance", purpose="live")
    assert excinfo.value.code == "CREDENTIAL_AMBIGUOUS"
    assert credential_for_order(user=owner, provider="binance", purpose="live", credential_id=second.pk) == second
    default = _save(owner, "live")
    assert credential_for_order(user=owner, provider="binance", purpose="live") == default


def test_local_venues_need_no_credential(owner):
    assert credential_for_order(user=owner, provider="simulated", purpose="live") is None


def test_another_users_set_is_never_found(owner, other_user):
    _save(other_user, "live")

    with pytest.raises(CredentialUnavailable):
        credential_for_order(user=owner, provider="binance", purpose="live")
