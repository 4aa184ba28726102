"""Issue 17 item 2 for accounts: its services know nothing of HTTP.

The project-wide check in tests/test_architecture.py stays expected-to-fail until every
app is done; this one holds accounts to it already.
"""

from __future__ import annotations

from tests.test_architecture import HTTP_MODULES, ROOT, _imports, _modules, _where


def test_accounts_services_and_selectors_import_no_http_class():
    wrong = []
    for path in _modules("accounts"):
        rel = path.relative_to(ROOT).as_posix()
        if "/services" in rel or "/selectors" in rel:
            wrong += [
                f"{_where(path, line)} imports {module}"
                for line, module in _imports(path)
                if module == "rest_framework" or module.startswith(HTTP_MODULES)
            ]
    assert not wrong, "\n".join(wrong)


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
