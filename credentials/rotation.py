"""Re-encrypting every stored secret under the newest key (``manage.py rotate_credentials``).

Rotation: prepend a new key to ``FERNET_KEYS`` (the old ones stay, so everything still
decrypts), run the command, then drop the old keys. The command

* works on raw column values (ciphertext in, ciphertext out; plaintext exists only inside
  ``MultiFernet.rotate``), so no model field cache or ``updated_at`` is involved;
* walks the table by id in batches, each batch in its own transaction with its rows
  locked (``FOR UPDATE`` where the database has it), so a concurrent save is never
  overwritten with older keys;
* is idempotent and resumable without any state of its own: a value that already
  decrypts with the newest key alone is left alone, so a re-run after an interruption
  (or a second run) only touches what is left;
* counts rows rotated, already current and failed (a value no configured key decrypts:
  reported by id, never printed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken
from django.db import connection, transaction

from credentials.fields import multi_fernet, primary_fernet
from credentials.models import SECRET_FIELDS, Credential


@dataclass
class RotationReport:
    scanned: int = 0
    rotated: int = 0
    current: int = 0
    failed_ids: list[int] = field(default_factory=list)
    batches: int = 0

    @property
    def failed(self) -> int:
        return len(self.failed_ids)


def rotate_credentials(*, batch_size: int = 1000, progress: Callable[[RotationReport], None] | None = None):
    """Re-encrypt every secret column under the newest key; see the module docstring."""
    multi, primary = multi_fernet(), primary_fernet()
    quote = connection.ops.quote_name
    table = quote(Credential._meta.db_table)
    columns = [Credential._meta.get_field(name).column for name in SECRET_FIELDS]
    column_sql = ", ".join(quote(c) for c in columns)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    select = f"SELECT id, {column_sql} FROM {table} WHERE id > %s ORDER BY id LIMIT %s{lock}"  # noqa: S608
    update = f"UPDATE {table} SET {', '.join(f'{quote(c)} = %s' for c in columns)} WHERE id = %s"  # noqa: S608
    binary = connection.Database.Binary

    report = RotationReport()
    last_id = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(select, [last_id, batch_size])
            rows = cursor.fetchall()
            if not rows:
                break
            updates = []
            for row in rows:
                pk, values = row[0], row[1:]
                new_values, changed, broken = [], False, False
                for value in values:
                    if value is None:
                        new_values.append(None)
                        continue
                    token = bytes(value)
                    try:
                        primary.decrypt(token)
                        new_values.append(binary(token))
                        continue
                    except InvalidToken:
                        pass
                    try:
                        new_values.append(binary(multi.rotate(token)))
                        changed = True
                    except InvalidToken:
                        broken = True
                        break
                report.scanned += 1
                if broken:
                    report.failed_ids.append(pk)
                elif changed:
                    updates.append([*new_values, pk])
                    report.rotated += 1
                else:
                    report.current += 1
            if updates:
                cursor.executemany(update, updates)
            last_id = rows[-1][0]
        report.batches += 1
        if progress is not None:
            progress(report)
    return report
