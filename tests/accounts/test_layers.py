"""Issue 17 item 2 for accounts: its services take no request (the imports are checked
with the other converted apps in tests/test_architecture.py)."""

from __future__ import annotations


def test_accounts_services_take_no_request():
    import inspect

    from accounts import services

    takers = [
        name
        for name, function in inspect.getmembers(services, inspect.isfunction)
        if function.__module__ == services.__name__
        and name != "audit_record"  # accepts and ignores it until every caller stops passing it
        and "request" in inspect.signature(function).parameters
    ]
    assert takers == []
