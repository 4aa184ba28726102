"""How a committed event wakes the relay (PostgreSQL NOTIFY; otherwise the relay polls)."""


def notify() -> None:
    """Filled in by the relay implementation; a no-op means the relay's poll finds it."""
