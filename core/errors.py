"""The domain's errors: what went wrong, a stable code, never an HTTP status.

Services, selectors, the engine and the management commands raise these. The one place
that turns them into the API's error envelope (and picks the status) is
``core.envelope.exception_handler``; a command prints the message, the engine records it.
Modelled on HackSoft's ``ApplicationError``.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """Base of every domain error.

    ``code`` is stable and machine-readable (``BOT_NOT_RUNNING``); ``message`` is a sentence
    for people that names what is wrong; ``details`` carries field errors or context.
    """

    default_code = "INVALID"
    default_message = "The request is invalid."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: dict | None = None):
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.details = details or {}
        super().__init__(self.message)


class Invalid(ApplicationError):
    """The input cannot be accepted (a field, a combination of fields)."""

    @classmethod
    def for_fields(cls, errors: dict, *, code: str = "VALIDATION_ERROR") -> Invalid:
        """A refusal field by field (``{"password": ["Too short."]}``), worded as a serializer's:
        the message names the first field and its first problem, ``details`` holds them all."""
        field, problems = next(iter(errors.items()), ("non_field_errors", [cls.default_message]))
        first = problems[0] if isinstance(problems, list | tuple) and problems else problems
        message = str(first) if field == "non_field_errors" else f"{field}: {first}"
        return cls(message, code=code, details=errors)


class NotFound(ApplicationError):
    default_code = "NOT_FOUND"
    default_message = "Not found."


class Conflict(ApplicationError):
    """The request is valid but the current state does not allow it."""

    default_code = "CONFLICT"
    default_message = "The request conflicts with the current state."


class Locked(ApplicationError):
    """The thing is locked (a staff force-pause, a fleet halt, a locked-out account)."""

    default_code = "LOCKED"
    default_message = "The resource is locked."


class Forbidden(ApplicationError):
    """The actor may not do this (a disabled account, a missing permission)."""

    default_code = "PERMISSION_DENIED"
    default_message = "You do not have permission to do this."


class Unauthenticated(ApplicationError):
    """The credentials presented do not identify anyone (wrong password, revoked token)."""

    default_code = "AUTHENTICATION_FAILED"
    default_message = "Authentication failed."


class RateLimited(ApplicationError):
    default_code = "RATE_LIMITED"
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class Unavailable(ApplicationError):
    """Something the request needs (a venue, the database, the cache) is down; retry later."""

    default_code = "SERVICE_UNAVAILABLE"
    default_message = "A service this request needs is unavailable; try again shortly."
