"""Monitor schedules (prompter.runs.schedules): EventBridge Scheduler's expressions and the times they
fire, worked by hand from the calendar, daylight saving changes included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prompter.runs.schedules import Cron, Rate, ScheduleError, next_fire, parse, time_zone

UTC_ZONE = time_zone("UTC")
BERLIN = time_zone("Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(expression: str, zone: str, after: str, count: int = 1) -> list[str]:
    schedule, tz = parse(expression), time_zone(zone)
    found, moment = [], at(after)
    for _ in range(count):
        nxt = next_fire(schedule, tz, moment)
        assert nxt is not None
        found.append(nxt.strftime("%Y-%m-%dT%H:%M"))
        moment = nxt
    return found


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        # every day at 06:00 in Berlin: 05:00 UTC in winter, 04:00 in summer
        ("cron(0 6 * * ? *)", "Europe/Berlin", "2026-12-06T20:00", ["2026-12-07T05:00", "2026-12-08T05:00"]),
        ("cron(0 6 * * ? *)", "Europe/Berlin", "2027-03-27T12:00", ["2027-03-28T04:00", "2027-03-29T04:00"]),
        # 02:30 does not exist in Berlin on 28 March 2027 (clocks go 02:00 -> 03:00): skipped
        ("cron(30 2 * * ? *)", "Europe/Berlin", "2027-03-27T00:00", ["2027-03-27T01:30", "2027-03-29T00:30"]),
        # 02:30 happens twice on 25 October 2026 (03:00 -> 02:00): fires once, the first time
        ("cron(30 2 * * ? *)", "Europe/Berlin", "2026-10-24T12:00", ["2026-10-25T00:30", "2026-10-26T01:30"]),
        # New York, every 15 minutes from 9 to 10 on weekdays
        (
            "cron(0/15 9 ? * MON-FRI *)",
            "America/New_York",
            "2026-12-04T14:50",  # a Friday, 09:50 in New York: the next is Monday 09:00
            [
                "2026-12-07T14:00",
                "2026-12-07T14:15",
                "2026-12-07T14:30",
                "2026-12-07T14:45",
                "2026-12-08T14:00",
            ],
        ),
        # the last day of the month, the last weekday, the nearest weekday to the 15th
        ("cron(0 12 L * ? *)", "UTC", "2027-02-01T00:00", ["2027-02-28T12:00", "2027-03-31T12:00"]),
        ("cron(0 12 LW * ? *)", "UTC", "2027-07-01T00:00", ["2027-07-30T12:00", "2027-08-31T12:00"]),
        ("cron(0 12 15W * ? *)", "UTC", "2027-05-01T00:00", ["2027-05-14T12:00", "2027-06-15T12:00"]),
        # the second Tuesday, the last Friday (day-of-week 1 is Sunday)
        ("cron(0 8 ? * 3#2 *)", "UTC", "2026-12-01T00:00", ["2026-12-08T08:00", "2027-01-12T08:00"]),
        ("cron(0 8 ? * 6L *)", "UTC", "2026-12-01T00:00", ["2026-12-25T08:00", "2027-01-29T08:00"]),
        # months and years by name and range
        (
            "cron(0 0 1 JAN,JUL ? 2027-2028)",
            "UTC",
            "2026-12-06T00:00",
            ["2027-01-01T00:00", "2027-07-01T00:00"],
        ),
    ],
)
def test_cron_fires_when_eventbridge_scheduler_does(
    expression: str, zone: str, after: str, expected: list[str]
) -> None:
    assert fires(expression, zone, after, len(expected)) == expected


def test_a_cron_that_never_fires_again_has_no_next_time() -> None:
    assert next_fire(parse("cron(0 0 1 1 ? 2027)"), UTC_ZONE, at("2027-01-01T00:00")) is None
    assert next_fire(parse("cron(0 0 30 2 ? *)"), UTC_ZONE, at("2026-01-01T00:00")) is None


def test_a_rate_fires_every_period_after_its_anchor_whatever_the_clocks_do() -> None:
    anchor = at("2027-03-27T10:00")  # Berlin loses an hour overnight: a day is still 24 hours
    schedule = parse("rate(1 day)")
    assert schedule == Rate(timedelta(days=1))
    assert next_fire(schedule, BERLIN, anchor, anchor) == at("2027-03-28T10:00")
    assert next_fire(schedule, BERLIN, at("2027-03-28T10:00"), anchor) == at("2027-03-29T10:00")
    assert next_fire(parse("rate(6 hours)"), UTC_ZONE, at("2027-01-01T07:00"), at("2027-01-01T00:00")) == at(
        "2027-01-01T12:00"
    )


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("cron(0 6 * * * *)", "one of day-of-month and day-of-week is ?"),
        ("cron(0 6 ? * ? *)", "one of day-of-month and day-of-week is ?"),
        ("cron(0 6 * * ?)", "6 fields, not 5"),
        ("cron(60 6 * * ? *)", "minutes: 60 is outside 0-59"),
        ("cron(0 24 * * ? *)", "hours: 24 is outside 0-23"),
        ("cron(0 6 * 13 ? *)", "month: 13 is outside 1-12"),
        ("cron(0 6 ? * 8 *)", "day-of-week: 8 is outside 1-7"),
        ("cron(0 6 ? * 2#6 *)", "the occurrence after # is 1 to 5"),
        ("cron(0 6 * * ? 1969)", "year: 1969 is outside 1970-2199"),
        ("cron(0 6-2 * * ? *)", "runs backwards"),
        ("cron(0/0 6 * * ? *)", "not a positive increment"),
        ("cron(L 6 * * ? *)", "minutes: 'L' is not a value"),
        ("rate(5 minutes)", "neither cron"),
        ("rate(0 hours)", "at least 1"),
        ("rate(2 hour)", "write rate(2 hours)"),
        ("rate(1 days)", "write rate(1 day)"),
        ("every day", "neither cron"),
    ],
)
def test_an_expression_eventbridge_scheduler_would_refuse_says_why(expression: str, says: str) -> None:
    with pytest.raises(ScheduleError, match=says.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        parse(expression)


@pytest.mark.parametrize("name", ["Mars/Olympus", "utc ", "", "Europe/berlin"])
def test_a_time_zone_is_an_iana_name(name: str) -> None:
    with pytest.raises(ScheduleError, match="IANA"):
        time_zone(name)


def test_names_and_numbers_are_the_same_values() -> None:
    named = parse("cron(0 6 ? JAN-MAR MON,WED *)")
    numbered = parse("cron(0 6 ? 1-3 2,4 *)")
    assert isinstance(named, Cron) and named == numbered
