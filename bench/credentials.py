"""Benchmark of credential encryption and rotation (issue 4).

Prints µs per encrypt and per decrypt of one credential (its six secret fields, through
the model field, as a save and a load do) beside plain ``Fernet`` on the same values as
the baseline, then the wall time of ``manage.py rotate_credentials`` over 10,000 rows on
PostgreSQL (goal: under 10 s) and of a second, idempotent run.

Creates its own database on ``BENCH_DATABASE_URL`` (default
postgres://postgres@127.0.0.1:5432/postgres, used only to create and drop it) and drops it
at the end. Runs in-process; no Redis needed.

    .venv/bin/python bench/credentials.py [--rows 10000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from io import StringIO
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
SECRETS = {
    "api_key": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    "api_secret": "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
    "passphrase": "correct-horse-42",
    "client_code": "A1234567",
    "password": "4321",
    "totp_secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
}


def _per_call_us(fn, *, seconds: float = 1.0) -> float:
    n, started = 0, time.perf_counter()
    while True:
        for _ in range(200):
            fn()
        n += 200
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return elapsed / n * 1e6


def _setup(db_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": db_url,
            "FERNET_KEYS": OLD_KEY,
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "BOTFLEET_LOCAL_SECRETS": "0",
            "ALLOWED_HOSTS": "localhost",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    os.environ["CACHE_URL"] = "locmemcache://"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _crypto_table() -> list[tuple[str, float, float]]:
    from django.db import connection

    from credentials.models import SECRET_FIELDS, Credential

    fields = [Credential._meta.get_field(name) for name in SECRET_FIELDS]
    stored = [field.encrypt(SECRETS[field.name]) for field in fields]  # raw bytes, as a load reads them

    def encrypt_credential():
        for field in fields:
            field.get_db_prep_save(SECRETS[field.name], connection)

    def decrypt_credential():
        for field, value in zip(fields, stored, strict=True):
            field.from_db_value(value, None, connection)

    plain = Fernet(OLD_KEY)
    values = [SECRETS[name].encode() for name in SECRET_FIELDS]
    tokens = [plain.encrypt(v) for v in values]

    def plain_encrypt():
        for v in values:
            plain.encrypt(v)

    def plain_decrypt():
        for t in tokens:
            plain.decrypt(t)

    return [
        ("credential (6 fields, SecretField)", _per_call_us(encrypt_credential), _per_call_us(decrypt_credential)),
        ("plain Fernet, same 6 values", _per_call_us(plain_encrypt), _per_call_us(plain_decrypt)),
    ]


def _seed(rows: int) -> None:
    from django.contrib.auth import get_user_model

    from credentials.models import Credential

    User = get_user_model()
    users = User.objects.bulk_create(
        [User(email=f"bench{i}@example.com", username=f"bench{i}") for i in range(max(1, rows // 100))]
    )
    batch = []
    for i in range(rows):
        batch.append(
            Credential(
                owner=users[i % len(users)],
                provider="binance",
                purpose="live",
                label=f"l{i}",
                api_key_hint="…EH8A",
                fields_set=list(SECRETS),
                **SECRETS,
            )
        )
        if len(batch) == 1000:
            Credential.objects.bulk_create(batch)
            batch = []
    if batch:
        Credential.objects.bulk_create(batch)


def _rotate(batch_size: int) -> tuple[float, str]:
    from django.core.management import call_command

    out = StringIO()
    started = time.perf_counter()
    call_command("rotate_credentials", batch_size=batch_size, stdout=out)
    elapsed = time.perf_counter() - started
    summary = next(line for line in out.getvalue().splitlines() if line.startswith("scanned"))
    return elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    admin_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    name = f"bench_credentials_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _setup(urlunparse(urlparse(admin_url)._replace(path=f"/{name}")))
        from django.conf import settings

        from credentials.fields import primary_fernet

        crypto = _crypto_table()
        _seed(args.rows)
        settings.FERNET_KEYS = [NEW_KEY, OLD_KEY]
        first, first_summary = _rotate(args.batch_size)
        again, again_summary = _rotate(args.batch_size)

        # Every row now decrypts with the newest key alone.
        settings.FERNET_KEYS = [NEW_KEY]
        from credentials.models import Credential

        if primary_fernet()._signing_key != Fernet(NEW_KEY)._signing_key or any(
            c.undecryptable_fields for c in Credential.objects.all()[:500]
        ):
            raise SystemExit("rotation check failed: a row does not decrypt with the newest key alone")

        print("\nCredential encryption (µs per call; one credential = 6 secret fields)\n")
        print(f"| {'what':<36} | {'encrypt µs':>10} | {'decrypt µs':>10} |")
        print(f"|{'-' * 38}|{'-' * 12}|{'-' * 12}|")
        for label, enc, dec in crypto:
            print(f"| {label:<36} | {enc:>10.1f} | {dec:>10.1f} |")
        print(f"\nrotate_credentials on PostgreSQL, {args.rows:,} rows, batches of {args.batch_size} (goal < 10 s)\n")
        print(f"| {'run':<26} | {'seconds':>8} | result")
        print(f"|{'-' * 28}|{'-' * 10}|{'-' * 60}")
        print(f"| {'first (re-encrypts all)':<26} | {first:>8.2f} | {first_summary}")
        print(f"| {'second (idempotent no-op)':<26} | {again:>8.2f} | {again_summary}")
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
