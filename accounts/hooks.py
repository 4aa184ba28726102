"""What other apps do when a user exports their data or leaves.

Every app may import ``accounts`` and ``accounts`` imports none of them (DESIGN.md's
arrows), so the apps that hold a user's data register here from their ``AppConfig.ready``
(as they register their answers with credentials and realtime): an *exporter* gives a
named section of the archive; a *leaver* erases or stops what it holds, inside the
transaction that closes the account, so a failing leaver leaves the account open.
"""

from __future__ import annotations

from collections.abc import Callable

Exporter = Callable[[object], list]
Leaver = Callable[[object], None]

_exporters: dict[str, Exporter] = {}
_leavers: dict[str, Leaver] = {}


def register_exporter(section: str, exporter: Exporter) -> Exporter:
    """``exporter(user)`` returns the JSON-ready rows of ``section``; it must include no secret."""
    _exporters[section] = exporter
    return exporter


def register_leaver(name: str, leaver: Leaver) -> Leaver:
    """``leaver(user)`` stops or erases what its app holds for a user who leaves."""
    _leavers[name] = leaver
    return leaver


def unregister(name: str) -> None:
    _exporters.pop(name, None)
    _leavers.pop(name, None)


def exporters() -> dict[str, Exporter]:
    return dict(sorted(_exporters.items()))


def leavers() -> dict[str, Leaver]:
    return dict(_leavers)
