"""CronJob schedules: parsing as kube's cron parser, and the next time a schedule fires."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedns.kapi import cron

UTC = datetime.UTC


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("schedule", "after", "expected"), [
    pytest.param("* * * * *", "2026-01-01T12:00:30", "2026-01-01T12:01:00", id="every-minute"),
    pytest.param("*/15 * * * *", "2026-01-01T12:01:00", "2026-01-01T12:15:00", id="step"),
    pytest.param("5 4 * * *", "2026-01-01T04:05:00", "2026-01-02T04:05:00", id="daily-strict"),
    pytest.param("0 0 1 */3 *", "2026-02-10T00:00:00", "2026-04-01T00:00:00", id="quarterly"),
    pytest.param("0 9 * * mon-fri", "2026-01-02T10:00:00", "2026-01-05T09:00:00",
                 id="weekdays-named"),  # 2026-01-02 is a Friday
    pytest.param("0 0 13 * 5", "2026-01-01T00:00:00", "2026-01-02T00:00:00",
                 id="dom-or-dow"),  # Friday the 2nd fires: either day field matches
    pytest.param("0 0 13 * *", "2026-01-01T00:00:00", "2026-01-13T00:00:00", id="dom-only"),
    pytest.param("30 2 * FEB *", "2026-01-01T00:00:00", "2026-02-01T02:30:00",
                 id="month-name"),
    pytest.param("@hourly", "2026-01-01T12:00:00", "2026-01-01T13:00:00", id="hourly"),
    pytest.param("@daily", "2026-01-01T12:00:00", "2026-01-02T00:00:00", id="daily"),
    pytest.param("@weekly", "2026-01-01T12:00:00", "2026-01-04T00:00:00", id="weekly"),
    pytest.param("@monthly", "2026-01-01T12:00:00", "2026-02-01T00:00:00", id="monthly"),
    pytest.param("@yearly", "2026-01-01T12:00:00", "2027-01-01T00:00:00", id="yearly"),
    pytest.param("@every 1h30m", "2026-01-01T12:00:00", "2026-01-01T13:30:00", id="every"),
    pytest.param("10-20/5 1,3 * * ?", "2026-01-01T01:12:00", "2026-01-01T01:15:00",
                 id="range-step-list"),
    pytest.param("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00", id="leap-day"),
])
def test_next_time(schedule, after, expected):
    assert cron.next_time(cron.parse(schedule), at(after)) == at(expected)


def test_impossible_date_never_fires():
    assert cron.next_time(cron.parse("0 0 30 2 *"), at("2026-01-01T00:00:00")) is None


@pytest.mark.parametrize(("schedule", "message"), [
    pytest.param("* * * *", "expected exactly 5 fields", id="four-fields"),
    pytest.param("60 * * * *", "minute 60 is outside 0-59", id="minute-range"),
    pytest.param("* * * * 7", "day of week 7 is outside 0-6", id="weekday-7"),
    pytest.param("*/0 * * * *", "step of range should be a positive number", id="step-0"),
    pytest.param("@sometimes", "unrecognized descriptor", id="descriptor"),
    pytest.param("TZ=UTC * * * * *", "use timeZone field instead", id="tz-prefix"),
    pytest.param("a * * * *", "failed to parse int from a", id="word"),
    pytest.param("5-1 * * * *", "minute 5-1 is outside 0-59", id="reversed"),
])
def test_bad_schedules_say_what_is_wrong(schedule, message):
    with pytest.raises(cron.BadSchedule) as err:
        cron.parse(schedule)
    assert message in str(err.value)


def _matches(schedule: cron.Schedule, when: datetime.datetime) -> bool:
    return (when.minute in schedule.minutes and when.hour in schedule.hours
            and when.month in schedule.months and schedule.day_matches(when))


FIELD = st.sampled_from(["*", "*/5", "0", "1-10", "3,7", "*/2", "?"])


@settings(max_examples=60, deadline=None)
@given(minute=st.sampled_from(["*", "*/7", "0", "15,45", "5-9"]),
       hour=st.sampled_from(["*", "*/6", "3", "1-4"]), dom=FIELD.filter(lambda f: f != "0"),
       dow=st.sampled_from(["*", "1-5", "0", "6", "?"]),
       start=st.datetimes(min_value=datetime.datetime(2020, 1, 1),
                          max_value=datetime.datetime(2030, 1, 1)))
def test_next_time_is_the_first_matching_minute(minute, hour, dom, dow, start):
    schedule = cron.parse(f"{minute} {hour} {dom} * {dow}")
    after = start.replace(tzinfo=UTC)
    found = cron.next_time(schedule, after)
    assert found is not None and found > after and _matches(schedule, found)
    probe = after.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    while probe < found and (found - probe) < datetime.timedelta(days=3):
        assert not _matches(schedule, probe)
        probe += datetime.timedelta(minutes=1)
