"""Jobs in mesh.yml: what each job builds, when it runs, what it triggers, whom it notifies.

    jobs:
      analytics_daily:
        project: analytics              # or select: "+finance:agg_customer_payment_journey"
        schedule: "0 6 * * *"           # cron, UTC; or {cron: "0 6 * * *", timezone: Europe/Paris}
        generate_docs: true
      finance_daily:
        project: finance
        triggers:
          on_completion:                # dbt Cloud's "Run when another job finishes", with
            all_of: [analytics_daily, marketing_daily]   # several upstream jobs (or any_of)
            statuses: [success]         # success | error | canceled
        notify: {on: [failure], webhook: "https://hooks.example/meshkit"}

Everything is checked when mesh.yml loads: unknown environments, projects and jobs, bad cron
expressions and time zones, and trigger loops (a job that would trigger itself, directly or
through others) are refused with the file and line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from meshkit.config.selector_syntax import Expression
from meshkit.config.yamlfile import convert, line_of
from meshkit.errors import MeshError
from meshkit.status import RunStatus

if TYPE_CHECKING:
    from meshkit.config.mesh import Environment, Project

TRIGGER_STATUSES = (RunStatus.SUCCESS, RunStatus.ERROR, RunStatus.CANCELED)
RETRY_ON = ("interrupted", "timeout", "error")
NOTIFY_ON = ("failure", "success", "canceled")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_Fail = Callable[..., MeshError]   # (message, key, hint) → the error naming the job's line


# -- what mesh.yml may say (validated with file:line errors) --------------------------------
class _ScheduleSpec(msgspec.Struct, forbid_unknown_fields=True):
    cron: str
    timezone: str = "UTC"


class _OnCompletionSpec(msgspec.Struct, forbid_unknown_fields=True):
    job: str | None = None
    all_of: list[str] | None = None
    any_of: list[str] | None = None
    statuses: list[str] | None = None


class _TriggersSpec(msgspec.Struct, forbid_unknown_fields=True):
    on_completion: str | _OnCompletionSpec | None = None


class _FreshnessSpec(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True
    fail_job: bool = False


class _SmtpSpec(msgspec.Struct, forbid_unknown_fields=True, rename={"sender": "from"}):
    host: str | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    sender: str | None = None
    tls: Literal["none", "starttls", "ssl"] | None = None


class _NotifySpec(msgspec.Struct, forbid_unknown_fields=True):
    on: list[str] | None = None
    email: bool = True
    to: str | list[str] | None = None
    webhook: str | None = None
    smtp: _SmtpSpec | None = None


class _JobSpec(msgspec.Struct, forbid_unknown_fields=True):
    description: str | None = None
    environment: str | None = None
    project: str | None = None
    projects: list[str] | None = None
    select: str | list[str] | None = None
    exclude: str | list[str] | None = None
    full: bool = False
    full_refresh: bool = False
    schedule: str | _ScheduleSpec | None = None
    triggers: _TriggersSpec | None = None
    generate_docs: bool = False
    source_freshness: bool | _FreshnessSpec = False
    threads: int | None = None
    workers: int = 2
    timeout: float | str | None = None
    retries: int = 0
    retry_on: list[str] | None = None
    overlap: str = "wait"
    notify: _NotifySpec | None = None


# -- what the rest of meshkit reads ----------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: str = "UTC"

    def describe(self) -> str:
        return f"{self.cron} ({self.timezone})"


@dataclass(frozen=True)
class CompletionTrigger:
    """Run when upstream jobs finish: every one of them (all_of) or any one (any_of)."""

    upstream: tuple[str, ...]
    mode: Literal["all_of", "any_of"] = "any_of"
    statuses: tuple[RunStatus, ...] = (RunStatus.SUCCESS,)

    @property
    def each(self) -> bool:
        """Whether every matching completion of an upstream job fires it (any_of, or one
        upstream job); else it waits for all of them (all_of)."""
        return self.mode == "any_of" or len(self.upstream) == 1

    def waiting_for(self, latest: dict[str, str]) -> list[str]:
        """all_of: the upstream jobs whose latest completion since the trigger last fired
        (`latest`: job → status) is missing or not one of `statuses`."""
        return [u for u in self.upstream if latest.get(u) not in self.statuses]

    def describe(self) -> str:
        jobs = ", ".join(self.upstream)
        what = "/".join(self.statuses)
        if len(self.upstream) == 1:
            return f"on completion of {jobs} ({what})"
        return f"on completion of {'all' if self.mode == 'all_of' else 'any'} of {jobs} ({what})"


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int | None = None
    sender: str | None = None
    tls: str | None = None


@dataclass(frozen=True)
class Notify:
    on: tuple[str, ...] = ("failure",)
    email: bool = True
    to: tuple[str, ...] = ()
    webhook: str | None = None
    smtp: SmtpSettings = field(default_factory=SmtpSettings)


@dataclass(frozen=True)
class Job:
    name: str
    environment: str
    description: str = ""
    projects: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    full: bool = False
    full_refresh: bool = False
    schedule: Schedule | None = None
    trigger: CompletionTrigger | None = None
    generate_docs: bool = False
    source_freshness: bool = False
    freshness_fails_job: bool = False
    threads: int | None = None
    workers: int = 2
    timeout: float | None = None           # seconds
    retries: int = 0
    retry_on: tuple[str, ...] = ("interrupted", "timeout")
    overlap: Literal["wait", "skip"] = "wait"
    notify: Notify | None = None
    line: int | None = None                # where mesh.yml defines it

    def builds(self) -> str:
        """What the job builds, in words for listings."""
        parts = []
        if self.projects:
            parts.append(" ".join(f"project:{p}" for p in self.projects))
        if self.select:
            parts.append(" ".join(self.select))
        text = " ∩ ".join(parts) if parts else f"the whole mesh ({self.environment})"
        if self.exclude:
            text += " --exclude " + " ".join(self.exclude)
        return text


def parse_jobs(raw: Any, *, doc: Any, file: Path, environments: dict[str, "Environment"],
               default_environment: str, projects: dict[str, "Project"]) -> dict[str, Job]:
    """Validate the `jobs:` mapping of mesh.yml; raise MeshError with file:line on mistakes."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MeshError("`jobs` must be a mapping of job name → job", file=file,
                        line=line_of(doc, "$.jobs"))
    jobs: dict[str, Job] = {}
    for name, entry in raw.items():
        at = f"$.jobs.{name}"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise MeshError(f"job name {name!r} may only use letters, digits, '_' and '-'",
                            file=file, line=line_of(doc, "$.jobs"))
        spec = convert(entry if entry is not None else {}, _JobSpec, file=file, doc=doc, at=at)
        jobs[name] = _job(name, spec, doc, file, at, environments, default_environment, projects)
    _check_upstream_names(jobs, doc, file)
    _check_trigger_loops(jobs, doc, file)
    return jobs


def _job(name: str, spec: _JobSpec, doc: Any, file: Path, at: str,
         environments: dict[str, "Environment"], default_environment: str,
         projects: dict[str, "Project"]) -> Job:
    def fail(message: str, key: str = "", hint: str | None = None) -> MeshError:
        return MeshError(f"job '{name}': {message}", file=file,
                         line=line_of(doc, f"{at}.{key}" if key else at), hint=hint)

    environment = spec.environment or default_environment
    if environment not in environments:
        raise fail(f"unknown environment '{environment}'", "environment",
                   hint=f"environments in this mesh: {', '.join(environments)}")
    names = _job_projects(spec, environment, projects, fail)
    select = _selectors(spec, "select", projects, fail)
    exclude = _selectors(spec, "exclude", projects, fail)
    schedule = None
    if spec.schedule is not None:
        schedule = (Schedule(spec.schedule) if isinstance(spec.schedule, str)
                    else Schedule(spec.schedule.cron, spec.schedule.timezone))
        _check_schedule(schedule, fail, spec.schedule)
    trigger = _trigger(spec, fail)
    _check_limits(spec, fail)
    overlap: Literal["wait", "skip"] = "skip" if spec.overlap == "skip" else "wait"
    retry_on = _retry_on(spec, fail)
    timeout = _duration(spec.timeout, fail) if spec.timeout is not None else None
    freshness = spec.source_freshness
    if isinstance(freshness, bool):
        run_freshness, fails_job = freshness, False
    else:
        run_freshness, fails_job = freshness.enabled, freshness.enabled and freshness.fail_job
    return Job(name=name, environment=environment, description=spec.description or "",
               projects=tuple(names), select=select, exclude=exclude, full=spec.full,
               full_refresh=spec.full_refresh, schedule=schedule, trigger=trigger,
               generate_docs=spec.generate_docs, source_freshness=run_freshness,
               freshness_fails_job=fails_job, threads=spec.threads, workers=spec.workers,
               timeout=timeout, retries=spec.retries, retry_on=retry_on, overlap=overlap,
               notify=_notify(spec.notify, fail) if spec.notify else None,
               line=line_of(doc, at))


def _job_projects(spec: _JobSpec, environment: str, projects: dict[str, "Project"],
                  fail: _Fail) -> list[str]:
    """The projects a job builds (none: all), each a project of the mesh built in the job's
    environment."""
    if spec.project and spec.projects:
        raise fail("give `project` or `projects`, not both", "projects")
    names = [spec.project] if spec.project else list(spec.projects or [])
    for index, project in enumerate(names):
        key = "project" if spec.project else f"projects[{index}]"
        if project not in projects:
            raise fail(f"unknown project '{project}'", key,
                       hint=f"projects in this mesh: {', '.join(projects)}")
        if environment not in projects[project].environments:
            raise fail(f"project '{project}' is not built in environment '{environment}'", key)
    return names


def _selectors(spec: _JobSpec, key: Literal["select", "exclude"], projects: dict[str, "Project"],
               fail: _Fail) -> tuple[str, ...]:
    """A job's `select` or `exclude` expressions, each parsed and naming known projects."""
    written = getattr(spec, key)
    expressions = _strings(written)
    for index, expression in enumerate(expressions):
        where = key if isinstance(written, str) else f"{key}[{index}]"
        if not expression.strip():
            raise fail(f"`{key}` has an empty selector", where)
        try:
            Expression.parse([expression]).check_projects(projects)
        except MeshError as exc:
            raise fail(f"`{key}`: {exc.message}", where, exc.hint) from None
    return expressions


def _check_limits(spec: _JobSpec, fail: _Fail) -> None:
    if spec.overlap not in ("wait", "skip"):
        raise fail(f"`overlap` is '{spec.overlap}'", "overlap",
                   hint="wait (a new run waits for the running one) or skip (it is skipped)")
    if spec.threads is not None and spec.threads < 1:
        raise fail("`threads` must be at least 1", "threads")
    if spec.workers < 1:
        raise fail("`workers` must be at least 1", "workers")
    if spec.retries < 0:
        raise fail("`retries` cannot be negative", "retries")


def _retry_on(spec: _JobSpec, fail: _Fail) -> tuple[str, ...]:
    retry_on = tuple(spec.retry_on) if spec.retry_on is not None else ("interrupted", "timeout")
    for index, value in enumerate(retry_on):
        if value not in RETRY_ON:
            raise fail(f"cannot retry on '{value}'", f"retry_on[{index}]",
                       hint=f"use {', '.join(RETRY_ON)}")
    return retry_on


def _strings(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _check_schedule(schedule: Schedule, fail, written: Any = None) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from croniter import CroniterBadDateError, croniter

    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"unknown time zone '{schedule.timezone}'", "schedule.timezone",
                   hint="use an IANA name such as UTC, Europe/Paris or America/New_York") from None
    key = "schedule" if isinstance(written, str) else "schedule.cron"
    fields = schedule.cron.split()
    nickname = len(fields) == 1 and fields[0].startswith("@")      # @daily, @hourly, …
    if not (len(fields) == 5 or nickname) or not croniter.is_valid(schedule.cron):
        extra = {6: " (a sixth field would be read as seconds)",
                 7: " (a sixth and seventh field would be read as seconds and years)"}
        raise fail(f"'{schedule.cron}' is not a valid cron expression{extra.get(len(fields), '')}",
                   key, hint="five fields: minute hour day-of-month month day-of-week, e.g. "
                             "'0 6 * * *' (or @hourly, @daily, @weekly, @monthly, @yearly)")
    try:       # valid fields can still name no time at all: 31 February, 31 April
        croniter(schedule.cron, datetime.now(ZoneInfo(schedule.timezone))).get_next(float)
    except CroniterBadDateError:
        raise fail(f"'{schedule.cron}' never fires: no date matches it", key,
                   hint="check the day of month against the month (February has 28 or 29 days)"
                   ) from None


def _trigger(spec: _JobSpec, fail) -> CompletionTrigger | None:
    if spec.triggers is None or spec.triggers.on_completion is None:
        return None
    value = spec.triggers.on_completion
    key = "triggers.on_completion"
    if isinstance(value, str):
        return CompletionTrigger((value,))
    given = [k for k in ("job", "all_of", "any_of") if getattr(value, k) is not None]
    if len(given) != 1:
        raise fail("`on_completion` needs exactly one of `job`, `all_of` or `any_of`", key)
    mode: Literal["all_of", "any_of"] = "all_of" if given[0] == "all_of" else "any_of"
    upstream = (value.job,) if value.job is not None else tuple(getattr(value, given[0]))
    if not upstream:
        raise fail(f"`{given[0]}` lists no jobs", f"{key}.{given[0]}")
    if len(set(upstream)) != len(upstream):
        raise fail(f"`{given[0]}` lists a job twice", f"{key}.{given[0]}")
    statuses = tuple(value.statuses) if value.statuses is not None else (RunStatus.SUCCESS,)
    if not statuses:
        raise fail("`statuses` is empty: the trigger could never fire", f"{key}.statuses")
    for index, status in enumerate(statuses):
        if status not in TRIGGER_STATUSES:
            raise fail(f"unknown status '{status}'", f"{key}.statuses[{index}]",
                       hint=f"a run completes with {', '.join(TRIGGER_STATUSES)}")
    return CompletionTrigger(upstream, mode, tuple(RunStatus(s) for s in statuses))


def _notify(spec: _NotifySpec, fail) -> Notify:
    on = tuple(spec.on) if spec.on is not None else ("failure",)
    for index, value in enumerate(on):
        if value not in NOTIFY_ON:
            raise fail(f"cannot notify on '{value}'", f"notify.on[{index}]",
                       hint=f"use {', '.join(NOTIFY_ON)}")
    if spec.webhook is not None and not re.match(r"^https?://", spec.webhook):
        raise fail("`webhook` must be an http:// or https:// URL", "notify.webhook")
    smtp = spec.smtp or _SmtpSpec()
    return Notify(on=on, email=spec.email, to=_strings(spec.to), webhook=spec.webhook,
                  smtp=SmtpSettings(smtp.host, smtp.port, smtp.sender, smtp.tls))


def _duration(value: float | str, fail) -> float:
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(value)
        if not match:
            raise fail(f"cannot read timeout '{value}'", "timeout",
                       hint="seconds, or a number with s, m, h or d: 3600, '90m', '2h'")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds):
        raise fail(f"`timeout` is {value}", "timeout",
                   hint="seconds, or a number with s, m, h or d; leave it out for no timeout")
    if seconds <= 0:
        raise fail("`timeout` must be positive", "timeout")
    return seconds


def _trigger_key(job: Job) -> str:
    trigger = job.trigger
    assert trigger is not None
    if len(trigger.upstream) == 1 and trigger.mode == "any_of":
        return "triggers.on_completion"
    return f"triggers.on_completion.{trigger.mode}"


def _check_upstream_names(jobs: dict[str, Job], doc: Any, file: Path) -> None:
    for job in jobs.values():
        if not job.trigger:
            continue
        for index, upstream in enumerate(job.trigger.upstream):
            if upstream not in jobs:
                key = _trigger_key(job)
                if key.endswith(("all_of", "any_of")):
                    key += f"[{index}]"
                elif not isinstance(_raw_on_completion(doc, job.name), str):
                    key += ".job"
                raise MeshError(f"job '{job.name}' runs on completion of '{upstream}', which is "
                                "not a job of this mesh", file=file,
                                line=line_of(doc, f"$.jobs.{job.name}.{key}"),
                                hint=f"jobs in this mesh: {', '.join(jobs)}")


def _raw_on_completion(doc: Any, name: str) -> Any:
    try:
        return doc["jobs"][name]["triggers"]["on_completion"]
    except (KeyError, TypeError):
        return None


def _check_trigger_loops(jobs: dict[str, Job], doc: Any, file: Path) -> None:
    """A job must never trigger itself, directly or through other jobs."""
    downstream: dict[str, list[str]] = {name: [] for name in jobs}
    for job in jobs.values():
        for upstream in job.trigger.upstream if job.trigger else ():
            downstream[upstream].append(job.name)
    state: dict[str, int] = {}          # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for child in downstream[name]:
            if state.get(child) == 1:
                loop = path[path.index(child):] + [child]
                # Report the trigger that closes the loop: `child` runs on completion of `name`.
                raise MeshError(
                    f"trigger loop: {' → '.join(loop)} (job '{child}' runs on completion of "
                    f"'{name}', which {'is itself' if child == name else 'it triggers'})",
                    file=file, line=line_of(doc, f"$.jobs.{child}.triggers.on_completion"),
                    hint="a job cannot trigger itself, directly or through other jobs; "
                         "remove one of these triggers or give one job a schedule instead")
            if state.get(child) is None:
                visit(child)
        path.pop()
        state[name] = 2

    for name in jobs:
        if state.get(name) is None:
            visit(name)
