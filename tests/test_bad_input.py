"""Bad input is refused with one message naming its file (and line), never a traceback; and
nothing in it is silently accepted. One test per kind of input, on plain files (no dbt)."""

from __future__ import annotations

import json
import os
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from meshkit.config import load_mesh
from meshkit.config.dependencies import declared_projects
from meshkit.config.jobs import Schedule
from meshkit.config.yamlfile import read_yaml
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import load_from_store
from meshkit.orchestrate.history import History
from meshkit.jobs.queue import JobStore
from meshkit.jobs.service import job_rows
from meshkit.store.maintenance import repair, verify
from meshkit.store.records import RunRecord
from meshkit.store.store import Store


def mesh_dir(root: Path, *projects: str) -> Path:
    for name in projects or ("a",):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "dbt_project.yml").write_text(f"name: {name}\nprofile: {name}\n")
    return root


def write(root: Path, text: str | bytes, name: str = "mesh.yml") -> Path:
    path = root / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip())
    return path


def refused(path: Path) -> MeshError:
    with pytest.raises(MeshError) as caught:
        load_mesh(path)
    assert caught.value.file == str(path.resolve())
    return caught.value


def with_jobs(root: Path, jobs: str) -> Path:
    return write(mesh_dir(root), "name: m\nprojects:\n  a: a\njobs:\n"
                 + textwrap.indent(textwrap.dedent(jobs), "  "))


# -- mesh.yml as text ----------------------------------------------------------------------------
def test_invalid_utf8_names_file_and_line(tmp_path):
    error = refused(write(mesh_dir(tmp_path), b"name: m\nprojects:\n  a: a\n# caf\xe9\n"))
    assert error.line == 4 and "UTF-8" in error.message


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01"])
def test_an_impossible_date_anywhere_is_an_error_at_its_line(tmp_path, value):
    mesh = write(mesh_dir(tmp_path), f"""
        name: m
        projects:
          a: a
        governance:
          rules:
            root_model:
              severity: warn
              error_after: {value}
    """)
    error = refused(mesh)
    assert error.line == 8 and value in error.message
    write(tmp_path, f"name: m\nprojects: {{a: a}}\njobs:\n  j: {{description: {value}}}\n")
    assert refused(tmp_path / "mesh.yml").line == 4


def test_deep_nesting_is_refused_at_once(tmp_path):
    started = time.perf_counter()
    error = refused(write(mesh_dir(tmp_path), "name: m\nprojects: " + "[" * 5000))
    assert error.line == 2 and "nested more than 100 deep" in error.message
    assert time.perf_counter() - started < 3          # ruamel alone: 12 s; now 0.01 s
    blocks = "".join(" " * depth + f"k{depth}:\n" for depth in range(1, 3000))
    error = refused(write(tmp_path, "name: m\nprojects:\n" + blocks))
    assert "nested too deeply" in error.message


@pytest.mark.parametrize("scalar, message", [
    ('"\\ud83d\\ude00"', "surrogate"),          # JSON's way to write 😀, not YAML's
    ("0x_", "cannot read '0x_'"),
    ("!!int x", "cannot read 'x'"),
])
def test_scalars_yaml_cannot_build_name_their_line(tmp_path, scalar, message):
    error = refused(write(mesh_dir(tmp_path), f"name: m\nprojects:\n  a: a\ndescription: {scalar}\n"))
    assert error.line == 4 and message in error.message


def test_a_key_of_the_wrong_type_names_its_mapping(tmp_path):
    error = refused(write(mesh_dir(tmp_path), "name: m\nprojects:\n  a: a\n  7: b\n"))
    assert error.line == 2 and error.message == "a key: expected `str`, got `int` (at projects)"


def test_control_characters_in_the_file_name_their_line(tmp_path):
    error = refused(write(mesh_dir(tmp_path), b"name: m\nprojects:\n  a: a\x07\n"))
    assert error.line == 3 and "U+0007" in error.message


def test_comment_lines_load_in_linear_time(tmp_path):
    """80,000 comment lines (3.4 MB) took 13 s when ruamel joined them one by one."""
    comments = "".join(f"# comment line {i} with a little text\n" for i in range(80_000))
    mesh = write(mesh_dir(tmp_path), "name: m\nprojects:\n  a: a  # the one\n" + comments
                 + "jobs:\n  # a job\n  j: {project: a}\n")
    started = time.perf_counter()
    loaded = load_mesh(mesh)
    assert time.perf_counter() - started < 6            # 13 s before, 0.9 s now
    assert loaded.jobs["j"].line == 80_006


# -- paths and the store -------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ['"a\\0b"', "x" * 5000])
def test_an_impossible_project_path_names_its_line(tmp_path, entry):
    error = refused(write(mesh_dir(tmp_path), f"name: m\nprojects:\n  a: {entry}\n"))
    assert error.line == 3 and "project 'a'" in error.message


@pytest.mark.parametrize("store, why", [("''", "empty"), ("' '", "empty"), (".", "own folder"),
                                        ("..", "one above it")])
def test_the_store_cannot_be_empty_or_the_mesh_itself(tmp_path, store, why):
    error = refused(write(mesh_dir(tmp_path), f"name: m\nstore: {store}\nprojects:\n  a: a\n"))
    assert error.line == 2 and why in error.message


def test_unreachable_store_url_is_one_message():
    with pytest.raises(MeshError, match="cannot reach the artifact store at ftp://127.0.0.1:1/x"):
        Store("ftp://127.0.0.1:1/x").projects()


def _published(tmp_path: Path) -> tuple[Store, Path]:
    store = Store(str(tmp_path / "store"), cache_dir=tmp_path / "cache")
    record = RunRecord("r1", "a", "prod", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z",
                       "1.11.0", "0", "success", {})
    store.publish(record, {"manifest.json": b"{}", "run_results.json": b"{}",
                           "interface.json": b"{}"})
    return store, tmp_path / "store" / "a" / "prod"


def test_a_run_record_without_files_is_damaged_not_a_traceback(tmp_path):
    store, env_dir = _published(tmp_path)
    record_file = env_dir / "runs" / "r1" / "meshkit-run.json"
    record_file.write_text(json.dumps({**json.loads(record_file.read_text()), "files": {}}))
    for read in (lambda: store.interface("a", "prod"), lambda: load_from_store(store, "prod")):
        with pytest.raises(MeshError, match="lists no (interface|manifest).json") as caught:
            read()
        assert caught.value.file.startswith(str(env_dir / "runs" / "r1"))
    assert "the record lists no manifest.json" in verify(store, store.latest("a", "prod"))
    assert repair(store, "a", "prod").after is None          # no intact run left


def test_a_store_whose_runs_folder_is_a_file(tmp_path):
    store, env_dir = _published(tmp_path)
    for child in (env_dir / "runs" / "r1").iterdir():
        child.unlink()
    (env_dir / "runs" / "r1").rmdir()
    (env_dir / "runs").rmdir()
    (env_dir / "runs").write_text("not a folder")
    with pytest.raises(MeshError, match="Not a directory"):
        store.latest("a", "prod")
    with pytest.raises(MeshError, match="cannot write run"):
        store.publish(RunRecord("r2", "a", "prod", "2026-01-02T00:00:00Z", "2026-01-02T00:00:00Z",
                                "1.11.0", "0", "success", {}), {"manifest.json": b"{}"})


@pytest.mark.parametrize("opener", [History, JobStore])
def test_a_garbage_history_db_names_the_file_and_the_way_out(tmp_path, opener):
    path = tmp_path / "history.db"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(MeshError) as caught:
        opener(path)
    assert caught.value.file == str(path) and "history.db.broken" in caught.value.hint
    path.unlink()
    path.mkdir()                                   # a folder where the file belongs
    with pytest.raises(MeshError):
        opener(path)


# -- dependencies.yml --------------------------------------------------------------------------
@pytest.mark.parametrize("text, line", [("projects: 5\n", 1), ("projects:\n  - 5\n", 2),
                                        ("projects:\n  - name: [a]\n", 2), ("[1, 2]\n", 1),
                                        ("projects: {a: 1}\n", 1)])
def test_dependencies_yml_of_the_wrong_shape(tmp_path, text, line):
    path = write(tmp_path, text, "dependencies.yml")
    with pytest.raises(MeshError) as caught:
        declared_projects(tmp_path)
    assert caught.value.file == str(path) and caught.value.line == line


def test_dependencies_yml_with_an_impossible_date(tmp_path):
    write(tmp_path, "projects:\n  - name: a\nsince: 2026-02-30\n", "dependencies.yml")
    with pytest.raises(MeshError, match="day is out of range") as caught:
        declared_projects(tmp_path)
    assert caught.value.line == 3


# -- jobs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cron, message", [
    ("0 0 31 2 *", "never fires"),
    ("0 0 31 4,6,9,11 *", "never fires"),
    ("0 0 1 2 * 5", "a sixth field would be read as seconds"),
    ("0 0 1 2 * 5 2030", "seconds and years"),
    ("0 0 1 2", "not a valid cron expression"),
])
def test_crons_that_would_never_fire_or_mean_something_else(tmp_path, cron, message):
    error = refused(with_jobs(tmp_path, f'j:\n  project: a\n  schedule: "{cron}"\n'))
    assert error.line == 7 and message in error.message
    error = refused(with_jobs(tmp_path, f'j:\n  schedule:\n    cron: "{cron}"\n'))
    assert error.line == 7 and message in error.message
    assert load_mesh(with_jobs(tmp_path, 'j: {schedule: "@daily"}\n')).jobs["j"].schedule


def test_jobs_ls_and_the_scheduler_survive_a_schedule_that_never_fires(tmp_path):
    """A mesh.yml from before the check: the job has no next time; other jobs still fire."""
    from meshkit.jobs.scheduler import Scheduler

    mesh = load_mesh(with_jobs(tmp_path, 'never: {schedule: "0 0 1 1 *"}\n'
                                         'hourly: {schedule: "0 * * * *"}\n'))
    mesh.jobs["never"] = replace(mesh.jobs["never"], schedule=Schedule("0 0 31 2 *"))
    clock = [1_767_225_600.0]                      # 2026-01-01T00:00:00Z
    scheduler = Scheduler(mesh, in_process=True, clock=lambda: clock[0], log=lambda line: None)
    try:
        rows = {row["name"]: row for row in job_rows(mesh, scheduler.store, now=clock[0])}
        assert rows["never"]["schedule"]["next"] is None
        assert rows["hourly"]["schedule"]["next"] == "2026-01-01T01:00:00Z"
        scheduler.tick()                           # registers both schedules
        clock[0] += 3600
        scheduler.tick()
        assert [r.job for r in scheduler.store.runs(status=("queued", "running", "success",
                                                            "error"), limit=None)] == ["hourly"]
    finally:
        scheduler.close()


def test_one_jobs_failing_schedule_does_not_stop_the_scheduler(tmp_path, monkeypatch):
    from meshkit.jobs import scheduler as module

    mesh = load_mesh(with_jobs(tmp_path, 'broken: {schedule: "0 * * * *"}\n'
                                         'hourly: {schedule: "30 * * * *"}\n'))
    real = module.due_times

    def due(schedule, after, until):
        if schedule.cron == "0 * * * *":
            raise RuntimeError("boom")
        return real(schedule, after, until)

    monkeypatch.setattr(module, "due_times", due)
    clock, lines = [1_767_225_600.0], []
    scheduler = module.Scheduler(mesh, in_process=True, clock=lambda: clock[0], log=lines.append)
    try:
        scheduler.tick()
        for _ in range(2):
            clock[0] += 3600
            scheduler.tick()
        assert {r.job for r in scheduler.store.runs(limit=None)} == {"hourly"}
        said = [line for line in lines if "broken: its schedule failed (RuntimeError: boom)" in line]
        assert len(said) == 1                      # once, not every tick
    finally:
        scheduler.close()


@pytest.mark.parametrize("timeout", [".nan", ".inf"])
def test_timeouts_that_are_not_a_duration(tmp_path, timeout):
    error = refused(with_jobs(tmp_path, f"j:\n  timeout: {timeout}\n"))
    assert error.line == 6 and "timeout" in error.message


@pytest.mark.parametrize("select, message", [
    ("+++@@@(((", "cannot read selector"),
    ("a:x+ tags:nightly", "did you mean 'tag:'"),
    ("analytcs:fct_orders", "neither a selector method nor a project"),
    ("@a:x+", "'@' cannot be combined with '+'"),
    ("a:x,,tag:y", "empty part"),
    ("state:changed", "state:changed is not supported"),
    ("(fct_orders)", "'(' cannot appear"),
    ("file:x.sql", "'file' is neither a selector method nor a project"),
    ("+", "cannot read selector '+'"),
])
def test_garbage_job_selectors_are_refused_when_mesh_yml_loads(tmp_path, select, message):
    error = refused(with_jobs(tmp_path, f"j:\n  select: {json.dumps(select)}\n"))
    assert error.line == 6 and message in error.render()
    error = refused(with_jobs(tmp_path, f"j:\n  exclude:\n    - a:x\n    - {json.dumps(select)}\n"))
    assert error.line == 8


@pytest.mark.parametrize("select", ["+a:x+", "2+fct_*+3 tag:nightly,path:models/marts",
                                    "@a:x", "config.materialized:table", "state:modified+",
                                    "source:raw.orders+", "a:fct_orders.v2", "path:models/x-y"])
def test_dbt_selectors_still_load(tmp_path, select):
    assert load_mesh(with_jobs(tmp_path, f"j:\n  select: {json.dumps(select)}\n")).jobs["j"].select


def test_selector_syntax_is_the_one_the_orchestrator_evaluates():
    from meshkit.config.selector_syntax import Expression
    from meshkit.graph import selection

    assert selection.Expression is Expression
    ((term,),) = Expression.parse(["2+a:x+1"]).alternatives
    assert (term.up, term.method, term.value, term.down) == (2, "a", "x", 1)


def test_an_smtp_port_out_of_range(tmp_path):
    error = refused(with_jobs(tmp_path, "j:\n  notify:\n    smtp: {port: 70000}\n"))
    assert error.line == 7


# -- governance ----------------------------------------------------------------------------------
def policies(root: Path, governance: str, **projects: str):
    """The policies `meshkit check`, `rules` and `score` load for a mesh of projects a and b."""
    from meshkit.cli.govern import _policies

    mesh = load_mesh(write(mesh_dir(root, "a", "b"), "name: m\nprojects:\n  a: a\n  b: b\n"
                           "governance:\n" + textwrap.indent(textwrap.dedent(governance), "  ")))
    for name, text in projects.items():
        write(root / name, text, "governance.yml")
    return _policies(mesh)


def test_a_negative_max_versions_is_refused(tmp_path):
    with pytest.raises(MeshError, match="max_versions.*>= 1") as caught:
        policies(tmp_path, "rules:\n  too_many_live_versions: {params: {max_versions: -1}}\n")
    assert caught.value.line == 7


def test_an_unknown_project_in_a_rule_scope_is_refused(tmp_path):
    with pytest.raises(MeshError, match="projects: 'analytcs' is not a project of the mesh") as caught:
        policies(tmp_path, "rules:\n  root_model: {severity: warn, scope: {projects: [analytcs]}}\n")
    assert caught.value.line == 7
    assert policies(tmp_path, "rules:\n  root_model: {scope: {projects: ['[ab]']}}\n")


RULE = "from meshkit.govern import rule\n\n@rule\ndef my_rule(model, mesh):\n    return None\n"


def test_custom_rules_are_confined_to_the_mesh_repository(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "evil.py").write_text(RULE)
    root = tmp_path / "mesh"
    mesh_dir(root, "a", "b")
    with pytest.raises(MeshError, match="outside the mesh repository") as caught:
        policies(root, "rules: {}\n", a=f"custom_rules:\n  - ../../elsewhere/evil.py\n")
    assert caught.value.file == str(root / "a" / "governance.yml") and caught.value.line == 2
    with pytest.raises(MeshError, match="outside the mesh repository"):
        policies(root, f"custom_rules: [{outside / 'evil.py'}]\n", a="rules: {}\n")
    (root / "a" / "link.py").symlink_to(outside / "evil.py")         # a link leading out
    with pytest.raises(MeshError, match="outside the mesh repository"):
        policies(root, "rules: {}\n", a="custom_rules: [link.py]\n")
    (root / "governance").mkdir()
    (root / "governance" / "rules.py").write_text(RULE)
    loaded = policies(root, "rules: {}\n", a="custom_rules: [../governance/rules.py]\n")
    assert loaded.local_rules == {"my_rule": "a"}


def test_read_yaml_reports_an_unreadable_file(tmp_path):
    with pytest.raises(MeshError, match="cannot read the file") as caught:
        read_yaml(tmp_path)                         # a folder
    assert caught.value.file == str(tmp_path)


# -- --vars --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("{load_source_data: true", "--vars cannot be read"),
    ("[1, 2]", "must be a mapping"),
    ("just text", "must be a mapping"),
])
def test_vars_that_are_not_a_mapping_are_one_message_before_anything_runs(tmp_path, text, message):
    """dbt's --vars is a YAML mapping: anything else is refused before a run is recorded."""
    from click.testing import CliRunner

    from meshkit.cli import main

    write(mesh_dir(tmp_path), "name: m\nprojects:\n  a: a\n")
    for command in ("build", "plan", "ci"):
        pr = ["--pr", "7"] if command == "ci" else []
        result = CliRunner().invoke(main, [command, "--mesh", str(tmp_path / "mesh.yml"),
                                           *pr, "--vars", text])
        assert isinstance(result.exception, SystemExit) and result.exit_code != 0
        assert message in result.output and "Traceback" not in result.output
        assert not (tmp_path / ".meshkit").exists()      # refused before any run is recorded
