"""Login by email or username, case-insensitively."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Q


def find_user_by_identifier(identifier: str):
    """The account an identifier names: an e-mail if it has "@" (no username has one), else a username."""
    identifier = (identifier or "").strip()
    if not identifier:
        return None
    User = get_user_model()
    lookup = Q(email__iexact=identifier) if "@" in identifier else Q(username__iexact=identifier)
    return User._default_manager.filter(lookup).first()


def axes_username(request, credentials: dict) -> str:
    """The key failed logins are counted under: the account's email when it exists.

    Without this, five failures by email and five by username would be two separate
    budgets for the same account.
    """
    # Django's failure signal names the identifier ``username`` (our authenticate()
    # keyword); axes' own lockout check names it after USERNAME_FIELD (``email``).
    # Reading only one of them let a locked account log in with the right password.
    credentials = credentials or {}
    identifier = str(credentials.get("username") or credentials.get("email") or "").strip()
    user = find_user_by_identifier(identifier)
    return user.email if user else identifier.lower()


class EmailOrUsernameBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        user = find_user_by_identifier(username or kwargs.get("email") or "")
        if user is None:
            # Spend the same time as a real check so timing does not reveal accounts.
            get_user_model()().set_password(password or "")
            return None
        if user.check_password(password or "") and self.user_can_authenticate(user):
            return user
        return None

    def user_can_authenticate(self, user) -> bool:
        # Disabled users are authenticated here and refused by the login service with
        # ACCOUNT_DISABLED (403), which is what API.md promises instead of "wrong password".
        return True
