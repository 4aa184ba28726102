"""The registry's shape checks, serialization that never fails, the catalogue."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest
from django.core.management import call_command
from django.db import transaction

from realtime import registry
from realtime.registry import EventShapeError, EventType
from realtime.serialization import event_json
from realtime.services import event_record


def test_every_registered_type_has_a_known_category_and_typed_keys():
    for event_type in registry.all_types():
        assert event_type.category in registry.CATEGORIES, event_type.name
        for expected in [*event_type.required.values(), *event_type.optional.values()]:
            types = expected if isinstance(expected, tuple) else (expected,)
            assert all(isinstance(t, type) for t in types), event_type.name
        assert not registry.RESERVED_KEYS & {*event_type.required, *event_type.optional}, event_type.name


def test_unknown_category_and_reserved_keys_are_refused():
    with pytest.raises(EventShapeError, match="unknown category"):
        registry.register(EventType(name="x_bad", category="weird", description=""))
    with pytest.raises(EventShapeError, match="reserved"):
        registry.register(EventType(name="x_bad", category=registry.BOT_UPDATE, description="", required={"seq": int}))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("type_", "payload", "error"),
    [
        ("nope_unregistered", {"n": 1}, "unregistered"),
        ("test_bot_thing", {}, "lacks n"),
        ("test_bot_thing", {"n": 1, "extra": 2}, "undeclared"),
        ("test_bot_thing", {"n": "1"}, "must be"),
    ],
)
def test_recording_a_wrong_shape_fails_loudly(owner, type_, payload, error):
    with pytest.raises(EventShapeError, match=error), transaction.atomic():
        event_record(type=type_, user_id=owner.pk, payload=payload, message="x")


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_fails(owner):
    with pytest.raises(RuntimeError):
        event_record(type="test_bot_thing", user_id=owner.pk, payload={"n": 1}, message="x")


@pytest.mark.django_db
def test_serialization_never_fails(owner):
    payload = {
        "n": 1,
        "bot": {
            "when": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
            "price": decimal.Decimal("0.1"),
            "nan": decimal.Decimal("NaN"),
            "id": uuid.UUID(int=1),
            "owner": owner,
            "tags": {"b", "a"},
            "raw": b"bytes",
            "span": datetime.timedelta(seconds=90),
        },
    }
    text = event_json(
        type="test_bot_thing",
        seq=9,
        payload=payload,
        message="m",
        created_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )

    assert text == (
        '{"type":"test_bot_thing","seq":9,"n":1,"bot":{"when":"2026-01-02T03:04:05+00:00","price":0.1,'
        f'"nan":null,"id":"00000000-0000-0000-0000-000000000001","owner":{owner.pk},"tags":["a","b"],'
        '"raw":"bytes","span":90.0},"message":"m","timestamp":"2026-01-01T00:00:00+00:00"}'
    )


def test_catalogue_lists_every_type(capsys):
    call_command("event_catalogue")

    out = capsys.readouterr().out
    assert out.startswith("# Event catalogue")
    for event_type in registry.all_types():
        assert f"| `{event_type.name}` | {event_type.category} |" in out
    assert "`n`: int" in out


def test_access_log_lines_never_carry_a_token():
    from realtime.asgi_server import RedactingAccessLogGenerator

    lines = []

    class Stream:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass

    log = RedactingAccessLogGenerator(Stream())
    log(
        "http",
        "complete",
        {
            "client": "1.2.3.4:5",
            "method": "GET",
            "path": "/api/realtime/events?token=eyJ.a.b&x=1",
            "status": 200,
            "size": 10,
        },
    )
    log("websocket", "connecting", {"client": "1.2.3.4:5", "path": "/api/ws?token=eyJ.a.b"})

    assert "eyJ" not in "".join(lines)
    assert "token=[redacted]&x=1" in lines[0]
