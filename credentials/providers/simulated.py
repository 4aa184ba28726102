"""``simulated``: the offline, deterministic market (default venue). No keys."""

from credentials.providers._local import LocalProvider


class SimulatedProvider(LocalProvider):
    id = "simulated"
    name = "Simulated market"


PROVIDER = SimulatedProvider()
