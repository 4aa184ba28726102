"""signals' periodic task (collected by ``config.schedule``): always on.

A signal is acted on at once by its task; the sweep only finds what a killed worker left
(``signals.services.signals_sweep``), so it runs every half minute.
"""

SWEEP_SECONDS = 30.0


def entries() -> dict:
    return {
        "signals-sweep": {
            "task": "signals.tasks.signals_sweep_task",
            "schedule": SWEEP_SECONDS,
            "options": {"expires": SWEEP_SECONDS * 2},
        },
    }
