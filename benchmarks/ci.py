"""Benchmark: `meshkit ci` on a one-model pull request, against per-project CI and against
rebuilding every downstream project, in the same run.

The mesh
    orchestrate.py's generated mesh (default 10 projects × 300 models, same seed): p0 is
    foundational, later projects read public marts of earlier ones; each project writes its
    own DuckDB file. Production is built once with `meshkit build` (untimed). The pull request
    then edits one public model of p0 that other projects read, the one with the median
    cross-project closure (orchestrate.choose_edit): same columns, other rows.

What is measured (wall-clock and CPU seconds of whole commands as subprocesses)
    meshkit ci      `meshkit ci --pr 1 --workers W --no-compare`: the edited model and its
                    downstream in every project, built and tested into PR relations
                    (pr_1__pN.duckdb), deferring to production for everything else. The models
                    it built must be exactly the closure computed by this script from the
                    generated DAG (independently of meshkit). --compare also times the command
                    with compare changes (a second PR number), reported apart.
    per-project     what dbt Cloud's CI job does: in the modified project only,
                    `dbt build -s state:modified+ --defer --state <production manifest>` into a
                    PR database. It builds the closure's models in p0 and misses the others:
                    reported as the models and projects it never tests.
    all downstream  rebuilding every project downstream of p0 (project level, as a CI that
                    builds each affected project whole, or dbt Cloud job chaining, would):
                    `dbt build` of p0 and each downstream project in dependency order; every
                    model of those projects must build. Run last, since it writes production.
    dbt runs with --no-partial-parse in both baselines: a CI job starts on a fresh checkout
    (meshkit ci parses into its own target folders, so it never reuses production's parse).
    Ratios: meshkit ci / per-project and meshkit ci / all downstream, in seconds, and models
    built per second of each. The 1-minute load average is recorded before each phase.

Usage
    python benchmarks/ci.py [--projects 10] [--models 300] [--workers 2] [--settle 60]
                            [--compare] [--quick]
Generated files live in benchmarks/.work/ci/ (git-ignored); results go to
benchmarks/results/ci.json (or --output).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import orchestrate as bench  # the generated mesh and the command helpers

HERE = Path(__file__).resolve().parent
ROOT = bench.WORK / "ci"
DEFAULT_OUTPUT = HERE / "results" / "ci.json"
PR_DATABASE = "dbt_cloud_pr_1"
console = bench.console


def _clean_env() -> dict[str, str]:
    """orchestrate.py's clean environment, running this checkout's meshkit (src/) whatever
    the venv installed: the results name this checkout's commit."""
    return {**_orchestrate_env(), "PYTHONPATH": str(bench.REPO / "src")}


_orchestrate_env, bench.clean_env = bench.clean_env, _clean_env


def ci_output(project: bench.Project) -> str:
    """The `ci` target a dbt Cloud CI job would use: its own PR database, production (for
    deferred models) and the upstream projects' files attached read-only."""
    attach = [project.name, *project.upstreams]
    return (f"    ci:\n      type: duckdb\n      path: \"../warehouse/{PR_DATABASE}_{project.name}.duckdb\"\n"
            f"      schema: {PR_DATABASE}\n      threads: {bench.THREADS}\n      attach:\n"
            + "".join(f"        - path: \"../warehouse/{name}.duckdb\"\n          read_only: true\n"
                      for name in attach))


def timed(args: list, cwd: Path, check: bool = True) -> bench.Ran:
    """Run a command as a subprocess: its wall-clock and CPU seconds, its output."""
    return bench.run(args, cwd, check=check)


def models_in(project_dir: Path, target: str = "target") -> dict[str, str]:
    """model key → status, from the project's last run_results.json."""
    results = json.loads((project_dir / target / "run_results.json").read_text())["results"]
    return {bench.model_key(r["unique_id"]): r["status"] for r in results
            if r["unique_id"].startswith("model.")}


def meshkit_ci(folder: Path, pr: str, workers: int, compare: bool) -> tuple[bench.Ran, dict]:
    """Run `meshkit ci` (JSON report on stdout; exit 1 is a failed PR, still reported)."""
    args = [bench.BIN / "meshkit", "ci", "--pr", pr, "--workers", str(workers), "-q",
            "--format", "json"] + ([] if compare else ["--no-compare"])
    ran = timed(args, folder, check=False)
    if ran.stdout.strip() == "" or not ran.stdout.lstrip().startswith("{"):
        raise bench.BenchmarkError(f"meshkit ci printed no report:\n{ran.stdout[-2000:]}")
    report = json.loads(ran.stdout)
    return ran, report


def built_by_ci(report: dict) -> dict[str, str]:
    """model key → status of the models a `meshkit ci` JSON report built."""
    return {bench.model_key(n["unique_id"]): n["status"] for n in report["nodes"]
            if n["unique_id"].startswith("model.")}


def check_equal(name: str, built: dict[str, str], expected: set[str]) -> dict:
    """Whether a side built exactly the expected models, all successfully (recorded, and
    printed in red when not: the run's other figures are still worth keeping)."""
    bad = sorted(k for k, s in built.items() if s != "success")
    check = {"equal": set(built) == expected and not bad, "built": len(built),
             "expected": len(expected), "extra": sorted(set(built) - expected)[:10],
             "missing": sorted(expected - set(built))[:10], "failed": bad[:10]}
    if not check["equal"]:
        console.print(f"[bold red]{name} did not build what it should:[/] {check}", highlight=False)
    return check


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; --quick shrinks the mesh and writes elsewhere."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--settle", type=float, default=60,
                        help="wait up to this many seconds before each phase for the load to drop")
    parser.add_argument("--seed", type=int, default=bench.SEED)
    parser.add_argument("--compare", action="store_true",
                        help="also time `meshkit ci` with compare changes")
    parser.add_argument("--quick", action="store_true", help="3 projects × 40 models: a smoke test")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.projects, args.models = 3, 40
        if args.output == DEFAULT_OUTPUT:
            args.output = ROOT / "quick.json"
    return args


def phase(loads: dict, name: str, settle: float, text: str) -> None:
    """Start a phase: wait for the load to settle, record it, say what runs."""
    loads[name] = bench.settle(settle)
    console.print(f"{text} (load {loads[name]})", highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Build production, then time the three ways to test the PR; write the results."""
    args = parse_args(argv)
    started = time.perf_counter()
    mesh = bench.plan_mesh(args.projects, args.models, random.Random(args.seed))
    edited, closure = bench.choose_edit(mesh)
    project = mesh.project(edited.project)
    folder = ROOT / "mesh"
    shutil.rmtree(folder, ignore_errors=True)
    bench.write_mesh(mesh, folder, "bench-ci")
    profiles = folder / project.name / "profiles.yml"
    profiles.write_text(profiles.read_text() + ci_output(project))
    downstream = mesh.downstream_projects(project.name)
    summary = mesh.summary()
    loads = {"start": bench.load()}
    console.print(f"mesh: {summary['projects']} projects × {summary['models_per_project']} models; "
                  f"PR edits {edited.key}: closure {len(closure)} models", highlight=False)

    phase(loads, "production", args.settle, "production: meshkit build (untimed set-up)…")
    production = bench.meshkit(folder, "build", "--workers", str(args.workers), "-q")
    state = ROOT / "state" / project.name
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    shutil.copy(folder / project.name / "target" / "manifest.json", state / "manifest.json")
    bench._write(folder / project.name / "models" / edited.layer / f"{edited.name}.sql",
                 bench.model_sql(edited, edited=True))

    phase(loads, "meshkit_ci", args.settle, f"meshkit ci --workers {args.workers} --no-compare…")
    ci_ran, ci_report = meshkit_ci(folder, "1", args.workers, compare=False)
    ci_check = check_equal("meshkit ci", built_by_ci(ci_report), closure)
    console.print(f"    {ci_ran.seconds:.1f} s, {len(closure)} models in "
                  f"{len(ci_report['projects'])} projects", highlight=False)
    compared = None
    if args.compare:
        phase(loads, "meshkit_ci_compare", args.settle, "meshkit ci with compare changes…")
        compared, compared_report = meshkit_ci(folder, "2", args.workers, compare=True)
        console.print(f"    {compared.seconds:.1f} s, {len(compared_report['comparisons'])} "
                      f"models compared", highlight=False)

    phase(loads, "per_project", args.settle,
          f"per-project CI: dbt build -s state:modified+ --defer in {project.name}…")
    project_dir = folder / project.name
    per_project = timed([bench.BIN / "dbt", "build", "-s", "state:modified+", "--defer",
                         "--state", state, "--target", "ci", "--no-partial-parse",
                         "--target-path", "target_ci", "--project-dir", project_dir,
                         "--profiles-dir", project_dir], project_dir, check=False)
    in_project = {k for k in closure if k.startswith(f"{project.name}.")}
    per_project_check = check_equal("per-project CI", models_in(project_dir, "target_ci"), in_project)
    missed = closure - in_project
    missed_projects = sorted({k.split(".")[0] for k in missed}, key=lambda n: int(n[1:]))
    console.print(f"    {per_project.seconds:.1f} s, {len(in_project)} models; misses "
                  f"{len(missed)} in {len(missed_projects)} projects", highlight=False)

    phase(loads, "all_downstream", args.settle,
          f"all downstream: dbt build of {len(downstream)} projects…")
    chain = []
    for name in downstream:
        ran = timed([bench.BIN / "dbt", "build", "--no-partial-parse", "--project-dir",
                     folder / name, "--profiles-dir", folder / name], folder / name)
        built = bench.check_run_results(folder / name, len(mesh.project(name).models))
        chain.append({"project": name, "seconds": round(ran.seconds, 3), "models_built": built,
                      "cpu_seconds": round(ran.cpu, 3)})
        console.print(f"    {name:>4}: {ran.seconds:6.1f} s ({built} models)", highlight=False)
    chain_seconds = sum(c["seconds"] for c in chain)
    chain_models = sum(c["models_built"] for c in chain)
    loads["end"] = bench.load()

    closure_by_project: dict[str, int] = {}
    for key in sorted(closure, key=lambda k: (int(k.split(".")[0][1:]), k)):
        closure_by_project[key.split(".")[0]] = closure_by_project.get(key.split(".")[0], 0) + 1
    doc = {
        "benchmark": "ci",
        "measures": "wall-clock seconds of whole commands as subprocesses, for one one-model "
                    "pull request: `meshkit ci` vs dbt Cloud-style per-project CI vs "
                    "rebuilding every downstream project",
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {"projects": args.projects, "models": args.models, "workers": args.workers,
                   "seed": args.seed, "quick": args.quick, "dbt_threads": bench.THREADS},
        "environment": bench.environment_info(),
        "load_average_1min": loads,
        "mesh": summary,
        "production_build_seconds": round(production.seconds, 3),
        "pull_request": {"model": edited.key,
                         "change": "appended a `where` to its select (same columns, other rows)",
                         "closure_models": len(closure),
                         "closure_by_project": closure_by_project},
        "meshkit_ci": {"command": f"meshkit ci --pr 1 --workers {args.workers} --no-compare",
                       "seconds": round(ci_ran.seconds, 3), "cpu_seconds": round(ci_ran.cpu, 3),
                       "models_built": ci_check["built"], "projects": ci_report["projects"],
                       "tests": sum(1 for n in ci_report["nodes"] if n["resource_type"] == "test"),
                       "status": ci_report["status"], "closure_check": ci_check},
        "meshkit_ci_with_compare": None if compared is None else {
            "seconds": round(compared.seconds, 3), "cpu_seconds": round(compared.cpu, 3),
            "models_compared": len(compared_report["comparisons"])},
        "per_project_ci": {"command": f"dbt build -s state:modified+ --defer --state <prod> "
                                      f"(in {project.name} only)",
                           "seconds": round(per_project.seconds, 3),
                           "cpu_seconds": round(per_project.cpu, 3),
                           "models_built": per_project_check["built"], "models_missed": len(missed),
                           "check": per_project_check,
                           "projects_missed": missed_projects},
        "all_downstream": {"command": "dbt build of each project downstream of the change",
                           "projects": downstream, "seconds": round(chain_seconds, 3),
                           "cpu_seconds": round(sum(c["cpu_seconds"] for c in chain), 3),
                           "models_built": chain_models, "runs": chain},
        "ratios": {"meshkit_ci_over_per_project": round(ci_ran.seconds / per_project.seconds, 4),
                   "meshkit_ci_over_all_downstream": round(ci_ran.seconds / chain_seconds, 4),
                   "models_per_second": {
                       "meshkit_ci": round(ci_check["built"] / ci_ran.seconds, 3),
                       "per_project_ci": round(per_project_check["built"] / per_project.seconds, 3),
                       "all_downstream": round(chain_models / chain_seconds, 3)}},
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    table = bench.Table(title="one-model PR")
    for column in ("", "models built", "seconds", "missed"):
        table.add_column(column)
    table.add_row("meshkit ci", str(ci_check["built"]), f"{ci_ran.seconds:.1f}", "0")
    table.add_row("per-project CI", str(per_project_check["built"]), f"{per_project.seconds:.1f}",
                  str(len(missed)))
    table.add_row("all downstream", str(chain_models), f"{chain_seconds:.1f}", "0")
    console.print(table)
    console.print(f"ratios: {doc['ratios']}", highlight=False)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    console.print(f"results written to {args.output}; total {doc['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bench.BenchmarkError as exc:
        console.print(f"[bold red]benchmark failed:[/] {exc}", highlight=False)
        sys.exit(1)
