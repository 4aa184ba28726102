"""A fuzz pass over the webhook body: any JSON a sender may post is a 202 (recorded, with a
verdict) or a 400 (nothing recorded) — never a 5xx, never a signal half-written.

Hypothesis drives the real endpoint through Django's test client with a real token; the
values mix the fields' plausible shapes with hostile ones (huge and non-finite numbers,
NULs, nested structures, wrong types). Derandomized: the same examples every run.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
