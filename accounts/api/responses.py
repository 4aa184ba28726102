from django.http import HttpResponse
from rest_framework import status as http_status

from accounts.api.renderers import dumps


def success(status: int = http_status.HTTP_200_OK, /, *, headers: dict | None = None, **fields) -> HttpResponse:
    """A success body: ``{"success": true, ...fields}`` (API.md conventions), rendered now.

    The HTTP status is positional, so ``status`` is free to be a body field (``/api/health``).

    JSON is the API's only renderer, chosen whatever the client accepts
    (accounts/api/negotiation.py), so there is nothing to defer to DRF's rendering. A DRF
    ``Response`` would set its content twice and render it through the template response
    machinery: about 25 µs of the ~35 this costs per request.
    """
    return HttpResponse(
        dumps({"success": True, **fields}), status=status, headers=headers, content_type="application/json"
    )
