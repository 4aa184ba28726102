"""The bottom layer: what every app may import and that imports no app.

The domain's error types (``core.errors``), the API conventions (the error envelope,
middleware, pagination, renderers, parsers, throttles, request ids, metrics, logging,
client IP), feature flags and small cache helpers. Nothing here knows about bots,
keys or users; ``tests/test_architecture.py`` holds that line.
"""
