"""Every API operation, read from the URL resolver and the OpenAPI schema, so a new
endpoint is covered by the security tests without anyone listing it here.

``OPERATIONS`` comes from the schema (method, path template, whether it needs a token).
``test_every_api_route_is_in_the_schema_or_named_here`` in ``test_coverage.py`` keeps the
schema honest against the resolver: a route left out of the schema must be named in
``OUTSIDE_THE_SCHEMA`` with the test that guards it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

# Routes the schema does not describe, and what guards them.
OUTSIDE_THE_SCHEMA = {
    "/api/realtime/events": "the SSE stream: test_revoked_tokens.py and tests/realtime/test_sse.py",
    "/api/schema/": "public documentation",
    "/api/docs/": "public documentation",
    "/api/redoc/": "public documentation",
    "/api/_bench/bare": "benchmark route, only with BOTFLEET_BENCH_ROUTES=1",
}

# Path parameters that name an object someone owns, and which of the persona's objects fills them.
OWNED_PARAMETERS = {
    "bot_id": "bot",
    "credential_id": "credential",
    "channel_id": "channel",
    "session_id": "session",
    "token_id": "api_token",
    "provider_id": "provider",
    "backtest_id": "backtest",
    "order_id": "order",
}
# Reads that need a query to answer at all (public market data, not anyone's rows).
READ_QUERIES = {"/api/candles": "?exchange=replay&symbol=ETH/BTC&timeframe=5m"}
# Path parameters that name no owned object (a venue), with a value that exists.
# A signal webhook's token is its own credential: a well-formed one that names no bot.
PUBLIC_PARAMETERS = {"platform": "simulated", "exchange": "simulated", "token": "0" * 64}
# Staff-only parameters: any user's id; the staff endpoints are not scoped to an owner.
STAFF_PARAMETERS = {"user_id": "user"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    needs_token: bool  # the schema requires jwtAuth with no anonymous alternative
    ops: bool = False  # staff or a monitor's OPS_TOKEN (metrics, version): opsToken in its security

    @property
    def parameters(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def staff_only(self) -> bool:
        return self.path.startswith("/api/admin/") or self.ops

    def url(self, **values) -> str:
        return re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@cache
def schema_document() -> dict:
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(raw, renderer_context={}))


def _operations() -> list[Operation]:
    found = []
    for path, item in schema_document()["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            security = operation.get("security", [])
            needs_token = bool(security) and all(requirement for requirement in security)
            ops = any("opsToken" in requirement for requirement in security)
            found.append(Operation(method.upper(), path, needs_token, ops))
    return found


OPERATIONS = _operations()


def _as_template(pattern: str) -> str:
    """A ``re_path`` regex as the route it matches: ``^signals/(?P<token>…)$`` -> ``signals/<token>``."""
    pattern = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", pattern)
    return pattern.removeprefix("^").removesuffix("$")


def resolver_routes() -> set[str]:
    """Every route of the URLconf, as a schema-style template (``/api/bots/{bot_id}``)."""

    def walk(patterns, prefix: str):
        for pattern in patterns:
            route = prefix + _as_template(str(pattern.pattern))
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)

    return set(walk(get_resolver().url_patterns, ""))
