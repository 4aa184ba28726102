"""The training bay's periodic tasks (collected by ``config.schedule``).

The eligibility check is housekeeping and always runs; autopilot runs only when both
``ENABLE_SCHEDULERS`` and ``ENABLE_AUTOPILOT`` are on (flags are read at process start).
"""

from __future__ import annotations

from django.conf import settings


def entries() -> dict:
    schedule = {
        "training-eligibility-check": {
            "task": "training.tasks.training_eligibility_check_task",
            "schedule": 60.0,
            "options": {"expires": 55},
        },
    }
    if settings.ENABLE_SCHEDULERS and settings.ENABLE_AUTOPILOT:
        schedule["training-autopilot"] = {
            "task": "training.tasks.autopilot_run_task",
            "schedule": 300.0,
            "options": {"expires": 290},
        }
    return schedule
