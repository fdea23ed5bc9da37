"""Benchmark: `meshkit build` across a mesh of many projects against plain dbt run project by project.

What is measured
    Wall-clock seconds of whole commands run as subprocesses (interpreter start-up, dbt's
    parses, the warehouse work and publishing to the store all count), in one run:

    (a) cold build   from an empty warehouse, store and history:
                     meshkit      `meshkit build --workers W` (default W = 2)
                     sequential   what a CI job chain would run: for each project in dependency
                                  order, `dbt build` (plain dbt; meshkit's dbt plugin resolves the
                                  cross-project refs from the store) then
                                  `meshkit publish --project-dir P`
                     ratio = meshkit / sequential; target ≤ 0.7
    (b) no-op        `meshkit build --workers W --json` again, nothing changed, --noop-repeat
                     times; every run must report status "noop", every project's parse
                     "cache" and no dbt invocation in the run's history (no dbt process ran).
                     Target: ≤ 2 s wall (on the median run).
    (c) one edit     the SQL of one public model of the foundational project p0 that other
                     projects read (of those, the one with the median affected closure) is
                     changed (same columns, different rows), in both copies:
                     meshkit      `meshkit build --workers W --json`; the models it rebuilds
                                  must be exactly the edited model and all its descendants
                                  across projects, computed by this script from the generated
                                  DAG (independently of meshkit); everything else reused
                     job chain    what dbt Cloud job chaining does: `dbt build` (and publish) of
                                  the edited project and of every project downstream of it at
                                  project level, sequentially, in dependency order
                     Reported: models rebuilt vs. the affected closure (must be equal), and
                     the ratio meshkit / job chain.

    Both sides run the same generated projects, in two copies (`mesh/` for meshkit,
    `sequential/` for plain dbt; each with its own warehouse, store and history), in the same
    venv, with byte-code cached in benchmarks/.work/pycache. An untimed warm-up (a tiny mesh,
    built with meshkit and with plain dbt) runs first so neither side pays for compiling
    byte-code. Every meshkit run is verified against --json and `meshkit runs show`, every
    plain dbt run against its run_results.json; anything unexpected aborts the benchmark.
    Targets are printed as PASS/FAIL, never asserted.

    Where meshkit's time goes: from `meshkit runs show ID --json`, the script splits each
    meshkit run into planning (process start until the run is recorded: imports, the
    projects' `dbt parse`, planning), the dbt invocations (start, end, project, wave; dbt's own
    "Finished running … in N seconds" from its log) and the rest (publishing, scheduling
    gaps). Each project's logs/dbt.log adds dbt's "Resource report" of every command: its wall
    clock from after dbt's start-up, and the process's CPU seconds (planning parses included).
    For plain dbt: each project's `dbt build` and publish seconds, and the same figures.
    CPU seconds (user + system, dbt processes included) are recorded for every command: they
    show the work each side does, less disturbed by other load than wall time.
    The 1-minute load average is recorded before each phase (the machine may be shared);
    --settle waits up to that many seconds before each phase for it to drop below half the
    CPUs. For reference, the cold build also reports the project-level critical path of the
    sequential per-project times and their makespan when scheduled W at a time with no
    overhead at all: no project-level orchestrator can beat that ratio on this DAG.

The mesh
    --projects projects (default 10) p0 … p{n-1}: p0 is foundational; every later project
    refs public models of 1–3 earlier projects (seeded random), declared in dependencies.yml,
    so the projects form a DAG. Each project has --models models (default 300) in staging
    (views) → intermediate (views) → marts (tables) layers with a seeded random DAG (each
    model refs 1–3 earlier models); about a third of the marts are `access: public`. Staging
    models of p0 select ten generated rows from DuckDB's `range()`; in the other projects about
    half of the staging models (and a few intermediate ones) read a public model of an
    upstream project with `{{ ref('pK', 'model') }}`, the rest generated rows. A few models
    carry a `not_null` test. SQL is cheap, so dbt's own overhead dominates, as it does for many
    teams. Each project writes its own DuckDB file (warehouse/pN.duckdb) and attaches its
    direct upstream projects' files read-only (dbt-duckdb `attach:`), as in
    examples/jaffle-mesh.

Usage
    python benchmarks/orchestrate.py [--projects 10] [--models 300] [--workers 2]
                                     [--noop-repeat 3] [--settle 90] [--seed N] [--quick]

Everything generated lives in benchmarks/.work/orchestrate/ (git-ignored); results are
written to benchmarks/results/orchestrate.json (or --output).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
ROOT = WORK / "orchestrate"
DEFAULT_OUTPUT = HERE / "results" / "orchestrate.json"

SEED = 20240917
LAYER_SHARES = {"staging": 0.30, "intermediate": 0.40, "marts": 0.30}
PREFIX = {"staging": "stg", "intermediate": "int", "marts": "fct"}
PUBLIC_MART_SHARE = 0.33
CROSS_STAGING_SHARE = 0.5       # staging models (outside p0) that read an upstream public model
CROSS_INTERMEDIATE_SHARE = 0.05
TESTED_SHARE = 0.05
COLD_MAX_RATIO = 0.7
NOOP_MAX_SECONDS = 2.0
THREADS = 4

console = Console(width=None if sys.stdout.isatty() else 120)


class BenchmarkError(RuntimeError):
    """A step failed or a result was not what it must be: the numbers would be meaningless."""


# --------------------------------------------------------------------------------------------
# The mesh plan: projects, models and the model-level DAG across projects
# --------------------------------------------------------------------------------------------

@dataclass
class Model:
    project: str
    name: str
    layer: str
    parents: tuple[str, ...] = ()                  # models of the same project
    cross: tuple[tuple[str, str], ...] = ()        # (project, model) public models upstream
    public: bool = False
    tested: bool = False

    @property
    def key(self) -> str:
        return f"{self.project}.{self.name}"

    @property
    def materialized(self) -> str:
        return "table" if self.layer == "marts" else "view"


@dataclass
class Project:
    name: str
    upstreams: tuple[str, ...]
    models: list[Model] = field(default_factory=list)

    @property
    def public(self) -> list[Model]:
        return [m for m in self.models if m.public]


@dataclass
class MeshPlan:
    projects: list[Project]

    def project(self, name: str) -> Project:
        return next(p for p in self.projects if p.name == name)

    @property
    def models(self) -> list[Model]:
        return [m for p in self.projects for m in p.models]

    def children(self) -> dict[str, list[str]]:
        """model key → keys of the models that ref it, in any project."""
        found: dict[str, list[str]] = {m.key: [] for m in self.models}
        for model in self.models:
            for parent in model.parents:
                found[f"{model.project}.{parent}"].append(model.key)
            for project, parent in model.cross:
                found[f"{project}.{parent}"].append(model.key)
        return found

    def closure(self, key: str) -> set[str]:
        """The model and all its descendants, across projects."""
        children, seen, stack = self.children(), {key}, [key]
        while stack:
            for child in children[stack.pop()]:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    def downstream_projects(self, name: str) -> list[str]:
        """The project and every project that depends on it (transitively), in build order."""
        found = {name}
        for project in self.projects:   # generated in dependency order
            if set(project.upstreams) & found:
                found.add(project.name)
        return [p.name for p in self.projects if p.name in found]

    def critical_path(self, seconds: dict[str, float]) -> tuple[float, list[str]]:
        """Longest chain of projects by the given per-project seconds (project-level DAG)."""
        best: dict[str, tuple[float, list[str]]] = {}
        for project in self.projects:
            before = max((best[u] for u in project.upstreams), default=(0.0, []), key=lambda b: b[0])
            best[project.name] = (before[0] + seconds[project.name], before[1] + [project.name])
        return max(best.values(), key=lambda b: b[0])

    def schedule(self, seconds: dict[str, float], workers: int) -> float:
        """Makespan of a project-level orchestrator with no overhead of its own: the given
        per-project seconds, `workers` at a time, each project once its upstreams are done."""
        done: dict[str, float] = {}
        running: list[tuple[float, str]] = []
        pending = [p for p in self.projects]
        now = 0.0
        while pending or running:
            for project in list(pending):
                if len(running) < workers and all(u in done for u in project.upstreams):
                    pending.remove(project)
                    running.append((now + seconds[project.name], project.name))
            running.sort()
            now, name = running.pop(0)
            done[name] = now
        return now

    def summary(self) -> dict:
        models = self.models
        return {
            "projects": len(self.projects),
            "models": len(models),
            "models_per_project": len(self.projects[0].models),
            "views": sum(1 for m in models if m.materialized == "view"),
            "tables": sum(1 for m in models if m.materialized == "table"),
            "public_models": sum(1 for m in models if m.public),
            "tested_models": sum(1 for m in models if m.tested),
            "cross_project_refs": sum(len(m.cross) for m in models),
            "project_upstreams": {p.name: list(p.upstreams) for p in self.projects},
            "project_depth": self.critical_path({p.name: 1.0 for p in self.projects})[0],
        }


def plan_mesh(n_projects: int, n_models: int, rng: random.Random) -> MeshPlan:
    projects: list[Project] = []
    for i in range(n_projects):
        earlier = [p.name for p in projects]
        upstreams = tuple(sorted(rng.sample(earlier, rng.randint(1, min(3, len(earlier)))),
                                 key=lambda n: int(n[1:]))) if earlier else ()
        project = Project(f"p{i}", upstreams)
        project.models = _plan_models(project, projects, n_models, rng)
        projects.append(project)
    return MeshPlan(projects)


def _plan_models(project: Project, earlier: list[Project], n: int, rng: random.Random) -> list[Model]:
    staging = max(2, round(n * LAYER_SHARES["staging"]))
    intermediate = max(2, round(n * LAYER_SHARES["intermediate"]))
    counts = {"staging": staging, "intermediate": intermediate,
              "marts": max(2, n - staging - intermediate)}
    upstream_public = [(p.name, m.name) for p in earlier if p.name in project.upstreams
                       for m in p.public]
    models: list[Model] = []
    by_layer: dict[str, list[str]] = {layer: [] for layer in counts}
    for layer, count in counts.items():
        for _ in range(count):
            name = f"{project.name}_{PREFIX[layer]}_{len(models):04d}"
            cross: tuple[tuple[str, str], ...] = ()
            parents: tuple[str, ...] = ()
            if layer == "staging":
                if upstream_public and rng.random() < CROSS_STAGING_SHARE:
                    cross = (rng.choice(upstream_public),)
            else:
                if layer == "intermediate":
                    pool = by_layer["staging"] + by_layer["intermediate"][-60:]
                else:
                    pool = by_layer["intermediate"][-80:] + by_layer["marts"][-30:]
                parents = tuple(rng.sample(pool, min(len(pool), rng.randint(1, 3))))
                if layer == "intermediate" and upstream_public and rng.random() < CROSS_INTERMEDIATE_SHARE:
                    cross = (rng.choice(upstream_public),)
            models.append(Model(project.name, name, layer, parents, cross,
                                tested=rng.random() < TESTED_SHARE))
            by_layer[layer].append(name)
    marts = [m for m in models if m.layer == "marts"]
    for model in rng.sample(marts, max(2, round(len(marts) * PUBLIC_MART_SHARE))):
        model.public = True
    return models


def choose_edit(mesh: MeshPlan) -> tuple[Model, set[str]]:
    """A public model of p0 read by other projects, with the median affected closure."""
    candidates = []
    children = mesh.children()
    for model in mesh.projects[0].public:
        if any(not child.startswith(f"{model.project}.") for child in children[model.key]):
            candidates.append((len(mesh.closure(model.key)), model.name, model))
    if not candidates:
        raise BenchmarkError("no public model of p0 is read by another project; "
                             "use more projects or models")
    candidates.sort(key=lambda c: (c[0], c[1]))
    model = candidates[len(candidates) // 2][2]
    return model, mesh.closure(model.key)


# --------------------------------------------------------------------------------------------
# Writing the projects
# --------------------------------------------------------------------------------------------

def write_mesh(mesh: MeshPlan, folder: Path, name: str) -> None:
    """mesh.yml, the projects and an empty warehouse folder under `folder`."""
    entries = "".join(f"  {p.name}: {p.name}\n" for p in mesh.projects)
    _write(folder / "mesh.yml", f"name: {name}\nstore: .meshkit/store\nprojects:\n{entries}")
    (folder / "warehouse").mkdir(parents=True, exist_ok=True)
    for project in mesh.projects:
        write_project(project, folder / project.name)


def write_project(project: Project, folder: Path) -> None:
    _write(folder / "dbt_project.yml", _project_yml(project.name))
    _write(folder / "profiles.yml", _profiles_yml(project))
    if project.upstreams:
        entries = "".join(f"  - name: {u}\n" for u in project.upstreams)
        _write(folder / "dependencies.yml", f"projects:\n{entries}")
    for layer in LAYER_SHARES:
        models = [m for m in project.models if m.layer == layer]
        for model in models:
            _write(folder / "models" / layer / f"{model.name}.sql", model_sql(model))
        entries = "".join(_model_yml(m) for m in models)
        _write(folder / "models" / layer / f"_{layer}__models.yml", f"version: 2\n\nmodels:\n{entries}")


_EDIT_FILTER = "where r0.id % 2 = 0"


def model_sql(model: Model, edited: bool = False) -> str:
    """CTE r<i> per ref, left-joined on id; the output is always id, amount, label.

    `edited`: the same columns, other rows (what the benchmark's one-model edit writes).
    """
    refs = [f"ref('{p}', '{m}')" for p, m in model.cross] + [f"ref('{p}')" for p in model.parents]
    if refs:
        ctes = ",\n".join(f"r{i} as (\n    select * from {{{{ {ref} }}}}\n)" for i, ref in enumerate(refs))
    else:
        ctes = ("r0 as (\n    select range as id, range * 1.5 as amount, 'row ' || range as label\n"
                "    from range(10)\n)")
    amount = " + ".join(["r0.amount"] + [f"coalesce(r{i}.amount, 0)" for i in range(1, len(refs))])
    joins = "".join(f"\nleft join r{i} on r0.id = r{i}.id" for i in range(1, len(refs)))
    where = f"\n{_EDIT_FILTER}" if edited else ""
    return (f"with {ctes}\n\nselect\n    cast(r0.id as integer) as id,\n"
            f"    cast({amount} as double) as amount,\n    cast(r0.label as varchar) as label\n"
            f"from r0{joins}{where}\n")


def _model_yml(model: Model) -> str:
    lines = [f"  - name: {model.name}",
             f"    description: {model.layer.capitalize()} model {model.name}."]
    if model.public:
        lines.append("    access: public")
    if model.tested:
        lines += ["    columns:", "      - name: id", "        data_tests:", "          - not_null"]
    return "\n".join(lines) + "\n"


def _project_yml(name: str) -> str:
    return f"""name: {name}
version: "1.0.0"
config-version: 2
profile: {name}

model-paths: ["models"]

models:
  {name}:
    staging:
      +materialized: view
    intermediate:
      +materialized: view
    marts:
      # Public models are read by other projects from their own DuckDB files: tables.
      +materialized: table
"""


def _profiles_yml(project: Project) -> str:
    """Its own DuckDB file; its direct upstream projects' files attached read-only."""
    text = (f"{project.name}:\n  target: prod\n  outputs:\n    prod:\n      type: duckdb\n"
            f"      path: \"../warehouse/{project.name}.duckdb\"\n      schema: main\n"
            f"      threads: {THREADS}\n")
    if project.upstreams:
        text += "      attach:\n" + "".join(
            f"        - path: \"../warehouse/{u}.duckdb\"\n          read_only: true\n"
            for u in project.upstreams)
    return text


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def reset_state(folder: Path, mesh: MeshPlan) -> None:
    """Empty warehouse, store, history and parse cache; no project has a target/ yet."""
    for path in [folder / "warehouse", folder / ".meshkit"] + [
            folder / p.name / sub for p in mesh.projects for sub in ("target", "logs")]:
        shutil.rmtree(path, ignore_errors=True)
    (folder / "warehouse").mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------

BIN = Path(sys.executable).parent


def clean_env() -> dict[str, str]:
    """The caller's environment without variables that would steer dbt or meshkit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHKIT_", "DBT_"))
           and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(BIN.parent),
               DBT_SEND_ANONYMOUS_USAGE_STATS="False", MESHKIT_CACHE_DIR=str(ROOT / "cache"),
               # Byte-code cached as on a user's machine, out of the source tree and the venv.
               PYTHONPYCACHEPREFIX=str(WORK / "pycache"))
    return env


@dataclass
class Ran:
    seconds: float
    cpu: float              # user + system seconds of the command and its children (dbt)
    started: float          # time.time() at start, to line up with meshkit's history
    stdout: str


def run(args: list[str], cwd: Path, check: bool = True) -> Ran:
    """Run a command; return its wall-clock seconds and output; raise if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    start = time.perf_counter()
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=clean_env(), capture_output=True,
                            text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise BenchmarkError(f"`{' '.join(map(str, args))}` in {cwd} failed ({result.returncode}):\n"
                             + "\n".join(output[-40:]))
    return Ran(seconds, cpu, started, result.stdout)


def meshkit(folder: Path, *args: str) -> Ran:
    return run([BIN / "meshkit", *args], cwd=folder)


def meshkit_json(folder: Path, *args: str) -> tuple[Ran, dict]:
    ran = meshkit(folder, *args, "--json")
    return ran, _json(ran.stdout)


def _json(text: str) -> dict:
    try:
        return json.loads(text[text.index("{"):])
    except ValueError as exc:
        raise BenchmarkError(f"meshkit printed no JSON: {text[-2000:]}") from exc


_REPORT_RE = re.compile(r"Resource report: (\{.*\})")


def dbt_reports(folder: Path, projects: list[str]) -> dict[str, list[dict]]:
    """Per project, every dbt command in its logs/dbt.log, from dbt's "Resource report":
    the command, dbt's own wall clock (from after its start-up) and the process's CPU seconds."""
    found: dict[str, list[dict]] = {}
    for name in projects:
        log = folder / name / "logs" / "dbt.log"
        reports = []
        if log.is_file():
            for match in _REPORT_RE.finditer(log.read_text(encoding="utf-8", errors="replace")):
                report = json.loads(match.group(1))
                reports.append({"command": report.get("command_name"),
                                "wall": round(report["command_wall_clock_time"], 3),
                                "cpu": round(report["process_user_time"]
                                             + report["process_kernel_time"], 3)})
        found[name] = reports
    return found


_FINISHED_RE = re.compile(r"Finished running .* in (?:(\d+) hours? )?(?:(\d+) minutes? and )?"
                          r"([\d.]+) seconds")


def dbt_reported_seconds(output: str) -> float | None:
    """dbt's own "Finished running … in N seconds" (its run, without start-up and parse)."""
    match = None
    for match in _FINISHED_RE.finditer(output):
        pass
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)


# --------------------------------------------------------------------------------------------
# The sequential baseline: plain dbt, project by project, then `meshkit publish`
# --------------------------------------------------------------------------------------------

@dataclass
class ProjectRun:
    project: str
    build: float
    publish: float
    dbt_reported: float | None
    built_models: int
    cpu: float
    dbt_command: float | None = None

    def as_json(self) -> dict:
        return {"project": self.project, "dbt_build_seconds": round(self.build, 3),
                "publish_seconds": round(self.publish, 3),
                "dbt_reported_seconds": self.dbt_reported, "models_built": self.built_models,
                "cpu_seconds": round(self.cpu, 3), "dbt_command_seconds": self.dbt_command}


def sequential_build(folder: Path, mesh: MeshPlan, projects: list[str]) -> list[ProjectRun]:
    runs = []
    for name in projects:
        project_dir = folder / name
        build = run([BIN / "dbt", "build", "--project-dir", project_dir, "--profiles-dir", project_dir],
                    cwd=project_dir)
        built = check_run_results(project_dir, len(mesh.project(name).models))
        publish = run([BIN / "meshkit", "publish", "--project-dir", project_dir], cwd=folder)
        reports = [r for r in dbt_reports(folder, [name])[name] if r["command"] == "build"]
        runs.append(ProjectRun(name, build.seconds, publish.seconds,
                               dbt_reported_seconds(build.stdout), built, build.cpu + publish.cpu,
                               reports[-1]["wall"] if reports else None))
        console.print(f"  {name:>4}: dbt build {build.seconds:6.2f} s ({built} models), "
                      f"publish {publish.seconds:5.2f} s", highlight=False)
    return runs


def check_run_results(project_dir: Path, expected_models: int) -> int:
    results = json.loads((project_dir / "target" / "run_results.json").read_text())["results"]
    models = [r for r in results if r["unique_id"].startswith("model.")]
    bad = [r["unique_id"] for r in results if r["status"] not in ("success", "pass")]
    if bad or len(models) != expected_models:
        raise BenchmarkError(f"{project_dir.name}: {len(models)} models built (expected "
                             f"{expected_models}); not successful: {bad[:5]}")
    return len(models)


# --------------------------------------------------------------------------------------------
# meshkit runs, and where their time goes
# --------------------------------------------------------------------------------------------

@dataclass
class MeshkitRun:
    seconds: float
    report: dict
    timeline: dict

    def rebuilt_models(self) -> set[str]:
        return {model_key(n["unique_id"]) for n in self.report["nodes"]
                if n["unique_id"].startswith("model.") and n["decision"] == "rebuild"}

    def as_json(self) -> dict:
        return {"seconds": round(self.seconds, 3), "run_id": self.report["run_id"],
                "status": self.report["status"], "parsed": self.report["parsed"],
                "waves": [[{"project": u["project"], "nodes": len(u["nodes"])} for u in wave]
                          for wave in self.report["waves"]],
                "models_rebuilt": len(self.rebuilt_models()), "timeline": self.timeline}


def meshkit_build(folder: Path, mesh: MeshPlan, workers: int) -> MeshkitRun:
    projects = [p.name for p in mesh.projects]
    before = {name: len(r) for name, r in dbt_reports(folder, projects).items()}
    ran, report = meshkit_json(folder, "build", "--workers", str(workers))
    run_ = MeshkitRun(ran.seconds, report, timeline(folder, ran, report["run_id"]))
    new = {name: r[before[name]:] for name, r in dbt_reports(folder, projects).items()}
    run_.timeline["planning_parses"] = {name: {"wall": r["wall"], "cpu": r["cpu"]}
                                        for name, reports in new.items()
                                        for r in reports if r["command"] == "parse"}
    builds = {name: [r for r in reports if r["command"] == "build"] for name, reports in new.items()}
    for inv in sorted(run_.timeline["invocations"], key=lambda i: i["start"]):
        if builds.get(inv["project"]):
            found = builds[inv["project"]].pop(0)
            inv["dbt_command_seconds"], inv["dbt_cpu_seconds"] = found["wall"], found["cpu"]
    invocations = run_.timeline["invocations"]
    run_.timeline["before_dbt_command_seconds_sum"] = round(sum(
        i["seconds"] - i["dbt_command_seconds"] for i in invocations if "dbt_command_seconds" in i), 3)
    run_.timeline["dbt_cpu_seconds_sum"] = round(sum(i.get("dbt_cpu_seconds", 0) for i in invocations), 3)
    return run_


def print_invocations(run_: MeshkitRun) -> None:
    t = run_.timeline
    console.print(f"    planning (start-up, parses, plan) {t['planning_seconds']:.1f} s; then:",
                  highlight=False)
    for inv in t["invocations"]:
        reported = inv["dbt_reported_seconds"]
        command = inv.get("dbt_command_seconds")
        console.print(f"    {inv['project']:>4} wave {inv['wave'] + 1}: {inv['start']:7.1f} → "
                      f"{inv['end']:7.1f} s  ({inv['seconds']:5.1f} s; dbt command "
                      f"{command if command is not None else '?'} s, of which running nodes "
                      f"{reported if reported is not None else '?'} s; cpu "
                      f"{inv.get('dbt_cpu_seconds', '?')} s; {inv['nodes_selected']} selected)",
                      highlight=False)


def timeline(folder: Path, ran: Ran, run_id: int) -> dict:
    """Planning, dbt invocations and the rest, from the run's history (`meshkit runs show`)."""
    shown = _json(meshkit(folder, "runs", "show", str(run_id), "--json").stdout)
    run_row, invocations = shown["run"], shown["invocations"]
    items = []
    for inv in invocations:
        items.append({
            "project": inv["project"], "wave": inv["wave"],
            "start": round(inv["started_at"] - ran.started, 3),
            "end": round(inv["finished_at"] - ran.started, 3),
            "seconds": round(inv["finished_at"] - inv["started_at"], 3),
            "nodes_selected": len(json.loads(inv["args"])) - 4,
            "dbt_reported_seconds": dbt_reported_seconds(inv["log"] or ""),
        })
    planning = run_row["started_at"] - ran.started
    busy = _union_seconds([(i["start"], i["end"]) for i in items])
    first = min((i["start"] for i in items), default=planning)
    last = max((i["end"] for i in items), default=planning)
    return {
        "wall_seconds": round(ran.seconds, 3),
        "cpu_seconds": round(ran.cpu, 3),
        "planning_seconds": round(planning, 3),
        "first_invocation_at": round(first, 3),
        "invocations": items,
        "invocation_count": len(items),
        "invocation_seconds_sum": round(sum(i["seconds"] for i in items), 3),
        "dbt_reported_seconds_sum": round(sum(i["dbt_reported_seconds"] or 0 for i in items), 3),
        "span_with_a_dbt_running_seconds": round(busy, 3),
        "span_without_dbt_seconds": round((last - first) - busy, 3),
        "after_last_invocation_seconds": round(ran.seconds - last, 3),
        "mean_parallelism": round(sum(i["seconds"] for i in items) / busy, 2) if busy else 0.0,
    }


def _union_seconds(spans: list[tuple[float, float]]) -> float:
    total, current_end = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end <= current_end:
            continue
        total += end - max(start, current_end)
        current_end = end
    return total


def model_key(unique_id: str) -> str:
    """`model.p3.p3_int_0123` → `p3.p3_int_0123`, the key this script's DAG uses."""
    _, project, name = unique_id.split(".", 2)
    return f"{project}.{name}"


def verify_cold(run_: MeshkitRun, mesh: MeshPlan) -> None:
    report = run_.report
    models = {model_key(n["unique_id"]): n for n in report["nodes"]
              if n["unique_id"].startswith("model.")}
    expected = {m.key for m in mesh.models}
    if report["status"] != "success" or set(models) != expected:
        raise BenchmarkError(f"cold meshkit build: status {report['status']}, {len(models)} models "
                             f"(expected {len(expected)})")
    bad = [k for k, n in models.items() if n["decision"] != "rebuild" or n["status"] != "success"]
    if bad:
        raise BenchmarkError(f"cold meshkit build: not rebuilt successfully: {bad[:5]}")
    if set(report["published"]) != {p.name for p in mesh.projects}:
        raise BenchmarkError(f"cold meshkit build published only {sorted(report['published'])}")


def verify_noop(run_: MeshkitRun) -> None:
    report = run_.report
    parsed = set(report["parsed"].values())
    if report["status"] != "noop" or parsed != {"cache"} or run_.timeline["invocation_count"]:
        raise BenchmarkError(f"no-op build: status {report['status']}, parsed {report['parsed']}, "
                             f"{run_.timeline['invocation_count']} dbt invocations; expected noop, "
                             f"all 'cache', none")
    rebuilt = [n["node"] for n in report["nodes"] if n["decision"] != "reuse"]
    if rebuilt:
        raise BenchmarkError(f"no-op build rebuilt {rebuilt[:5]}")


def verify_edit(run_: MeshkitRun, closure: set[str], edited: Model) -> dict:
    report = run_.report
    rebuilt = run_.rebuilt_models()
    failed = [n["node"] for n in report["nodes"] if n["decision"] == "rebuild"
              and n["status"] != "success"]
    parsed_by_dbt = sorted(p for p, how in report["parsed"].items() if how != "cache")
    result = {
        "models_rebuilt": len(rebuilt),
        "affected_closure": len(closure),
        "equal": rebuilt == closure,
        "rebuilt_not_affected": sorted(rebuilt - closure)[:20],
        "affected_not_rebuilt": sorted(closure - rebuilt)[:20],
        "projects_parsed_by_dbt": parsed_by_dbt,
    }
    if report["status"] != "success" or failed:
        raise BenchmarkError(f"edit build: status {report['status']}, failed: {failed[:5]}")
    if parsed_by_dbt != [edited.project]:
        raise BenchmarkError(f"edit build parsed {parsed_by_dbt} with dbt; expected only "
                             f"{edited.project}")
    return result


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

def _verdict(ok: bool | None) -> str:
    return {True: "[green]PASS[/]", False: "[red]FAIL[/]", None: "n/a"}[ok]


def print_results(doc: dict) -> None:
    cold, noop, edit = doc["cold"], doc["noop"], doc["edit"]
    table = Table(title=f"meshkit build vs plain dbt, {doc['mesh']['projects']} projects × "
                        f"{doc['mesh']['models_per_project']} models (wall seconds)")
    for column in ("scenario", "meshkit", "plain dbt", "ratio", "cpu ratio", "target", "verdict"):
        table.add_column(column, justify="left" if column in ("scenario", "target") else "right")
    table.add_row("(a) cold build", f"{cold['meshkit']['seconds']:.1f}",
                  f"{cold['sequential']['seconds']:.1f}", f"{cold['ratio']:.2f}",
                  f"{cold['cpu_ratio']:.2f}", f"ratio ≤ {COLD_MAX_RATIO}", _verdict(cold["pass"]))
    table.add_row("(b) no-op", f"{noop['median_seconds']:.2f} (median)", "—", "—", "—",
                  f"≤ {NOOP_MAX_SECONDS:.0f} s, no dbt", _verdict(noop["pass"]))
    table.add_row("(c) edit p0 model", f"{edit['meshkit']['seconds']:.1f}",
                  f"{edit['job_chain']['seconds']:.1f}", f"{edit['ratio']:.2f}",
                  f"{edit['cpu_ratio']:.2f}", "rebuilt = closure", _verdict(edit["closure_check"]["equal"]))
    console.print(table)

    detail = Table(title="where meshkit's time goes (seconds since the command started)")
    for column in ("run", "wall", "planning", "dbt invocations", "Σ invocation", "Σ dbt-reported",
                   "no dbt running", "after last", "parallelism"):
        detail.add_column(column, justify="left" if column == "run" else "right")
    for label, run_ in (("cold", cold["meshkit"]), ("edit", edit["meshkit"])):
        t = run_["timeline"]
        detail.add_row(label, f"{t['wall_seconds']:.1f}", f"{t['planning_seconds']:.1f}",
                       str(t["invocation_count"]), f"{t['invocation_seconds_sum']:.1f}",
                       f"{t['dbt_reported_seconds_sum']:.1f}", f"{t['span_without_dbt_seconds']:.1f}",
                       f"{t['after_last_invocation_seconds']:.1f}", f"{t['mean_parallelism']:.2f}")
    console.print(detail)
    seq = cold["sequential"]
    console.print(f"sequential cold: Σ dbt build {seq['dbt_build_seconds']:.1f} s "
                  f"(dbt-reported {seq['dbt_reported_seconds']:.1f} s), Σ publish "
                  f"{seq['publish_seconds']:.1f} s; project-level critical path "
                  f"{cold['critical_path']['seconds']:.1f} s ({' → '.join(cold['critical_path']['projects'])}); "
                  f"ideal with {doc['config']['workers']} workers ≥ {cold['ideal_lower_bound_seconds']:.1f} s "
                  f"(ratio {cold['ideal_lower_bound_ratio']:.2f}); these per-project times scheduled "
                  f"{doc['config']['workers']} at a time with no overhead: "
                  f"{cold['project_level_schedule_seconds']:.1f} s "
                  f"(ratio {cold['project_level_schedule_ratio']:.2f})", highlight=False)
    for label, run_ in (("cold", cold["meshkit"]), ("edit", edit["meshkit"])):
        parses = run_["timeline"].get("planning_parses", {})
        if parses:
            console.print(f"{label} planning parses (dbt's wall/cpu s): " + ", ".join(
                f"{p} {r['wall']:.1f}/{r['cpu']:.1f}" for p, r in parses.items()), highlight=False)
    console.print("1-minute load average before each phase (cpus: "
                  f"{doc['environment']['cpus']}): "
                  + ", ".join(f"{k} {v}" for k, v in doc["load_average_1min"].items()), highlight=False)
    console.print(f"no-op runs: {', '.join(f'{s:.2f}' for s in noop['seconds'])} s; "
                  f"planning {', '.join(f'{s:.2f}' for s in noop['planning_seconds'])} s", highlight=False)
    check = edit["closure_check"]
    console.print(f"edit: {edit['model']} — meshkit rebuilt {check['models_rebuilt']} models, "
                  f"affected closure {check['affected_closure']} "
                  f"({', '.join(f'{p}: {n}' for p, n in edit['closure_by_project'].items())}); "
                  f"job chain rebuilt {edit['job_chain']['models_built']} models in "
                  f"{len(edit['job_chain']['projects'])} projects", highlight=False)


def environment_info() -> dict:
    import importlib.metadata as md

    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count()}
    for package in ("dbt-core", "dbt-duckdb", "duckdb", "dbt-meshkit"):
        try:
            info[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO,
                               capture_output=True, text=True)
        info["git_sha"] = sha.stdout.strip()
        info["src_uncommitted_changes"] = bool(dirty.stdout.strip())
    except OSError:
        pass
    return info


def load() -> float:
    return round(os.getloadavg()[0], 2)


def settle(max_wait: float) -> float:
    """Wait (up to max_wait s) for the 1-minute load average to fall below half the CPUs.

    The machine may be shared; this keeps our own previous phase, at least, out of the next.
    Returns the load average when the phase starts (recorded in the results).
    """
    threshold = max(1.0, (os.cpu_count() or 2) / 2)
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] > threshold and time.monotonic() < deadline:
        time.sleep(5)
    return load()


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=None, help="projects (default 10)")
    parser.add_argument("--models", type=int, default=None, help="models per project (default 300)")
    parser.add_argument("--workers", type=int, default=2, help="meshkit build --workers (default 2)")
    parser.add_argument("--noop-repeat", type=int, default=3, help="no-op builds timed (default 3)")
    parser.add_argument("--settle", type=float, default=90,
                        help="before each timed phase, wait up to this many seconds for the "
                             "machine's load average to drop (default 90)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 projects × 40 models")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON path")
    args = parser.parse_args(argv)
    defaults = {"projects": 3, "models": 40} if args.quick else {"projects": 10, "models": 300}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.projects < 2 or args.models < 10 or args.workers < 1 or args.noop_repeat < 1:
        parser.error("need --projects ≥ 2, --models ≥ 10, --workers ≥ 1 and --noop-repeat ≥ 1")
    return args


def warm_up() -> None:
    """A tiny mesh built once with meshkit and once with plain dbt: byte-code, OS file cache."""
    folder = ROOT / "warmup"
    shutil.rmtree(folder, ignore_errors=True)
    mesh = plan_mesh(2, 10, random.Random(SEED))
    write_mesh(mesh, folder, "warmup")
    meshkit(folder, "build", "-q")
    meshkit(folder, "build", "-q")
    reset_state(folder, mesh)
    sequential_build(folder, mesh, [p.name for p in mesh.projects])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    mesh = plan_mesh(args.projects, args.models, random.Random(args.seed))
    edited, closure = choose_edit(mesh)
    shutil.rmtree(ROOT / "mesh", ignore_errors=True)
    shutil.rmtree(ROOT / "sequential", ignore_errors=True)
    mesh_dir, seq_dir = ROOT / "mesh", ROOT / "sequential"
    write_mesh(mesh, mesh_dir, "bench")
    write_mesh(mesh, seq_dir, "bench-sequential")
    summary = mesh.summary()
    console.print(f"mesh: {summary['projects']} projects × {summary['models_per_project']} models, "
                  f"{summary['public_models']} public, {summary['cross_project_refs']} cross-project "
                  f"refs, project depth {summary['project_depth']:.0f}", highlight=False)
    for project in mesh.projects:
        console.print(f"  {project.name}: upstream {', '.join(project.upstreams) or '—'}", highlight=False)
    loads: dict[str, float] = {"start": load()}

    console.print("warm-up (tiny mesh, untimed)…")
    warm_up()

    # (a) cold builds
    order = [p.name for p in mesh.projects]
    loads["cold_sequential"] = settle(args.settle)
    console.print("(a) cold build, plain dbt project by project + meshkit publish…")
    reset_state(seq_dir, mesh)
    seq_cold = sequential_build(seq_dir, mesh, order)
    seq_seconds = sum(r.build + r.publish for r in seq_cold)
    console.print(f"    sequential total {seq_seconds:.1f} s")

    loads["cold_meshkit"] = settle(args.settle)
    console.print(f"(a) cold build, meshkit build --workers {args.workers}…")
    reset_state(mesh_dir, mesh)
    cold = meshkit_build(mesh_dir, mesh, args.workers)
    verify_cold(cold, mesh)
    console.print(f"    meshkit {cold.seconds:.1f} s, {cold.timeline['invocation_count']} dbt invocations "
                  f"in {len(cold.report['waves'])} waves", highlight=False)
    print_invocations(cold)

    # (b) no-op
    loads["noop"] = settle(args.settle)
    console.print("(b) no-op meshkit build…")
    noops = []
    for i in range(args.noop_repeat):
        noop = meshkit_build(mesh_dir, mesh, args.workers)
        verify_noop(noop)
        noops.append(noop)
        console.print(f"    run {i + 1}: {noop.seconds:.2f} s", highlight=False)

    # (c) one edit in p0, both copies
    for folder in (mesh_dir, seq_dir):
        _write(folder / edited.project / "models" / edited.layer / f"{edited.name}.sql",
               model_sql(edited, edited=True))
    loads["edit_meshkit"] = settle(args.settle)
    console.print(f"(c) edited {edited.key} (affected closure {len(closure)} models); meshkit build…")
    edit = meshkit_build(mesh_dir, mesh, args.workers)
    closure_check = verify_edit(edit, closure, edited)
    console.print(f"    meshkit {edit.seconds:.1f} s, rebuilt {closure_check['models_rebuilt']} models "
                  f"(closure {len(closure)}): {'equal' if closure_check['equal'] else 'DIFFERENT'}",
                  highlight=False)
    print_invocations(edit)
    chain_projects = mesh.downstream_projects(edited.project)
    loads["edit_job_chain"] = settle(args.settle)
    console.print(f"(c) job chain: dbt build of {len(chain_projects)} projects…")
    chain = sequential_build(seq_dir, mesh, chain_projects)
    chain_seconds = sum(r.build + r.publish for r in chain)
    loads["end"] = load()

    per_project = {r.project: r.build + r.publish for r in seq_cold}
    critical_seconds, critical_projects = mesh.critical_path(per_project)
    ideal = max(critical_seconds, seq_seconds / args.workers)
    scheduled = mesh.schedule(per_project, args.workers)
    closure_by_project: dict[str, int] = {}
    for key in sorted(closure, key=lambda k: (int(k.split(".")[0][1:]), k)):
        closure_by_project[key.split(".")[0]] = closure_by_project.get(key.split(".")[0], 0) + 1
    noop_seconds = [n.seconds for n in noops]
    doc = {
        "benchmark": "orchestrate",
        "measures": "wall-clock seconds of whole commands as subprocesses: `meshkit build` vs "
                    "plain `dbt build` + `meshkit publish` per project, sequentially",
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {"projects": args.projects, "models": args.models, "workers": args.workers,
                   "noop_repeat": args.noop_repeat, "quick": args.quick, "seed": args.seed,
                   "dbt_threads": THREADS},
        "environment": environment_info(),
        "load_average_1min": loads,
        "mesh": summary,
        "cold": {
            "meshkit": cold.as_json(),
            "sequential": {
                "seconds": round(seq_seconds, 3),
                "dbt_build_seconds": round(sum(r.build for r in seq_cold), 3),
                "publish_seconds": round(sum(r.publish for r in seq_cold), 3),
                "dbt_reported_seconds": round(sum(r.dbt_reported or 0 for r in seq_cold), 3),
                "cpu_seconds": round(sum(r.cpu for r in seq_cold), 3),
                "projects": [r.as_json() for r in seq_cold]},
            "ratio": round(cold.seconds / seq_seconds, 4),
            "cpu_ratio": round(cold.timeline["cpu_seconds"] / sum(r.cpu for r in seq_cold), 4),
            "critical_path": {"seconds": round(critical_seconds, 3), "projects": critical_projects},
            "ideal_lower_bound_seconds": round(ideal, 3),
            "ideal_lower_bound_ratio": round(ideal / seq_seconds, 4),
            "project_level_schedule_seconds": round(scheduled, 3),
            "project_level_schedule_ratio": round(scheduled / seq_seconds, 4),
            "target_max_ratio": COLD_MAX_RATIO,
            "pass": cold.seconds / seq_seconds <= COLD_MAX_RATIO,
        },
        "noop": {
            "seconds": [round(s, 3) for s in noop_seconds],
            "planning_seconds": [n.timeline["planning_seconds"] for n in noops],
            "best_seconds": round(min(noop_seconds), 3),
            "median_seconds": round(statistics.median(noop_seconds), 3),
            "status": [n.report["status"] for n in noops],
            "parsed": noops[0].report["parsed"],
            "dbt_invocations": [n.timeline["invocation_count"] for n in noops],
            "target_max_seconds": NOOP_MAX_SECONDS,
            "pass": statistics.median(noop_seconds) <= NOOP_MAX_SECONDS,
        },
        "edit": {
            "model": edited.key,
            "change": f"appended `{_EDIT_FILTER}` to its select (same columns)",
            "closure_by_project": closure_by_project,
            "closure_check": closure_check,
            "meshkit": edit.as_json(),
            "job_chain": {
                "projects": chain_projects,
                "seconds": round(chain_seconds, 3),
                "models_built": sum(r.built_models for r in chain),
                "cpu_seconds": round(sum(r.cpu for r in chain), 3),
                "runs": [r.as_json() for r in chain]},
            "ratio": round(edit.seconds / chain_seconds, 4),
            "cpu_ratio": round(edit.timeline["cpu_seconds"] / sum(r.cpu for r in chain), 4),
            "pass": closure_check["equal"],
        },
    }
    print_results(doc)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    console.print(f"results written to {args.output}")
    console.print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        console.print(f"[bold red]benchmark failed:[/] {exc}", highlight=False)
        sys.exit(1)
