"""Cron schedules (croniter), evaluated in the job's time zone; times are epoch seconds.

mesh.yml refuses a cron that matches no date; one that still finds none here (a mesh.yml
written before that check, read by a running scheduler) is a schedule with no times, never
an exception in the scheduler's loop.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from meshkit.config.jobs import Schedule

MAX_CATCH_UP = 10_000


def due_times(schedule: Schedule, after: float, until: float) -> list[float]:
    """Schedule times t with after < t <= until, oldest first (at most MAX_CATCH_UP of them,
    the latest always included)."""
    zone = ZoneInfo(schedule.timezone)
    times: list[float] = []
    iterator = croniter(schedule.cron, datetime.fromtimestamp(after, zone))
    while True:
        try:
            moment = iterator.get_next(float)
        except CroniterBadDateError:
            return times
        if moment > until:
            return times
        times.append(moment)
        if len(times) >= MAX_CATCH_UP:
            break
    # Long outage on a frequent schedule: jump close to `until` for the latest time.
    latest = _previous(schedule, until)
    if latest is not None and latest > times[-1]:
        times.append(latest)
    return times


def _previous(schedule: Schedule, until: float) -> float | None:
    zone = ZoneInfo(schedule.timezone)
    iterator = croniter(schedule.cron, datetime.fromtimestamp(until + 1, zone))
    try:
        moment = iterator.get_prev(float)
    except CroniterBadDateError:
        return None
    return moment if moment <= until else None


def next_time(schedule: Schedule, after: float) -> float | None:
    """The first schedule time after `after`; None if the cron matches no date."""
    zone = ZoneInfo(schedule.timezone)
    try:
        return croniter(schedule.cron, datetime.fromtimestamp(after, zone)).get_next(float)
    except CroniterBadDateError:
        return None
