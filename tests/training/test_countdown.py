"""The countdown: derived from training_started_at and the current setting, timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from bots.serializers import bot_to_dict, training_countdown
from tests.bots.factories import BotFactory
from training import selectors
from training.selectors import Countdown

T0 = datetime(2025, 3, 29, 22, 0, tzinfo=UTC)  # the night before Europe's clocks spring forward


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (timedelta(0), (0.0, 24.0, False)),
        (timedelta(hours=12, minutes=3), (12.0, 12.0, False)),  # 12.05 h: elapsed down, remaining up
        (timedelta(hours=23, minutes=59, seconds=59), (23.9, 0.1, False)),  # never "0.0 left" before the limit
        (timedelta(hours=24) - timedelta(microseconds=1), (23.9, 0.1, False)),
        (timedelta(hours=24), (24.0, 0.0, True)),  # at the limit
        (timedelta(hours=24, seconds=1), (24.0, 0.0, True)),
        (timedelta(days=3, minutes=30), (72.5, 0.0, True)),  # after: remaining never negative
    ],
)
def test_before_at_and_after_the_limit(after, expected):
    assert training_countdown(T0, T0 + after, 24) == expected


def test_a_start_in_the_future_counts_as_no_time_elapsed():
    assert training_countdown(T0, T0 - timedelta(hours=1), 24) == (0.0, 24.0, False)


def test_non_utc_inputs_are_the_same_instants():
    started = T0.astimezone(ZoneInfo("Asia/Kolkata"))  # +05:30
    now = (T0 + timedelta(hours=24)).astimezone(ZoneInfo("America/New_York"))
    assert training_countdown(started, now, 24) == (24.0, 0.0, True)
    # Across a DST change in the bot's zone the wall clock jumps an hour; elapsed time does not.
    paris = ZoneInfo("Europe/Paris")
    started_paris = T0.astimezone(paris)
    now_paris = (T0 + timedelta(hours=23)).astimezone(paris)
    assert (now_paris.hour - started_paris.hour) % 24 == 0  # 23:00 → 23:00 wall time, 23 h later
    assert training_countdown(started_paris, now_paris, 24) == (23.0, 1.0, False)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        training_countdown(T0.replace(tzinfo=None), T0, 24)
    with pytest.raises(ValueError, match="timezone-aware"):
        training_countdown(T0, datetime(2025, 3, 31), 24)  # noqa: DTZ001 - the naive input under test


def test_fractional_setting():
    assert training_countdown(T0, T0 + timedelta(minutes=15), 0.25) == (0.2, 0.0, True)
    assert training_countdown(T0, T0 + timedelta(minutes=14), 0.25) == (0.2, 0.1, False)


@pytest.mark.django_db
def test_a_changed_setting_applies_to_bots_already_in_the_bay(owner, make_bay_bot):
    bot = make_bay_bot(owner, started_at=T0)
    now = T0 + timedelta(hours=13)
    assert selectors.countdown(bot, now=now) == Countdown(13.0, 11.0, False)
    with override_settings(LIVE_MIN_TRAINING_HOURS=12.0):
        assert selectors.countdown(bot, now=now) == Countdown(13.0, 0.0, True)
        shown = bot_to_dict(bot, now=now)
        assert (shown["in_training"], shown["training_hours_elapsed"], shown["training_hours_remaining"]) == (
            True,
            13.0,
            0.0,
        )
    with override_settings(LIVE_MIN_TRAINING_HOURS=48.0):
        assert selectors.countdown(bot, now=now) == Countdown(13.0, 35.0, False)


@pytest.mark.django_db
def test_a_bot_outside_the_bay_has_no_countdown(owner):
    bot = BotFactory(owner=owner, trading_mode="paper")
    assert selectors.countdown(bot, now=T0) == Countdown(0.0, 0.0, True)
    shown = bot_to_dict(bot, now=T0)
    assert (shown["in_training"], shown["training_hours_remaining"]) == (False, 0.0)
