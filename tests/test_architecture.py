"""The dependency arrows of DESIGN.md's layout, read from the code itself.

Every ``import`` in an app (at the top of a module or inside a function) is checked
against the arrows below; a new arrow is a design change, made here and in DESIGN.md
together, never by accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# An arrow = "may import". Every app may import core and accounts (DESIGN.md, "Layout").
ALLOWED = {
    "core": set(),
    "accounts": {"core"},
    "credentials": {"core", "accounts"},
    "realtime": {"core", "accounts"},
    "bots": {"core", "accounts", "credentials", "realtime"},
    "signals": {"core", "accounts", "bots", "realtime"},
    "training": {"core", "accounts", "bots", "realtime"},
    "notifications": {"core", "accounts", "realtime"},
    "adminpanel": {"core", "accounts", "credentials", "realtime", "bots", "signals", "training", "notifications"},
    "web": {"core"},
    "config": {
        "core",
        "accounts",
        "credentials",
        "realtime",
        "bots",
        "signals",
        "training",
        "notifications",
        "adminpanel",
        "web",
    },
}
PACKAGES = set(ALLOWED)
HTTP_MODULES = ("rest_framework.", "django.http", "django.shortcuts")


def _modules(package: str):
    base = ROOT / package
    if not base.is_dir():
        return
    for path in sorted(base.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        yield path


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_an_app_imports_only_along_the_designs_arrows(package):
    wrong = [
        f"{_where(path, line)} imports {module}"
        for path in _modules(package)
        for line, module in _imports(path)
        if (top := module.split(".")[0]) in PACKAGES and top != package and top not in ALLOWED[package]
    ]
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}:\n" + "\n".join(wrong)


def test_the_arrows_have_no_cycle():
    seen: dict[str, int] = {}

    def visit(node: str, trail: tuple[str, ...]):
        if seen.get(node) == 1:
            raise AssertionError("cycle: " + " -> ".join((*trail, node)))
        if seen.get(node) == 2:
            return
        seen[node] = 1
        for target in ALLOWED[node]:
            visit(target, (*trail, node))
        seen[node] = 2

    for package in sorted(ALLOWED):
        visit(package, ())


def test_services_and_selectors_know_nothing_of_http():
    """The domain raises core.errors and takes plain arguments; HTTP stays in views."""
    wrong = []
    for package in sorted(PACKAGES):
        for path in _modules(package):
            rel = path.relative_to(ROOT).as_posix()
            if "/services" not in rel and "/selectors" not in rel:
                continue
            wrong += [
                f"{_where(path, line)} imports {module}"
                for line, module in _imports(path)
                if module == "rest_framework" or module.startswith(HTTP_MODULES)
            ]
    assert not wrong, "services and selectors import HTTP classes:\n" + "\n".join(wrong)


# The apps already converted (issue 17 item 2) must stay so while the others catch up;
# this goes once the test above passes for every package.
@pytest.mark.parametrize(
    "package",
    ["core", "accounts", "credentials", "realtime", "bots", "signals", "training", "adminpanel", "notifications"],
)
def test_these_apps_domain_already_knows_nothing_of_http(package):
    wrong = [
        f"{_where(path, line)} imports {module}"
        for path in _modules(package)
        if "/services" in path.relative_to(ROOT).as_posix() or "/selectors" in path.relative_to(ROOT).as_posix()
        for line, module in _imports(path)
        if module == "rest_framework" or module.startswith(HTTP_MODULES)
    ]
    assert not wrong, "services and selectors import HTTP classes:\n" + "\n".join(wrong)
