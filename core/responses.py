from rest_framework import status as http_status
from rest_framework.response import Response


def success(status: int = http_status.HTTP_200_OK, /, *, headers: dict | None = None, **fields) -> Response:
    """A success body: ``{"success": true, ...fields}`` (API.md conventions).

    The HTTP status is positional, so ``status`` is free to be a body field (``/api/health``).
    """
    return Response({"success": True, **fields}, status=status, headers=headers)
