"""Monitor schedules (SPEC §2.9): EventBridge Scheduler expressions, parsed and validated, and the
times they fire, computed the way EventBridge Scheduler fires them. Pure functions, no I/O.

- ``cron(minutes hours day-of-month month day-of-week year)``: minutes 0-59, hours 0-23,
  day-of-month 1-31 (with ``L``, ``W``, ``LW`` and ``nW``), month 1-12 or ``JAN``-``DEC``,
  day-of-week 1-7 (1 is Sunday) or ``SUN``-``SAT`` (with ``L``, ``nL`` and ``n#k``), year 1970-2199;
  ``,`` lists, ``-`` ranges, ``*`` every value and ``/`` increments; one of day-of-month and
  day-of-week is ``?`` and the other is not.
- ``rate(N hours)`` or ``rate(N days)`` (``hour``/``day`` for 1): every N hours (days of 24 hours)
  from when the schedule was created, changed or re-enabled (its anchor), first N after it.

A cron expression is evaluated in the schedule's IANA time zone. As EventBridge Scheduler does
across daylight saving changes, a local time that does not exist (the hour skipped in spring) does
not fire, and a local time that happens twice (the hour repeated in autumn) fires once, the first
time. A rate counts elapsed time, whatever the clocks do.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTH_NAMES = {name: number for number, name in enumerate(_MONTHS, start=1)}
DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
FIRST_YEAR, LAST_YEAR = 1970, 2199
_CRON = re.compile(r"^cron\((.*)\)$")
_RATE = re.compile(r"^rate\((\d+)\s+(hour|hours|day|days)\)$")
_EXPRESSION_CHARS = 256


class ScheduleError(ValueError):
    """An expression or a time zone EventBridge Scheduler would refuse; the message says why."""


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``UTC`` included)."""
    if name != name.strip() or not name or name not in _zones():
        raise ScheduleError(f"{name!r} is not an IANA time zone name (e.g. Europe/Berlin, UTC)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:  # pragma: no cover - listed zones load
        raise ScheduleError(f"{name!r} is not an IANA time zone name") from error


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


# ------------------------------------------------------------------ cron fields


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minutes", 0, 59, {}),
    _Field("hours", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, MONTH_NAMES),
    _Field("day-of-week", 1, 7, DAY_NAMES),
    _Field("year", FIRST_YEAR, LAST_YEAR, {}),
)


def _number(field: _Field, text: str) -> int:
    upper = text.upper()
    if upper in field.names:
        return field.names[upper]
    if not text.isdigit():
        raise ScheduleError(f"{field.name}: {text!r} is not a value")
    value = int(text)
    if not field.low <= value <= field.high:
        raise ScheduleError(f"{field.name}: {value} is outside {field.low}-{field.high}")
    return value


def _values(field: _Field, text: str) -> frozenset[int]:
    """The values a plain field (``,`` ``-`` ``*`` ``/``) allows."""
    allowed: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleError(f"{field.name}: an empty list item")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{field.name}: {step_text!r} is not a positive increment")
            step = int(step_text)
        if base == "*":
            start, end = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(field, first), _number(field, last)
            if start > end:
                raise ScheduleError(f"{field.name}: the range {base!r} runs backwards")
        else:
            start = _number(field, base)
            end = field.high if step_text else start
        allowed.update(range(start, end + 1, step))
    return frozenset(allowed)


@dataclass(frozen=True)
class _DayOfMonth:
    days: frozenset[int] = frozenset()
    last: bool = False  # L
    last_weekday: bool = False  # LW
    nearest_weekday: int | None = None  # nW

    def matches(self, day: date) -> bool:
        last_day = calendar.monthrange(day.year, day.month)[1]
        if self.last:
            return day.day == last_day
        if self.last_weekday:
            target = last_day
            while date(day.year, day.month, target).weekday() >= 5:
                target -= 1
            return day.day == target
        if self.nearest_weekday is not None:
            return day.day == _nearest_weekday(day.year, day.month, self.nearest_weekday)
        return day.day in self.days


def _nearest_weekday(year: int, month: int, wanted: int) -> int:
    """The weekday (Monday-Friday) nearest day ``wanted`` of the month, within the month."""
    last_day = calendar.monthrange(year, month)[1]
    day = min(wanted, last_day)
    weekday = date(year, month, day).weekday()
    if weekday == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before on the last day
        return day + 1 if day < last_day else day - 2
    return day


@dataclass(frozen=True)
class _DayOfWeek:
    days: frozenset[int] = frozenset()  # 1 = Sunday
    last_of: int | None = None  # nL: the last such weekday of the month
    nth: tuple[int, int] | None = None  # d#k: the k-th such weekday of the month

    def matches(self, day: date) -> bool:
        weekday = (day.weekday() + 1) % 7 + 1  # Monday 0 -> 2, Sunday 6 -> 1
        if self.last_of is not None:
            last_day = calendar.monthrange(day.year, day.month)[1]
            return weekday == self.last_of and day.day + 7 > last_day
        if self.nth is not None:
            wanted, k = self.nth
            return weekday == wanted and (day.day - 1) // 7 + 1 == k
        return weekday in self.days


def _day_of_month(text: str) -> _DayOfMonth:
    upper = text.upper()
    if upper == "L":
        return _DayOfMonth(last=True)
    if upper == "LW":
        return _DayOfMonth(last_weekday=True)
    if upper.endswith("W"):
        return _DayOfMonth(nearest_weekday=_number(_FIELDS[2], upper[:-1]))
    return _DayOfMonth(days=_values(_FIELDS[2], text))


def _day_of_week(text: str) -> _DayOfWeek:
    upper = text.upper()
    field = _FIELDS[4]
    if upper == "L":
        return _DayOfWeek(last_of=7)  # the last Saturday, as "7L"
    if upper.endswith("L"):
        return _DayOfWeek(last_of=_number(field, upper[:-1]))
    if "#" in upper:
        weekday, _, k = upper.partition("#")
        if not k.isdigit() or not 1 <= int(k) <= 5:
            raise ScheduleError(f"day-of-week: {text!r}: the occurrence after # is 1 to 5")
        return _DayOfWeek(nth=(_number(field, weekday), int(k)))
    return _DayOfWeek(days=_values(field, text))


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: _DayOfMonth | None  # None: "?"
    months: frozenset[int]
    day_of_week: _DayOfWeek | None  # None: "?"
    years: frozenset[int]

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.day_of_month is not None:
            return self.day_of_month.matches(day)
        assert self.day_of_week is not None
        return self.day_of_week.matches(day)


@dataclass(frozen=True)
class Rate:
    every: timedelta


Schedule = Cron | Rate


def parse(expression: str) -> Schedule:
    """The schedule ``expression`` describes; :class:`ScheduleError` saying why it is not one."""
    if len(expression) > _EXPRESSION_CHARS:
        raise ScheduleError(f"is longer than {_EXPRESSION_CHARS} characters")
    rate = _RATE.match(expression)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2)
        if count < 1:
            raise ScheduleError("a rate is at least 1")
        if (count == 1) != (unit in ("hour", "day")):
            raise ScheduleError(f"write rate({count} {unit.rstrip('s') + ('' if count == 1 else 's')})")
        length = count * (24 if unit.startswith("day") else 1)
        return Rate(timedelta(hours=length))
    cron = _CRON.match(expression)
    if not cron:
        raise ScheduleError(
            "is neither cron(minutes hours day-of-month month day-of-week year) nor rate(N hours|days)"
        )
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(f"a cron expression has 6 fields, not {len(fields)}")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError("one of day-of-month and day-of-week is ? and the other is not")
    return Cron(
        minutes=_values(_FIELDS[0], minutes),
        hours=_values(_FIELDS[1], hours),
        day_of_month=None if dom == "?" else _day_of_month(dom),
        months=_values(_FIELDS[3], month),
        day_of_week=None if dow == "?" else _day_of_week(dow),
        years=_values(_FIELDS[5], year),
    )


def next_fire(
    schedule: Schedule, zone: ZoneInfo, after: datetime, anchor: datetime | None = None
) -> datetime | None:
    """The first time (UTC) strictly after ``after`` that ``schedule`` fires in ``zone``; None when
    it never fires again. ``anchor``: when a rate schedule was created, changed or re-enabled."""
    after = after.astimezone(UTC)
    if isinstance(schedule, Rate):
        start = (anchor or after).astimezone(UTC)
        if after < start:
            return start + schedule.every
        periods = (after - start) // schedule.every + 1
        return start + periods * schedule.every
    return _next_cron(schedule, zone, after)


def _next_cron(cron: Cron, zone: ZoneInfo, after: datetime) -> datetime | None:
    local_after = after.astimezone(zone)
    minutes = sorted(cron.minutes)
    hours = sorted(cron.hours)
    # a day starts before midnight UTC of its date in zones east of UTC: begin a day early
    day = local_after.date() - timedelta(days=1)
    while day.year <= LAST_YEAR:
        if day.year not in cron.years:
            later = [y for y in cron.years if y > day.year]
            if not later:
                return None
            day = date(min(later), 1, 1)
            continue
        if day.month not in cron.months:
            day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            continue
        if cron.day_matches(day):
            for hour in hours:
                for minute in minutes:
                    when = _local_time(day, hour, minute, zone)
                    if when is not None and when > after:
                        return when
        day += timedelta(days=1)
    return None


def _local_time(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall time: None when the clocks skip it; its first occurrence
    when they pass it twice."""
    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)  # fold=0: the first
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
        return None  # a time in the gap does not survive the round trip
    return instant
