"""The text-signal parser on real-world shapes of signal posts (and on posts that are not signals)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from signals.parser import NotASignal, parse

D = Decimal

# (text, symbol, action, order_type, entry, take_profit, stop_loss)
SIGNALS = [
    ("BUY XAUUSD at 1950.00 TP: 1965.00 SL: 1940.00", "XAU/USD", "buy", "market", "1950.00", ["1965.00"], "1940.00"),
    ("buy xauusd at 1950 tp 1965 sl 1940", "XAU/USD", "buy", "market", "1950", ["1965"], "1940"),
    ("SELL EURUSD @ 1.0850 TP 1.0800 SL 1.0900", "EUR/USD", "sell", "market", "1.0850", ["1.0800"], "1.0900"),
    (
        "🔥 GOLD BUY NOW 1950 🔥\nTP1: 1955\nTP2: 1960\nTP3: 1970\nSL: 1940",
        "XAU/USD",
        "buy",
        "market",
        "1950",
        ["1955", "1960", "1970"],
        "1940",
    ),
    (
        "XAUUSD SELL 2035.50\nTP 2030\nTP 2025\nSL 2042",
        "XAU/USD",
        "sell",
        "market",
        "2035.50",
        ["2030", "2025"],
        "2042",
    ),
    (
        "📈 #BTCUSDT LONG\nEntry: 64,500\nTargets: 65,000 - 66,000 - 67,500\nStop loss: 63,000",
        "BTC/USDT",
        "buy",
        "market",
        "64500",
        ["65000", "66000", "67500"],
        "63000",
    ),
    (
        "BTC/USDT Short\nEntry zone: 68000-68500\nTP: 67000 / 66000 / 65000\nSL: 69500",
        "BTC/USDT",
        "sell",
        "market",
        "68000",
        ["67000", "66000", "65000"],
        "69500",
    ),
    ("Sell limit GBPUSD 1.2750 TP 1.2700 SL 1.2800", "GBP/USD", "sell", "limit", "1.2750", ["1.2700"], "1.2800"),
    ("BUY LIMIT XAU/USD @ 1948.5 T/P 1960 S/L 1942", "XAU/USD", "buy", "limit", "1948.5", ["1960"], "1942"),
    ("Buy stop EURJPY 161.20 tp 162.00 sl 160.80", "EUR/JPY", "buy", "stop", "161.20", ["162.00"], "160.80"),
    (
        "ETHUSDT long entry 3,120 - 3,150 take profit 3,250, 3,400 stop 3,020",
        "ETH/USDT",
        "buy",
        "market",
        "3120",
        ["3250", "3400"],
        "3020",
    ),
    ("$SOLUSDT LONG @ 142.3 TP 150 SL 135", "SOL/USDT", "buy", "market", "142.3", ["150"], "135"),
    (
        "Signal: BUY USDJPY\nEntry Price: 149.20\nTake Profit 1: 149.80\nTake Profit 2: 150.40\nStop Loss: 148.70",
        "USD/JPY",
        "buy",
        "market",
        "149.20",
        ["149.80", "150.40"],
        "148.70",
    ),
    ("XAU/USD sell now @2041 sl 2048 tp 2035 tp 2030", "XAU/USD", "sell", "market", "2041", ["2035", "2030"], "2048"),
    (
        "🟢 BUY GBPJPY 188.500 🎯 TP 189.200 ❌ SL 187.900",
        "GBP/JPY",
        "buy",
        "market",
        "188.500",
        ["189.200"],
        "187.900",
    ),
    ("Short BTC-USDT at 70100, TP 69000, SL 70900", "BTC/USDT", "sell", "market", "70100", ["69000"], "70900"),
    ("AUDUSD BUY @ 0.6550 | TP 0.6600 | SL 0.6520", "AUD/USD", "buy", "market", "0.6550", ["0.6600"], "0.6520"),
    (
        "We are buying NZDUSD at 0.6000, target 0.6080, stop loss 0.5960. Risk 1%",
        "NZD/USD",
        "buy",
        "market",
        "0.6000",
        ["0.6080"],
        "0.5960",
    ),
    ("BUY BTCUSDT NOW\nTP 72000\nSL 66000", "BTC/USDT", "buy", "market", None, ["72000"], "66000"),
    ("SELL XAUUSD NOW", "XAU/USD", "sell", "market", None, [], None),
    ("US30 SELL 38950 TP 38800 SL 39050", "US30", "sell", "market", "38950", ["38800"], "39050"),
    (
        "NAS100 buy @ 17850 tp1 17900 tp2 17950 sl 17800",
        "NAS100",
        "buy",
        "market",
        "17850",
        ["17900", "17950"],
        "17800",
    ),
    ("Silver long at 23.15 target 23.60 SL 22.90", "XAG/USD", "buy", "market", "23.15", ["23.60"], "22.90"),
    ("ETH/BTC buy 0.0525 tp 0.0550 sl 0.0510", "ETH/BTC", "buy", "market", "0.0525", ["0.0550"], "0.0510"),
    (
        "BNBUSDT.P LONG\nEntry: 580\nTP1 - 590\nTP2 - 600\nSL - 570",
        "BNB/USDT",
        "buy",
        "market",
        "580",
        ["590", "600"],
        "570",
    ),
    (
        "XAUUSD buy zone 1948 - 1945\nTP 1955\nTP 1960\nSL 1940",
        "XAU/USD",
        "buy",
        "market",
        "1948",
        ["1955", "1960"],
        "1940",
    ),
    (
        "EURUSD — SELL — Entry 1.0920 — SL 1.0950 — TP 1.0880",
        "EUR/USD",
        "sell",
        "market",
        "1.0920",
        ["1.0880"],
        "1.0950",
    ),
    (
        "sell usdcad at 1.3650 stoploss 1.3700 takeprofit 1.3580",
        "USD/CAD",
        "sell",
        "market",
        "1.3650",
        ["1.3580"],
        "1.3700",
    ),
    (
        "Long DOGEUSDT 0.1520 targets 0.1600, 0.1700 SL 0.1450",
        "DOGE/USDT",
        "buy",
        "market",
        "0.1520",
        ["0.1600", "0.1700"],
        "0.1450",
    ),
    (
        "GBPUSD BUY\nEP: 1.2650\nTP1 = 1.2700\nTP2 = 1.2750\nSL = 1.2600",
        "GBP/USD",
        "buy",
        "market",
        "1.2650",
        ["1.2700", "1.2750"],
        "1.2600",
    ),
    ("buy gold 1950.25 sl 1945.75 tp 1958.10", "XAU/USD", "buy", "market", "1950.25", ["1958.10"], "1945.75"),
    ("Close XAUUSD", "XAU/USD", "close", "market", None, [], None),
]


@pytest.mark.parametrize(("text", "symbol", "action", "order_type", "entry", "tps", "sl"), SIGNALS)
def test_a_signal_is_read_exactly(text, symbol, action, order_type, entry, tps, sl):
    signal = parse(text)
    assert (signal.symbol, signal.action, signal.order_type) == (symbol, action, order_type)
    assert signal.entry_price == (D(entry) if entry else None)
    assert signal.take_profit == [D(tp) for tp in tps]
    assert signal.stop_loss == (D(sl) if sl else None)
    for value in [signal.entry_price, signal.stop_loss, *signal.take_profit]:
        assert value is None or isinstance(value, Decimal)


def test_prices_keep_every_digit_as_written():
    signal = parse("BUY EURUSD at 1.08505 TP 1.08995 SL 1.08005")
    assert str(signal.entry_price) == "1.08505"
    assert str(signal.take_profit[0]) == "1.08995"


def test_an_entry_range_is_kept_as_written_first_and_as_a_span():
    signal = parse("BTC/USDT Short\nEntry zone: 68000-68500\nTP: 67000\nSL: 69500")
    assert signal.entry_price == D("68000")
    assert signal.entry_range == (D("68000"), D("68500"))


def test_confidence_grows_with_the_levels_given():
    full = parse("BUY XAUUSD at 1950 TP 1965 SL 1940").confidence
    bare = parse("BUY XAUUSD NOW").confidence
    assert full == D("1.00")
    assert bare == D("0.5")


NOT_SIGNALS = [
    ("", "empty"),
    ("   \n ", "empty"),
    ("Good morning traders! Big week ahead 🚀", "No symbol"),
    ("Gold is looking bullish today, watch 1950", "No action"),
    ("TP1 hit on XAUUSD +50 pips 🎉🎉", "No action"),
    ("What do you think about BTCUSDT?", "No action"),
    ("Buy the dip!", "No symbol"),
    ("Join our VIP channel for 90% accurate signals, buy now", "No symbol"),
    ("BUY XAUUSD at 1950 TP 1965 SL 1960", "stop-loss 1960 is not below the entry 1950"),
    ("SELL EURUSD TP 1.0900 SL 1.0800", "take-profit 1.0900 is on the stop-loss's side"),
    ("BUY XAUUSD at 1950 TP 1940 SL 1930", "take-profit 1940 is not above the entry 1950"),
    ("Buy XAUUSD and sell EURUSD", "several symbols"),
    ("Buy or sell XAUUSD? Vote below", "both buy and sell"),
    ("I bought BTCUSDT last week, still holding", "No action"),
    ("Buy BTCUSDT", "No entry price, take-profit or stop-loss"),
    ("Sell limit EURUSD TP 1.0800 SL 1.0950", "needs an entry price"),
]


@pytest.mark.parametrize(("text", "why"), NOT_SIGNALS)
def test_a_text_that_is_not_a_signal_is_refused_saying_why(text, why):
    with pytest.raises(NotASignal) as refused:
        parse(text)
    assert why in refused.value.message
    assert refused.value.code == "NOT_A_SIGNAL"


def test_a_very_long_text_is_refused_before_any_regex_runs():
    with pytest.raises(NotASignal, match="longer than"):
        parse("BUY XAUUSD at 1950 " + "x" * 6000)
