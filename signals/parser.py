"""The text-signal parser: a trading signal as people post it in a channel -> a structured signal.

``BUY XAUUSD at 1950.00 TP: 1965.00 SL: 1940.00`` -> ``{symbol: "XAU/USD", action: "buy",
entry_price: 1950.00, take_profit: [1965.00], stop_loss: 1940.00, confidence: 1}``.

Pure: no database, no HTTP. Prices are exact ``Decimal``s, read from the text's digits
(never through a float). A text that is not a signal raises ``NotASignal`` naming why:
a missing or ambiguous action or symbol, no price level at all, or levels that contradict
the side (a buy's stop-loss above its entry) — such a text is far more often a misreading
than a trade anyone meant, and an order must never leave on a misreading.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from core.errors import Invalid

MAX_TEXT_LENGTH = 5000

# Quotes a concatenated pair (BTCUSDT, XAUUSD) may end in; longest first so USDT wins over USD.
QUOTES = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "CHF",
    "CAD",
    "AUD",
    "NZD",
    "BTC",
    "ETH",
    "BNB",
)
# Names traders use for instruments that are not written as a pair.
ALIASES = {"GOLD": "XAU/USD", "SILVER": "XAG/USD"}
INDICES = {"US30", "NAS100", "US100", "SPX500", "US500", "GER40", "DE40", "UK100", "USOIL", "UKOIL"}

_NUM = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_QUOTE = "|".join(QUOTES)
_PAIR = re.compile(rf"\b([A-Z][A-Z0-9]{{1,9}})\s?[/\-_]\s?({_QUOTE})(?:\.P|-PERP|PERP)?\b")
_JOINED = re.compile(rf"\b([A-Z][A-Z0-9]{{1,9}}?)({_QUOTE})(?:\.P|PERP)?\b")
_NAMED = re.compile(rf"\b({'|'.join(sorted(ALIASES) + sorted(INDICES))})\b")

_ACTIONS = {"BUY": "buy", "BUYING": "buy", "LONG": "buy", "SELL": "sell", "SELLING": "sell", "SHORT": "sell"}
_ACTION = re.compile(r"\b(BUY|BUYING|LONG|SELL|SELLING|SHORT)\b")
_ORDER_TYPE = re.compile(r"\b(BUY|SELL|LONG|SHORT)\s+(LIMIT|STOP)\b")
_CLOSE = re.compile(r"\b(CLOSE|EXIT)\b")
_NOW = re.compile(r"\b(NOW|MARKET|CMP|INSTANT|INSTANTLY)\b")

_RANGE = rf"{_NUM}(?:\s*(?:-|TO|~)\s*{_NUM})?"
_ENTRY_KEYWORD = re.compile(
    r"(?:\bENTRY(?:\s+(?:PRICE|ZONE|POINT|AREA))?|\b(?:BUY|SELL)\s+ZONE|\bZONE|\bPRICE|\bEP|\bOPEN(?:\s+PRICE)?"
    r"|\bAT|@)\s*[:=\-]?\s*(?:@\s*)?(?:AROUND\s+|ABOUT\s+|NEAR\s+|BETWEEN\s+)?" + _RANGE
)
# "BUY XAUUSD 1950", "XAUUSD SELL NOW 1950": a price right after the action or the symbol.
_ENTRY_BARE = re.compile(
    r"\b(?:BUY|SELL|LONG|SHORT)(?:\s+(?:LIMIT|STOP))?(?:\s+SYM)?(?:\s+(?:NOW|MARKET|CMP))?\s*[:@\-]?\s*"
    + _RANGE
    + r"(?!\s*(?:%|PIPS?\b|LOTS?\b|X\b))"
)
_TP_KEYWORD = re.compile(r"\b(?:TAKE\s*-?\s*PROFITS?|TARGETS?|TGT|TP)(?=[\s\d:=.\-)@]|$)")
_SL = re.compile(r"\b(?:STOP\s*-?\s*LOSS|STOPLOSS|SL|STOP)\b\s*[:=@\-]?\s*(?:AT\s+|@\s*)?" + _NUM)
_INDEX = re.compile(r"\s*[1-9](?![\d.,])\s*[:=)\-.]?")
_LIST_START = re.compile(r"\s*[:=\-@]?\s*" + _NUM)
_LIST_MORE = re.compile(r"(?:\s*[,/|&\-]\s*|\s+AND\s+|\s+)" + _NUM + r"(?![\d%])(?!\s*(?:%|PIPS?\b))")


class NotASignal(Invalid):
    """The text is not a trading signal; the message says why."""

    default_code = "NOT_A_SIGNAL"
    default_message = "The text is not a trading signal."


@dataclass(frozen=True)
class ParsedSignal:
    symbol: str
    action: str  # buy | sell | close
    order_type: str  # market | limit | stop
    entry_price: Decimal | None
    entry_range: tuple[Decimal, Decimal] | None
    take_profit: list[Decimal] = field(default_factory=list)
    stop_loss: Decimal | None = None
    confidence: Decimal = Decimal("0")

    def as_dict(self) -> dict:
        return {
            "symbol": self.symbol,
            "action": self.action,
            "order_type": self.order_type,
            "entry_price": self.entry_price,
            "entry_range": list(self.entry_range) if self.entry_range else None,
            "take_profit": list(self.take_profit),
            "stop_loss": self.stop_loss,
            "confidence": self.confidence,
        }


def parse(text: str) -> ParsedSignal:
    """The signal in ``text``, or ``NotASignal`` saying why there is none."""
    if not isinstance(text, str) or not text.strip():
        raise NotASignal("The text is empty.")
    if len(text) > MAX_TEXT_LENGTH:
        raise NotASignal(f"The text is longer than {MAX_TEXT_LENGTH} characters.")
    s = _normalize(text)
    symbol, s = _symbol(s)
    action, order_type = _action(s, symbol)
    if action == "close":
        return ParsedSignal(symbol, "close", "market", None, None, [], None, Decimal("0.8"))
    take_profit = _take_profits(s)
    stop_loss = _stop_loss(s)
    entry_range = _entry(s)
    entry = entry_range[0] if entry_range else None
    if entry is None and not take_profit and stop_loss is None and not _NOW.search(s):
        raise NotASignal(
            "No entry price, take-profit or stop-loss, and not marked 'now' or 'market'.", details=_why("no_levels")
        )
    if order_type != "market" and entry is None:
        raise NotASignal(f"A {action} {order_type} order needs an entry price.", details=_why("no_entry"))
    _check_sides(action, entry_range, take_profit, stop_loss)
    span = (min(entry_range), max(entry_range)) if entry_range and entry_range[0] != entry_range[1] else None
    return ParsedSignal(
        symbol, action, order_type, entry, span, take_profit, stop_loss, _confidence(entry, take_profit, stop_loss)
    )


def _why(reason: str) -> dict:
    return {"reason": reason}


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    # Emoji, arrows and other decorations become spaces: they separate words, they never carry a price.
    text = "".join(ch if ch.isascii() and ch not in "#$*_`~\"'!?" else " " for ch in text)
    text = text.upper()
    text = re.sub(r"\bT\s*/\s*P\b", "TP", text)
    text = re.sub(r"\bS\s*/\s*L\b", "SL", text)
    text = re.sub(r"\bS\.L\.?", "SL ", text)
    text = re.sub(r"\bT\.P\.?", "TP ", text)
    return re.sub(r"[ \t]+", " ", text)


def _symbol(s: str) -> tuple[str, str]:
    """The one instrument the text names, and the text with it replaced by ``SYM``."""
    found: dict[str, str] = {}
    spans = []
    for pattern in (_PAIR, _JOINED):
        for match in pattern.finditer(s):
            if any(a < match.end() and match.start() < b for a, b in spans):
                continue
            spans.append(match.span())
            found.setdefault(f"{match.group(1)}/{match.group(2)}", match.group(0))
    for match in _NAMED.finditer(s):
        name = match.group(1)
        spans.append(match.span())
        found.setdefault(ALIASES.get(name, name), name)
    if not found:
        raise NotASignal("No symbol (a pair such as XAUUSD or BTC/USDT).", details=_why("no_symbol"))
    if len(found) > 1:
        raise NotASignal(f"The text names several symbols ({', '.join(found)}).", details=_why("several_symbols"))
    for a, b in sorted(spans, reverse=True):
        s = s[:a] + " SYM " + s[b:]
    return next(iter(found)), s


def _action(s: str, symbol: str) -> tuple[str, str]:
    actions = {_ACTIONS[m.group(1)] for m in _ACTION.finditer(s)}
    if len(actions) > 1:
        raise NotASignal("The text says both buy and sell.", details=_why("ambiguous_action"))
    if not actions:
        if _CLOSE.search(s):
            return "close", "market"
        raise NotASignal("No action (buy, sell, long, short or close).", details=_why("no_action"))
    typed = _ORDER_TYPE.search(s)
    return actions.pop(), typed.group(2).lower() if typed else "market"


def _decimal(raw: str) -> Decimal:
    return Decimal(raw.replace(",", ""))


def _range(match: re.Match, first: int = 1) -> tuple[Decimal, Decimal]:
    low = _decimal(match.group(first))
    high = match.group(first + 1)
    return (low, _decimal(high) if high else low)


def _entry(s: str) -> tuple[Decimal, Decimal] | None:
    head = _without_exits(s)
    for pattern in (_ENTRY_KEYWORD, _ENTRY_BARE):
        match = pattern.search(head)
        if match:
            return _range(match)
    return None


def _without_exits(s: str) -> str:
    """The text before its first take-profit or stop-loss: where an entry is written."""
    cut = len(s)
    for pattern in (_TP_KEYWORD, _SL):
        match = pattern.search(_blank_order_types(s))
        if match:
            cut = min(cut, match.start())
    return s[:cut]


def _take_profits(s: str) -> list[Decimal]:
    targets: list[Decimal] = []
    for keyword in _TP_KEYWORD.finditer(s):
        for value in _numbers_after(s, keyword.end()):
            if value not in targets:
                targets.append(value)
    return targets


def _numbers_after(s: str, at: int) -> list[Decimal]:
    """The prices after a TP keyword: ``TP1: 1965``, ``TP 1965/1970``, ``Targets: 1965 - 1970, 1975``."""
    index = _INDEX.match(s, at)
    start = _LIST_START.match(s, index.end()) if index else None
    if start is None:
        start = _LIST_START.match(s, at)  # "TP 5": a lone digit is the price, not an index
    if start is None:
        return []
    values = [_decimal(start.group(1))]
    at = start.end()
    while more := _LIST_MORE.match(s, at):
        values.append(_decimal(more.group(1)))
        at = more.end()
    return values


def _blank_order_types(s: str) -> str:
    """``BUY STOP 1950`` is an order type, not a stop-loss; blanked to the same length so offsets hold."""
    return _ORDER_TYPE.sub(lambda m: " " * len(m.group(0)), s)


def _stop_loss(s: str) -> Decimal | None:
    match = _SL.search(_blank_order_types(s))
    return _decimal(match.group(1)) if match else None


def _check_sides(action: str, entry: tuple | None, take_profit: list[Decimal], stop_loss: Decimal | None) -> None:
    """A buy's stop-loss below its entry and targets above it (a sell's the other way round)."""
    sign = 1 if action == "buy" else -1
    low, high = (min(entry), max(entry)) if entry else (None, None)
    near = low if action == "buy" else high
    if stop_loss is not None:
        if near is not None and sign * (stop_loss - near) >= 0:
            side = "below" if action == "buy" else "above"
            raise NotASignal(
                f"The stop-loss {stop_loss} is not {side} the entry {near} of a {action}.", details=_why("inconsistent")
            )
        for target in take_profit:
            if sign * (target - stop_loss) <= 0:
                raise NotASignal(
                    f"The take-profit {target} is on the stop-loss's side of a {action}.", details=_why("inconsistent")
                )
    far = high if action == "buy" else low
    for target in take_profit:
        if far is not None and sign * (target - far) <= 0:
            side = "above" if action == "buy" else "below"
            raise NotASignal(
                f"The take-profit {target} is not {side} the entry {far} of a {action}.", details=_why("inconsistent")
            )


def _confidence(entry, take_profit, stop_loss) -> Decimal:
    """How complete the signal is: an action and a symbol are half; entry, targets and stop the rest."""
    score = Decimal("0.5")
    if entry is not None:
        score += Decimal("0.2")
    if take_profit:
        score += Decimal("0.15")
    if stop_loss is not None:
        score += Decimal("0.15")
    return score
