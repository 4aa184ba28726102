"""Secrets the embedded mode keeps in its data folder.

A fresh clone must run with one command, yet a secret must never have a hard-coded
default. So the embedded mode generates its keys once, stores them with mode 600 in
the data folder and says so on stderr. Production (see settings) never calls this.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet


def _read_or_create(path: Path, make: callable, what: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = make()
    # O_EXCL: two processes starting at once must agree on one key, not overwrite.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    print(f"Botfleet: created {what} in {path} (mode 600); keep it with the data.", file=sys.stderr)
    return value


def secret_key(data_dir: Path) -> str:
    return _read_or_create(data_dir / "secret_key", lambda: secrets.token_urlsafe(50), "a local SECRET_KEY")


def fernet_key(data_dir: Path) -> str:
    return _read_or_create(
        data_dir / "fernet.key", lambda: Fernet.generate_key().decode(), "a local credentials encryption key"
    )
