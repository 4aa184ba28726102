"""The event catalogue, generated from the registry (``manage.py event_catalogue``)."""

from __future__ import annotations

from realtime import registry


def _type_name(expected) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " \\| ".join(t.__name__ for t in types)


def catalogue_markdown() -> str:
    lines = [
        "# Event catalogue",
        "",
        "Every event carries `type`, `seq`, `message` and `timestamp` besides its payload keys",
        '(API.md "realtime"). SSE sends it as `event: <category>`.',
        "",
        "| type | SSE category | ingestible | payload (required) | payload (optional) | description |",
        "|---|---|---|---|---|---|",
    ]
    for event_type in registry.all_types():
        required = ", ".join(f"`{k}`: {_type_name(v)}" for k, v in sorted(event_type.required.items())) or "—"
        optional = ", ".join(f"`{k}`: {_type_name(v)}" for k, v in sorted(event_type.optional.items())) or "—"
        lines.append(
            f"| `{event_type.name}` | {event_type.category} | {'yes' if event_type.ingestible else 'no'} "
            f"| {required} | {optional} | {event_type.description} |"
        )
    if len(lines) == 7:
        lines.append("| (no event types registered) | | | | | |")
    return "\n".join(lines) + "\n"
