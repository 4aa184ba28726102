"""Log redaction for venue traffic.

ccxt logs every request's headers (API keys included) at DEBUG through its own logger,
whatever ``verbose`` says; HTTP libraries log URLs with signatures. Production keeps those
loggers at WARNING (settings.LOGGING), but a DEBUG log level must not turn into a key
leak, so records from these loggers — and, through the console handler's filter, every
record — pass through :class:`RedactSecretsFilter`, which masks the value of anything
named like a key, secret, signature, passphrase, token, password or TOTP, and bearer tokens.
"""

from __future__ import annotations

import logging
import re

_NAME = r"[\w-]*(?:key|secret|sign|signature|passphrase|token|password|passwd|totp|auth\w*)[\w-]*"
_PAIR = re.compile(rf"""(?ix)
    (?P<name>['"]?{_NAME}['"]?)          # a name that says "secret"
    (?P<sep>\s*[:=]\s*)                  # : or =
    (?P<quote>['"]?)                      # an optional quote
    (?P<value>(?:Bearer\s+)?[^'"&\s,}}]+)   # the value (up to a delimiter)
""")
_BEARER = re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]+")

REDACTED = "[redacted]"
# Loggers that see venue traffic; the filter is attached to each (a logger's own filters
# apply to its records before any handler, including test capture handlers, sees them).
VENUE_LOGGERS = ("ccxt", "ccxt.base.exchange", "botfleet.venues", "httpx", "httpcore", "urllib3.connectionpool")


def redact(text: str) -> str:
    text = _PAIR.sub(lambda m: f"{m['name']}{m['sep']}{m['quote']}{REDACTED}", text)
    return _BEARER.sub(f"Bearer {REDACTED}", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging's own handling
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_filter = RedactSecretsFilter()


def install() -> None:
    """Attach the filter to the venue loggers (idempotent; called from the app's ready())."""
    for name in VENUE_LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)


def venue_logger(provider_id: str) -> logging.Logger:
    install()
    logger = logging.getLogger(f"botfleet.venues.{provider_id}")
    if _filter not in logger.filters:
        logger.addFilter(_filter)
    return logger
