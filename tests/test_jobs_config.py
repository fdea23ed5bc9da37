"""Jobs in mesh.yml: what is accepted, and every mistake refused with file:line when it loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import run
from meshkit.config import load_mesh
from meshkit.config.jobs import CompletionTrigger, Schedule
from meshkit.errors import MeshError

HEAD = """\
name: jobs-mesh
environments:
  prod: {target: prod, type: production}
  dev: {target: dev}
projects:
  alpha: alpha
  beta: {path: beta, environments: [prod]}
jobs:
"""


def write(tmp_path: Path, jobs: str) -> Path:
    for project in ("alpha", "beta"):
        (tmp_path / project).mkdir(exist_ok=True)
        (tmp_path / project / "dbt_project.yml").write_text(f"name: {project}\nprofile: {project}\n")
    path = tmp_path / "mesh.yml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(jobs), "  "))
    return path


def refused(tmp_path: Path, jobs: str) -> MeshError:
    path = write(tmp_path, jobs)
    with pytest.raises(MeshError) as caught:
        load_mesh(path)
    return caught.value


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_jobs_are_read_with_defaults_and_every_option(tmp_path):
    mesh = load_mesh(write(tmp_path, """\
        analytics_daily:
          project: alpha
          schedule: "0 6 * * *"
          generate_docs: true
        finance:
          description: Finance deploy job
          environment: prod
          projects: [beta]
          select: "tag:nightly"
          exclude: [beta:legacy]
          schedule: {cron: "30 2 * * 1-5", timezone: Europe/Paris}
          triggers:
            on_completion: {all_of: [analytics_daily, other], statuses: [success, error]}
          source_freshness: {fail_job: true}
          threads: 8
          timeout: 90m
          retries: 2
          retry_on: [interrupted, error]
          overlap: skip
          notify: {on: [failure, success], to: oncall@example.com, webhook: "http://127.0.0.1:9/hook"}
        other:
          triggers: {on_completion: analytics_daily}
        """))
    first, second, third = mesh.jobs["analytics_daily"], mesh.jobs["finance"], mesh.jobs["other"]
    assert first.environment == "prod" and first.projects == ("alpha",) and first.generate_docs
    assert first.schedule == Schedule("0 6 * * *", "UTC")
    assert first.overlap == "wait" and first.retries == 0 and first.retry_on == ("interrupted", "timeout")
    assert not first.source_freshness and first.notify is None
    assert second.schedule == Schedule("30 2 * * 1-5", "Europe/Paris")
    assert second.trigger == CompletionTrigger(("analytics_daily", "other"), "all_of", ("success", "error"))
    assert second.select == ("tag:nightly",) and second.exclude == ("beta:legacy",)
    assert second.source_freshness and second.freshness_fails_job
    assert (second.threads, second.timeout, second.retries, second.overlap) == (8, 5400.0, 2, "skip")
    assert second.notify.on == ("failure", "success") and second.notify.to == ("oncall@example.com",)
    assert third.trigger == CompletionTrigger(("analytics_daily",), "any_of", ("success",))
    assert third.projects == () and "whole mesh" in third.builds()
    assert load_mesh(write(tmp_path, "{}\n")).jobs == {}


@pytest.mark.parametrize("jobs, needle, message", [
    ("a: {triggers: {on_completion: b}}\nb: {triggers: {on_completion: a}}\n",
     "a: {triggers", "trigger loop: a → b → a"),
    ("solo:\n  triggers:\n    on_completion: solo\n", "on_completion: solo", "trigger loop: solo → solo"),
    ("a: {schedule: '0 * * * *'}\nb: {triggers: {on_completion: {any_of: [a, c]}}}\n"
     "c: {triggers: {on_completion: {all_of: [b]}}}\n", "b: {triggers", "trigger loop: b → c → b"),
    ("a:\n  triggers:\n    on_completion:\n      all_of: [b, nosuch]\nb: {}\n", "all_of: [b, nosuch]",
     "runs on completion of 'nosuch', which is not a job of this mesh"),
    ("a:\n  triggers:\n    on_completion: {job: ghost}\n", "on_completion: {job: ghost}",
     "runs on completion of 'ghost'"),
    ("a:\n  project: gamma\n", "project: gamma", "unknown project 'gamma'"),
    ("a:\n  environment: dev\n  project: beta\n", "project: beta",
     "project 'beta' is not built in environment 'dev'"),
    ("a:\n  environment: qa\n", "environment: qa", "unknown environment 'qa'"),
    ("a:\n  schedule: '61 * * * *'\n", "schedule:", "is not a valid cron expression"),
    ("a:\n  schedule:\n    cron: '0 6 * * *'\n    timezone: Mars/Olympus\n", "timezone: Mars",
     "unknown time zone 'Mars/Olympus'"),
    ("a:\n  schedule:\n    cron: '0 6 * * *'\n    tz: UTC\n", "tz: UTC", "unknown field `tz`"),
    ("a:\n  triggers:\n    on_completion:\n      job: b\n      statuses: [success, failed]\nb: {}\n",
     "statuses:", "unknown status 'failed'"),
    ("a:\n  triggers:\n    on_completion: {job: b, all_of: [b]}\nb: {}\n", "on_completion:",
     "needs exactly one of `job`, `all_of` or `any_of`"),
    ("a:\n  overlap: queue\n", "overlap: queue", "`overlap` is 'queue'"),
    ("a:\n  timeout: soon\n", "timeout: soon", "cannot read timeout 'soon'"),
    ("a:\n  retry_on: [flaky]\n", "retry_on:", "cannot retry on 'flaky'"),
    ("a:\n  notify: {on: [always]}\n", "notify:", "cannot notify on 'always'"),
    ("a:\n  notify:\n    webhook: ftp://example.com\n", "webhook: ftp", "must be an http:// or https:// URL"),
    ("a:\n  threads: 0\n", "threads: 0", "`threads` must be at least 1"),
    ("a:\n  when: daily\n", "when: daily", "unknown field `when`"),
])
def test_mistakes_are_refused_with_file_and_line(tmp_path, jobs, needle, message):
    error = refused(tmp_path, jobs)
    path = tmp_path / "mesh.yml"
    assert message in error.message, error.render()
    assert error.file == str(path.resolve())
    assert error.line == line_of(path, needle), error.render()


def test_a_trigger_loop_is_refused_by_every_command(tmp_path):
    path = write(tmp_path, """\
        a:
          project: alpha
          triggers: {on_completion: b}
        b:
          project: beta
          triggers:
            on_completion: {any_of: [a], statuses: [error]}
        """)
    for command in (["jobs", "ls"], ["runs"], ["plan"]):
        result = run(["meshkit", *command], cwd=tmp_path, check=False)
        assert result.returncode == 2, result.stdout + result.stderr
        line = line_of(path, "triggers: {on_completion: b}")
        assert f"mesh.yml:{line}: trigger loop: a → b → a" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
