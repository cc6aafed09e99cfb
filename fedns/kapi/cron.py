"""CronJob schedules: the standard 5-field cron syntax, as kube's robfig/cron parser
(``ParseStandard``) reads it, and the next time a schedule fires.

Fields are minute, hour, day of month, month (``1-12`` or ``jan-dec``) and day of
week (``0-6`` or ``sun-sat``), each ``*``, ``?``, a value, a range ``a-b``, a step
``*/n``, ``a-b/n`` or ``a/n`` (from a to the maximum), or a comma list of those.  When
both day fields are restricted a day matching either fires (cron's rule); when one
is ``*`` both must match.  Descriptors: ``@yearly``/``@annually``, ``@monthly``,
``@weekly``, ``@daily``/``@midnight``, ``@hourly`` and ``@every <duration>``
(``1h30m``, ``90s``).  ``TZ=``/``CRON_TZ=`` prefixes are refused, as kube-apiserver
refuses them (``spec.timeZone`` is the way).  Pure.
"""

from __future__ import annotations

import dataclasses
import datetime
import re

from fedns import errors


class BadSchedule(errors.UsageError):
    """The schedule is not valid cron syntax."""


_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES: tuple[dict[str, int], ...] = ({}, {}, {},
          {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul",
                                           "aug", "sep", "oct", "nov", "dec"))},
          {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))})
_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                "@hourly": "0 * * * *"}
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclasses.dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    any_day: bool = True  # day of month is * or ?
    any_weekday: bool = True
    every: datetime.timedelta | None = None  # @every

    def day_matches(self, when: datetime.datetime) -> bool:
        dom = when.day in self.days
        dow = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow


def _value(text: str, field: int) -> int:
    lowered = text.lower()
    if lowered in _NAMES[field]:
        return _NAMES[field][lowered]
    if not text.isdigit():
        raise BadSchedule(f"failed to parse int from {text}")
    return int(text)


def _field(text: str, field: int) -> tuple[frozenset[int], bool]:
    """The values one field allows, and whether it was ``*`` (or ``?``) unstepped."""
    low, high = _BOUNDS[field]
    values: set[int] = set()
    star = False
    for part in text.split(","):
        if not part:
            raise BadSchedule(f"empty {_FIELDS[field]} list item")
        span, _, step_text = part.partition("/")
        if span in ("*", "?"):
            start, end = low, high
            star = star or not step_text or step_text == "1"
        else:
            first, dash, last = span.partition("-")
            start = _value(first, field)
            end = _value(last, field) if dash else (high if step_text else start)
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise BadSchedule(f"step of range should be a positive number: {part}")
            step = int(step_text)
        if start < low or end > high or start > end:
            raise BadSchedule(f"{_FIELDS[field]} {part} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values), star


def parse(text: str) -> Schedule:
    """Parse a schedule; raise :class:`BadSchedule` saying what is wrong."""
    spec = text.strip()
    if spec.startswith(("TZ=", "CRON_TZ=")):
        raise BadSchedule("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    if spec.startswith("@every"):
        match = _DURATION.match(spec[len("@every"):].strip())
        if not match or not any(match.groups()):
            raise BadSchedule(f"failed to parse duration {spec}")
        hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return Schedule(every=datetime.timedelta(hours=hours, minutes=minutes,
                                                 seconds=seconds))
    if spec.startswith("@"):
        if spec.lower() not in _DESCRIPTORS:
            raise BadSchedule(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec.lower()]
    fields = spec.split()
    if len(fields) != 5:
        raise BadSchedule(f"expected exactly 5 fields, found {len(fields)}: {spec}")
    parsed = [_field(f, i) for i, f in enumerate(fields)]
    return Schedule(parsed[0][0], parsed[1][0], parsed[2][0], parsed[3][0], parsed[4][0],
                    any_day=parsed[2][1], any_weekday=parsed[4][1])


def next_time(schedule: Schedule, after: datetime.datetime) -> datetime.datetime | None:
    """The first time strictly after ``after`` that the schedule fires, in ``after``'s
    time zone; None if none within five years (e.g. ``0 0 30 2 *``)."""
    if schedule.every is not None:
        step = max(schedule.every, datetime.timedelta(seconds=1))
        return after.replace(microsecond=0) + step
    when = after.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    limit = when + datetime.timedelta(days=366 * 5)
    while when <= limit:
        if when.month not in schedule.months:
            year, month = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
            when = when.replace(year=year, month=month, day=1, hour=0, minute=0)
            continue
        if not schedule.day_matches(when):
            when = (when + datetime.timedelta(days=1)).replace(hour=0, minute=0)
            continue
        if when.hour not in schedule.hours:
            when = (when + datetime.timedelta(hours=1)).replace(minute=0)
            continue
        if when.minute not in schedule.minutes:
            when += datetime.timedelta(minutes=1)
            continue
        return when
    return None
