"""What the terminal shows: tables at 80 columns, build progress and failures, Ctrl-C, typos."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console

from conftest import meshkit_json, run
from meshes import write_mesh
from meshkit.cli import main
from meshkit.cli.render import Column, fit_table, short_error
from meshkit.graph.selection import Selector
from test_plan_unit import CHAIN, _graph

NARROW = {"COLUMNS": "80"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _too_wide(text: str, width: int = 80) -> list[str]:
    return [line for line in text.splitlines() if cell_len(line) > width]


# -- on plain data ---------------------------------------------------------------------------
def test_a_table_drops_columns_and_never_cuts_a_name():
    console = Console(width=80, file=io.StringIO(), color_system=None)
    names = ["model.analytics.fct_orders_with_a_long_name.v1",
             "model.analytics.fct_orders_with_a_long_name.v2"]
    columns = [Column("node"), Column("decision", drop=2), Column("status"),
               Column("seconds", drop=1), Column("reason", prose=True)]
    rows = [[name, "rebuild", "success", "0.25", "rebuilt: code or config changed since run 12"]
            for name in names]
    console.print(fit_table(console, columns, rows))
    text = console.file.getvalue()
    assert not _too_wide(text), text
    assert all(name in text for name in names) and "…" not in text
    assert "hidden at 80 columns: decision" in text        # named, with where to see it


def test_a_dbt_error_in_one_line():
    message = ("Compilation Error in model fct_orders (models/core/fct_orders_v2.sql)\n"
               "  This model has an enforced contract that failed.\n  Please ensure the name…\n"
               "  > in macro assert_columns_equivalent (macros/relations/column/columns_spec_ddl.sql)")
    assert short_error(message) == \
        "Compilation Error: This model has an enforced contract that failed."
    assert short_error("Database Error\n  boom") == "Database Error"


@pytest.mark.parametrize("select, exclude, warning", [
    (["pub_cor"], [], "--select 'pub_cor' does not match any enabled nodes (did you mean 'pub_core'?)"),
    (["b:mrt+"], [], "--select 'b:mrt+' does not match any enabled nodes (did you mean 'b:mart'?)"),
    (["tag:nightli"], [], "--select 'tag:nightli' does not match any enabled nodes "
                          "(did you mean 'tag:nightly'?)"),
    ([], ["*"], "--exclude '*' leaves nothing of the selection"),
    (["project:b"], ["b:mart", "b:othr"], "--exclude 'b:othr' does not match any enabled nodes "
                                          "(did you mean 'b:other'?)"),
])
def test_a_selector_that_matches_nothing_is_named(select, exclude, warning):
    selector = Selector(_graph(CHAIN, tags={"b.mart": ["nightly"]}))
    assert selector.unmatched(select, exclude) == [warning]


def test_an_empty_project_is_named_as_empty_not_as_a_typo():
    selector = Selector(_graph(CHAIN), projects=frozenset({"empty"}))
    assert selector.unmatched(["project:empty"]) == [
        "--select 'project:empty': project 'empty' has no enabled nodes"]


def test_selectors_that_match_say_nothing():
    selector = Selector(_graph(CHAIN), frozenset())
    assert selector.unmatched(["+b:mart", "state:modified"], ["a:stg"]) == []


def test_store_show_of_an_unknown_project_is_no_such_project(tmp_path):
    for project in ("analytics", "finance"):
        (tmp_path / "store" / project / "prod").mkdir(parents=True)
    result = CliRunner().invoke(main, ["store", "show", "analytcs", "--store", str(tmp_path / "store")])
    assert result.exit_code == 2
    assert "no such project 'analytcs'" in result.output and "did you mean 'analytics'?" in result.output
    assert "never published" not in result.output


def _job_mesh(tmp_path: Path):
    from meshkit.config import load_mesh

    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpha" / "dbt_project.yml").write_text("name: alpha\nprofile: alpha\n")
    (tmp_path / "mesh.yml").write_text("name: unit\nprojects:\n  alpha: alpha\njobs:\n"
                                       "  nightly:\n    select: project:alpha\n")
    return load_mesh(tmp_path / "mesh.yml")


def test_jobs_show_a_run_that_had_nothing_to_do(tmp_path):
    from meshkit.jobs import service
    from meshkit.jobs.queue import JobStore

    mesh = _job_mesh(tmp_path)
    with JobStore.for_mesh(mesh) as store:
        run_ = service.queue_run(store, mesh.jobs["nightly"], "manual")
        store.claim(run_.id, "queue", pid=os.getpid(), host="here")
        store.complete(run_.id, "success", mesh.jobs, message="nothing to do: [every] model is up to date",
                       summary={"steps": [{"step": "build", "status": "noop", "message": "[/]"}]})
    result = CliRunner().invoke(main, ["jobs", "show", str(run_.id), "--mesh", str(tmp_path / "mesh.yml")])
    assert result.exit_code == 0, result.output
    assert "step build: noop — [/]" in result.output
    assert "[every] model" in result.output
    user = service.who()
    assert f"run now by {user}" in result.output and "@" in user and "someone" not in user


# -- end to end ------------------------------------------------------------------------------
@pytest.mark.e2e
def test_every_table_command_is_readable_at_80_columns(built_mesh):
    run(["meshkit", "jobs", "run", "analytics_daily", "--queue"], cwd=built_mesh)
    commands = [["store", "ls"], ["store", "show", "analytics"], ["store", "prune", "--keep", "1",
                "--dry-run"], ["runs"], ["runs", "show", "1"], ["rules"], ["jobs", "ls"],
                ["jobs", "history", "analytics_daily"], ["score", "--no-write"]]
    shown = {}
    for args in commands:
        result = run(["meshkit", *args], cwd=built_mesh, env=NARROW)
        assert not _too_wide(result.stdout), (args, _too_wide(result.stdout))
        assert "…" not in result.stdout, (args, result.stdout)
        shown[" ".join(args)] = result.stdout
    assert all(word in shown["store ls"] for word in ("analytics", "finance", "prod", "success"))
    assert "v1" in shown["store show analytics"] and "v2 (latest)" in shown["store show analytics"]
    assert "2024-06-30" in shown["store show analytics"]             # v1's deprecation stays
    for version in ("model.analytics.fct_orders.v1", "model.analytics.fct_orders.v2"):
        assert version in shown["runs show 1"]
    assert len(shown["rules"].splitlines()) < 130
    assert "analytics_daily" in shown["jobs ls"] and "queued" in shown["jobs history analytics_daily"]
    # check's text report wraps to the terminal (FORCE_COLOR makes rich see one)
    check = run(["meshkit", "check"], cwd=built_mesh, env={**NARROW, "FORCE_COLOR": "1"})
    plain = _ANSI.sub("", check.stdout)
    assert "[missing_primary_key_test] analytics/models/core/core.yml:10" in plain
    assert not _too_wide(plain), _too_wide(plain)
    docs = run(["meshkit", "docs", "generate"], cwd=built_mesh, env=NARROW).stdout
    assert docs.startswith("wrote the catalog of jaffle-mesh") and "rendering" not in docs, docs
    # and --json where a script reads it
    assert meshkit_json(["store", "ls"], cwd=built_mesh)["environments"]
    assert meshkit_json(["rules"], cwd=built_mesh)


@pytest.mark.e2e
def test_a_failed_build_shows_progress_and_one_line_per_failure(built_mesh):
    model = built_mesh / "analytics" / "models" / "core" / "fct_orders_v2.sql"
    model.write_text(model.read_text().replace("        c.first_name,\n", ""))
    result = run(["meshkit", "build", "-q"], cwd=built_mesh, env=NARROW, check=False)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "\x1b[" not in out                                      # piped: no colour codes
    progress = re.search(r"\] wave 1 · analytics: building \d+ node", out)
    summary = out.index("meshkit run ")
    assert progress and progress.start() < summary, out            # progress came first
    assert re.search(r"\] wave 1 · analytics: \d+ ok, 1 failed in [\d.]+ s · not published", out)
    assert ("✗ analytics.fct_orders.v2: Compilation Error: This model has an enforced contract "
            "that failed.") in " ".join(out.split())                # wrapped at 80, not cut
    run_id = json.loads(run(["meshkit", "runs", "--json"], cwd=built_mesh).stdout)[0]["id"]
    assert f"`meshkit runs show {run_id} --log`" in out
    assert "called by macro" not in out and not _too_wide(out)     # dbt's stack is in the log
    assert "called by macro" in run(["meshkit", "runs", "show", str(run_id), "--log"],
                                    cwd=built_mesh).stdout


@pytest.mark.e2e
def test_a_selection_that_matches_nothing_warns(built_mesh):
    typo = " ".join(run(["meshkit", "plan", "-s", "fct_ordrs"], cwd=built_mesh).stdout.split())
    assert "--select 'fct_ordrs' does not match any enabled nodes (did you mean 'fct_orders'" in typo
    assert "up to date" not in typo
    everything = meshkit_json(["plan", "--exclude", "*"], cwd=built_mesh)
    assert everything["warnings"] == ["--exclude '*' leaves nothing of the selection"]


def _descendants(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            if parent == pid:
                found += [int(entry.name), *_descendants(int(entry.name))]
    return found


def _alive(pid: int) -> bool:
    from meshkit.orchestrate.processes import process_alive

    return process_alive(pid)


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds dbt's process through /proc")
def test_ctrl_c_stops_dbt_and_marks_the_run_interrupted(tmp_path):
    mesh = write_mesh(tmp_path, {"slow": {"quick": "select 1 as id"}})
    (mesh / "slow" / "models" / "nap.py").write_text(
        "def model(dbt, session):\n    import time\n    time.sleep(300)\n"
        "    return session.sql('select 1 as id')\n")
    build = subprocess.Popen([str(Path(sys.executable).parent / "meshkit"), "build"], cwd=mesh,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    children: list[int] = []
    while time.monotonic() < deadline and build.poll() is None:
        children = _descendants(build.pid)
        if any(b"build" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
               for pid in children if Path(f"/proc/{pid}").exists()):
            break
        time.sleep(0.2)
    assert build.poll() is None and children, "dbt build never started"
    time.sleep(1)
    build.send_signal(signal.SIGINT)
    out, err = build.communicate(timeout=60)
    assert build.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert "interrupted: stopped 1 dbt invocation(s); run 1 is marked interrupted" in err
    assert not [pid for pid in children if _alive(pid)], "a dbt child was left running"
    [record] = meshkit_json(["runs"], cwd=mesh)
    assert record["status"] == "interrupted" and record["finished_at"]
