"""Password reset enumeration by timing (issue 22): known vs unknown address, 50 tries each.

The request path queues the mail job and returns without touching the user table or the
mail server, so both kinds should cost the same; this measures it. Runs in-process on the
embedded default (a throwaway SQLite data folder, the filesystem broker: ``delay`` really
writes the job), through Django's test client (WSGI, the whole middleware stack),
alternating known and unknown addresses (each first every other time) so drift hits both alike. A second run executes
the job inline (``CELERY_TASK_ALWAYS_EAGER``): what the answer would cost if the mail
were sent inside the request — the difference the design removes. Prints a table;
goal: median difference < 5 ms.

    .venv/bin/python bench/password_reset_timing.py [--tries 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup(data_dir: str) -> None:
    os.environ.update(
        {
            "BOTFLEET_DATA_DIR": data_dir,
            "ALLOWED_HOSTS": "testserver",
            "THROTTLE_OTP": "1000000/min",
            "LOG_LEVEL": "ERROR",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def _measure(client, tries: int) -> tuple[list[float], list[float]]:
    known, unknown = [], []
    for n in range(tries):
        pair = [("known@example.com", known), (f"nobody{n}@example.com", unknown)]
        for address, bucket in pair if n % 2 else reversed(pair):  # neither kind always goes first
            started = time.perf_counter()
            response = client.post("/api/auth/password-reset", {"email": address}, content_type="application/json")
            bucket.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"password-reset answered {response.status_code}: {response.content!r}")
    return known, unknown


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reset-") as data_dir:
        _setup(data_dir)
        from django.test import Client, override_settings

        from accounts.models import PasswordResetToken, User
        from config.celery import app

        User.objects.create_user(email="known@example.com", password="a-long-passphrase-1")  # noqa: S106
        client = Client()
        _measure(client, 5)  # warm-up: imports, first queries, the broker folder
        rows = []
        app.conf.task_always_eager = False
        rows.append(("job queued (as deployed)", *_measure(client, args.tries)))
        app.conf.task_always_eager = True
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            PasswordResetToken.objects.all().delete()
            rows.append(("job inline (for contrast)", *_measure(client, args.tries)))
    print(f"{'path':28} {'known ms':>9} {'unknown ms':>11} {'|diff| ms':>10} {'ratio':>6}  goal |diff| < 5 ms")
    for name, known, unknown in rows:
        k, u = statistics.median(known), statistics.median(unknown)
        print(f"{name:28} {k:9.2f} {u:11.2f} {abs(k - u):10.2f} {k / u:6.2f}")


if __name__ == "__main__":
    main()
