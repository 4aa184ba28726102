"""Shared by the credentials tests."""

from __future__ import annotations

from django.db import connection

from credentials.models import Credential

BINANCE_SAVE = {"provider": "binance", "api_key": "binance-key-abcdefgh-1234", "api_secret": "binance-secret-xyz-987"}


def raw_columns(credential_id: int) -> dict[str, bytes | None]:
    """The secret columns as stored (ciphertext), bypassing the model field."""
    names = ["api_key", "api_secret", "passphrase", "client_code", "password", "totp_secret"]
    table = connection.ops.quote_name(Credential._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(names)} FROM {table} WHERE id = %s", [credential_id])  # noqa: S608
        row = cursor.fetchone()
    return {name: None if value is None else bytes(value) for name, value in zip(names, row, strict=True)}
