"""``replay``: recorded candles played back. No keys."""

from credentials.providers._local import LocalProvider


class ReplayProvider(LocalProvider):
    id = "replay"
    name = "Replay of recorded candles"


PROVIDER = ReplayProvider()
