"""Assertions on the API's response shapes, shared by every app's tests."""

from __future__ import annotations


def assert_error(response, status: int, code: str) -> dict:
    """The response is the error envelope (API.md) with this status and code; returns ``error``."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    error = body["error"]
    assert set(error) == {"code", "message", "details", "timestamp", "request_id"}
    assert error["code"] == code, error
    assert error["message"]
    assert error["request_id"] == response["X-Request-ID"]
    assert "Traceback" not in response.content.decode()
    return error
