"""The provider registry and the client interface the engine builds on, against the fake exchange."""

from __future__ import annotations

import sys
from decimal import Decimal

import pytest

from credentials import providers, services
from credentials.exceptions import VenueAuthError, VenueNotSupported, VenueOrderRejected, VenueUnreachable
from credentials.providers.angelone import ordertag
from credentials.providers.base import KeySet
from tests.fakes.exchange import (
    ANGEL_CLIENT,
    ANGEL_KEY,
    ANGEL_PIN,
    ANGEL_TOTP,
    BINANCE_KEY,
    BINANCE_SECRET,
)
from tests.fakes.venues import BYBIT_KEY, BYBIT_SECRET, KRAKEN_KEY, KRAKEN_SECRET

BINANCE = KeySet(provider="binance", api_key=BINANCE_KEY, api_secret=BINANCE_SECRET)
ANGEL = KeySet(
    provider="angelone", api_key=ANGEL_KEY, client_code=ANGEL_CLIENT, password=ANGEL_PIN, totp_secret=ANGEL_TOTP
)


def test_registry():
    ids = providers.available()

    assert ids[:3] == ["simulated", "replay", "angelone"]
    assert "binance" in ids and "kraken" in ids
    assert providers.get("simulated").required_fields == ()
    assert providers.get("angelone").required_fields == ("api_key", "client_code", "password", "totp_secret")
    assert providers.get("binance").required_fields == ("api_key", "api_secret")
    assert providers.get("okx").required_fields == ("api_key", "api_secret", "passphrase")
    with pytest.raises(providers.UnknownProvider):
        providers.get("nope")


def test_ccxt_is_imported_lazily():
    import subprocess

    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
    code += "import credentials.providers as p; p.get('simulated'); import sys; print('ccxt' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)

    assert result.stdout.strip().splitlines()[-1] == "False"


def test_keyset_repr_hides_secrets():
    assert BINANCE_SECRET not in repr(BINANCE) and BINANCE_KEY not in str(BINANCE)


def test_ccxt_client_is_quiet_and_bounded(fake_exchange):
    client = providers.get("binance").client(BINANCE, timeout=1.5)

    assert client._exchange.verbose is False
    assert client._exchange.timeout == 1500
    assert client._exchange.urls["api"]["private"] == f"{fake_exchange.url}/api/v3"


def test_binance_client_interface(fake_exchange):
    client = providers.get("binance").client(BINANCE)

    balance = client.fetch_balance()
    markets = {m.symbol: m for m in client.fetch_markets()}
    order = client.create_order(
        symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.01"), client_order_id="bf-1-42"
    )
    found = client.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="bf-1-42")
    missing = client.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="bf-1-43")
    candles = client.fetch_ohlcv(symbol="BTC/USDT", timeframe="1m", limit=3)
    ticker = client.fetch_ticker(symbol="BTC/USDT")

    assert balance["USDT"].free == Decimal("10000")
    assert markets["BTC/USDT"].min_amount == Decimal("0.00001") and markets["BTC/USDT"].venue_id == "BTCUSDT"
    assert (order.client_order_id, order.status, order.filled, order.average) == (
        "bf-1-42",
        "closed",
        Decimal("0.01"),
        Decimal("50000"),
    )
    assert fake_exchange.orders["bf-1-42"]["side"] == "BUY"
    assert (found.id, found.client_order_id) == (order.id, "bf-1-42")
    assert missing is None
    assert len(candles) == 3 and candles[0][1] == Decimal("50000")
    assert (ticker.last, ticker.bid, ticker.ask) == (Decimal("50000"), Decimal("49999"), Decimal("50001"))


def test_binance_errors_are_venue_errors(fake_exchange):
    client = providers.get("binance").client(BINANCE)
    with pytest.raises(VenueOrderRejected):
        client.create_order(symbol="DOGE/BTC", side="buy", type="market", amount=Decimal(1), client_order_id="x1")
    fake_exchange.reject_keys = True
    with pytest.raises(VenueAuthError):
        client.fetch_balance()


def test_angelone_client_interface(fake_exchange):
    client = providers.get("angelone").client(ANGEL)
    long_id = "bf-12345-67890-abcdef-0001"

    balance = client.fetch_balance()
    markets = {m.symbol: m for m in client.fetch_markets()}
    order = client.create_order(
        symbol="NSE:SBIN-EQ", side="buy", type="market", amount=Decimal(3), client_order_id=long_id
    )
    found = client.fetch_order_by_client_id(symbol="NSE:SBIN-EQ", client_order_id=long_id)
    missing = client.fetch_order_by_client_id(symbol="NSE:SBIN-EQ", client_order_id="other")
    fake_exchange.expire_angel_sessions()  # the client logs in again by itself
    ticker = client.fetch_ticker(symbol="NSE:SBIN-EQ")
    candles = client.fetch_ohlcv(symbol="NSE:SBIN-EQ", timeframe="1m", limit=2)

    assert balance["INR"].free == Decimal("95000.00")
    assert markets["NSE:SBIN-EQ"].venue_id == "3045"
    assert fake_exchange.angel_orders[0]["ordertag"] == ordertag(long_id) and len(ordertag(long_id)) == 20
    assert (order.status, order.filled, order.average, order.client_order_id) == (
        "closed",
        3,
        Decimal("600.5"),
        long_id,
    )
    assert found.id == order.id and missing is None
    assert ticker.last == Decimal("600.5")
    assert len(candles) == 2
    logins = [p for m, p in fake_exchange.requests if p.endswith("loginByPassword")]
    assert len(logins) == 2


def test_angelone_a_limit_order_rests_and_is_canceled_by_its_id_or_its_tag(fake_exchange):
    client = providers.get("angelone").client(ANGEL)
    resting = client.create_order(
        symbol="NSE:SBIN-EQ",
        side="buy",
        type="limit",
        amount=Decimal(2),
        price=Decimal("590"),
        client_order_id="bf-1-1",
    )
    assert (resting.status, resting.filled) == ("open", 0)

    client.cancel_order(symbol="NSE:SBIN-EQ", venue_order_id=resting.id, client_order_id="bf-1-1")
    assert client.fetch_order_by_client_id(symbol="NSE:SBIN-EQ", client_order_id="bf-1-1").status == "canceled"
    with pytest.raises(VenueOrderRejected, match="cannot be cancelled"):  # the venue's words, as a refusal
        client.cancel_order(symbol="NSE:SBIN-EQ", venue_order_id=resting.id, client_order_id="bf-1-1")

    # An order whose answer was lost (no venue id) is found by its tag.
    client.create_order(
        symbol="NSE:SBIN-EQ",
        side="sell",
        type="limit",
        amount=Decimal(1),
        price=Decimal("650"),
        client_order_id="bf-1-2",
    )
    client.cancel_order(symbol="NSE:SBIN-EQ", venue_order_id="", client_order_id="bf-1-2")
    assert client.fetch_order_by_client_id(symbol="NSE:SBIN-EQ", client_order_id="bf-1-2").status == "canceled"
    with pytest.raises(VenueOrderRejected, match="no order bf-1-3"):
        client.cancel_order(symbol="NSE:SBIN-EQ", venue_order_id="", client_order_id="bf-1-3")


def test_angelone_unknown_symbol(fake_exchange):
    with pytest.raises(VenueOrderRejected, match="EXCHANGE:SYMBOL"):
        providers.get("angelone").client(ANGEL).fetch_ticker(symbol="SBIN")


def test_unreachable_client(unreachable_venues):
    with pytest.raises(VenueUnreachable):
        providers.get("binance").client(BINANCE).fetch_balance()
    with pytest.raises(VenueUnreachable):
        providers.get("angelone").client(ANGEL).fetch_balance()


def test_local_clients_leave_orders_to_the_engine():
    client = providers.get("simulated").client()

    assert "BTC/USDT" in {m.symbol for m in client.fetch_markets()}
    with pytest.raises(VenueNotSupported):
        client.create_order(symbol="BTC/USDT", side="buy", type="market", amount=Decimal(1), client_order_id="x")


def test_one_client_per_key_set_version(owner, fake_exchange):
    secrets = {"api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET}
    credential = services.credential_save(
        user=owner, provider="binance", purpose="live", label="default", secrets=secrets
    )
    same_row_again = type(credential).objects.get(pk=credential.pk)

    first = providers.client_for(credential)

    assert providers.client_for(same_row_again) is first  # bots sharing a key share its rate limit
    resaved = services.credential_save(user=owner, provider="binance", purpose="live", label="default", secrets=secrets)
    assert resaved.updated_at > credential.updated_at
    renewed = providers.client_for(resaved)
    assert renewed is not first
    assert providers.client_for(credential) is renewed  # an older row object gets the newer client
    assert providers.public_client("binance") is providers.public_client("binance")


@pytest.mark.parametrize(
    ("venue", "keys"),
    [("kraken", (KRAKEN_KEY, KRAKEN_SECRET)), ("bybit", (BYBIT_KEY, BYBIT_SECRET))],
)
def test_kraken_and_bybit_find_an_order_by_client_id(venue, keys, fake_exchange):
    client = providers.get(venue).client(KeySet(provider=venue, api_key=keys[0], api_secret=keys[1]))

    order = client.create_order(
        symbol="BTC/USDT", side="buy", type="market", amount=Decimal("0.01"), client_order_id="bf-1-42"
    )
    found = client.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="bf-1-42")
    missing = client.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="bf-1-43")

    # The venue answers placement with an id only; the client reads the order back at once.
    assert (order.status, order.filled, order.average, order.cost) == (
        "closed",
        Decimal("0.01"),
        Decimal("50000"),
        Decimal("500"),
    )
    assert (found.id, found.client_order_id, found.filled) == (order.id, "bf-1-42", Decimal("0.01"))
    assert missing is None
    assert fake_exchange.orders["bf-1-42"].venue == venue


def test_each_venue_declares_how_it_is_reconciled():
    assert providers.get("binance").capabilities.fills == "trades"
    assert providers.get("kraken").capabilities.client_id_lookup == "open_closed"
    assert providers.get("angelone").capabilities.client_id_lookup == "order_book"
    assert providers.get("okx").capabilities.live_refusal("okx").startswith("live trading on okx is not supported")
    assert providers.get("binance").capabilities.live_refusal("binance") == ""
