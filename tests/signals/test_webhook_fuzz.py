"""A fuzz pass over the webhook body: any JSON a sender may post is a 202 (recorded, with a
verdict) or a 400 (nothing recorded) — never a 5xx, never a signal half-written.

Hypothesis drives the real endpoint through Django's test client with a real token; the
values mix the fields' plausible shapes with hostile ones (huge and non-finite numbers,
NULs, nested structures, wrong types). Derandomized: the same examples every run.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.models import Order
from signals.models import Signal
from tests.conftest import _clear_cache

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

FIELDS = ["action", "symbol", "quantity", "quote_amount", "percent", "price", "timestamp", "max_lag_seconds", "id"]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80)
    | st.sampled_from(
        [
            "buy",
            "SELL",
            "close",
            "BTC/USDT",
            "BINANCE:BTCUSDT",
            "1e400",
            "-0",
            "NaN",
            "Infinity",
            "2026-12-03T10:00:00Z",
            "\u0000",
        ]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), json_values, max_size=8) | json_values


@settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(body=bodies)
def test_any_body_is_a_202_with_a_verdict_or_a_400_recording_nothing(api_client, webhook_url, body):
    _clear_cache()  # the throttle: a 429 must not hide a bug (only this run's keys, on a shared Redis)
    before = Signal.objects.count()
    response = api_client.post(webhook_url, data=json.dumps(body), content_type="application/json")

    assert response.status_code in (202, 400), (body, response.content)
    assert response.json()["success"] is (response.status_code == 202)
    after = Signal.objects.count()
    if response.status_code == 400:
        assert after == before
    else:
        assert after == before + 1
        assert response.json()["signal"]["status"] in ("accepted", "rejected")


amounts = st.decimals(min_value=Decimal("1e-12"), max_value=Decimal("1e15"), allow_nan=False, places=12).map(str)
valid_bodies = st.fixed_dictionaries(
    {"action": st.sampled_from(["buy", "sell", "close", "BUY"])},
    optional={
        "quantity": amounts,
        "quote_amount": amounts,
        "percent": st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100), places=4).map(str),
        "price": amounts,
        "symbol": st.sampled_from(["BTC/USDT", "BINANCE:BTCUSDT", "BTCUSDT.P"]),
    },
)


@settings(max_examples=80, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(body=valid_bodies)
def test_any_accepted_signal_is_acted_on_to_an_outcome(
    api_client, webhook_url, signal_bot, django_capture_on_commit_callbacks, body
):
    """Whatever amounts and prices a valid signal carries, its task ends it executed (with its
    order), failed or rejected with a reason: never a crash, never left accepted."""
    _clear_cache()
    Order.objects.filter(bot=signal_bot, status="open").update(status="canceled")  # no resting order holds the next
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(webhook_url, data=json.dumps(body), content_type="application/json")

    if response.status_code == 400:  # several amounts, a close with a price: named, nothing recorded
        return
    assert response.status_code == 202, (body, response.content)
    signal = Signal.objects.get(pk=response.json()["signal"]["id"])
    assert signal.status in ("executed", "failed", "rejected"), (body, signal.status, signal.reason)
    assert signal.reason or signal.status == "executed"
    assert (signal.order_id is not None) == (signal.status == "executed") or signal.reason == "order_rejected"
