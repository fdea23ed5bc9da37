"""Benchmark: `meshkit check` over a 10,000-model mesh, against dbt-score and dbt-bouncer.

What is built
    A mesh of --projects dbt projects (default 10) of --models-per-project models (default
    1,000): staging models over ~40 source tables, intermediate models, marts; one mart in
    eight is public (grouped, half of them with enforced, typed contracts, some versioned with
    two versions); a data test or two on most staging models and some marts; a few exposures.
    From the second project on, 50 marts of each project ref public models of the previous
    one (`{{ ref('domain_00', 'mart_0007') }}`, some pinned with v=1), declared in
    dependencies.yml. Each project is parsed by real dbt (`dbt parse`, DuckDB profile, no
    warehouse query), in dependency order, and published with `meshkit publish` so that the
    meshkit plugin injects upstream public models into the next project's parse. The parse
    writes no run_results.json, so the script writes an empty one (a "parse-only run") for
    `meshkit publish`. Generated files live in benchmarks/.work/governance/ (git-ignored)
    and are reused on later runs with the same parameters.

What is measured (wall-clock, each tool run as a subprocess, so start-up and imports count)
    meshkit (store)     `meshkit check --from store --format json -o FILE`: every project's
                        latest published manifest, all 29 built-in rules, mesh-wide rules
                        included, over the whole mesh at once.
    meshkit (working)   the same, reading each project's target/manifest.json.
    dbt-score           `dbt-score lint -m target/manifest.json -f json`, once per project
                        (it reads one manifest); the mesh's time is the sum. Default rules.
    dbt-bouncer         `dbt-bouncer run --config-file ... --output-format json`, once per
                        project, with the 17 manifest checks closest to meshkit's rules.
    Each variant runs once untimed (warm-up), then --repeat times round-robin; the best and
    the median wall-clock times are reported, with the CPU seconds (user + system) of the
    child processes, which a busy machine disturbs less than wall-clock time. The target — meshkit under 2 s for 10,000 models — is printed
    as pass/fail, never asserted. An in-process breakdown (decode vs. rules) is also given.

dbt-project-evaluator is a dbt hub/git package: it cannot be installed here, where only
package registries (PyPI, npm, Debian) are reachable, so it is not run; the script says so.

Usage
    python benchmarks/governance.py [--projects 10] [--models-per-project 1000] [--repeat 3]
                                    [--quick] [--skip-peers]

dbt-score and dbt-bouncer are installed with pip into benchmarks/.work/venv-lint (once).
Results go to benchmarks/results/governance.json (or --output).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "governance"
LINT_VENV = HERE / ".work" / "venv-lint"
PEERS = {"dbt-score": "0.19.0", "dbt-bouncer": "4.3.0"}
BIN = Path(sys.executable).parent

BOUNCER_CHECKS = """\
manifest_checks:
  - name: check_model_does_not_directly_join_to_source
  - name: check_duplicate_sources
  - name: check_model_depends_on_multiple_sources
  - name: check_model_has_no_upstream_dependencies
  - name: check_source_used_by_only_one_model
  - name: check_source_not_orphaned
  - name: check_exposure_based_on_view
  - name: check_exposure_based_on_non_public_models
  - name: check_model_has_unique_test
  - name: check_model_description_populated
  - name: check_source_top_level_description_populated
  - name: check_source_description_populated
  - name: check_model_contract_enforced_for_public_model
  - name: check_model_column_description_populated
  - name: check_model_access
    access: protected
    include: ^models/staging
  - name: check_model_has_meta_keys
    keys: [owner]
  - name: check_model_version_pinned_in_ref
"""


# -- generating the mesh ---------------------------------------------------------------------------
def project_name(index: int) -> str:
    return f"domain_{index:02d}"


def write_project(root: Path, index: int, models: int, rng: random.Random) -> dict:
    """One dbt project's files; returns the names of its public models (for consumers)."""
    name = project_name(index)
    folder = root / name
    if folder.exists():
        shutil.rmtree(folder)
    for layer in ("staging", "intermediate", "marts"):
        (folder / "models" / layer).mkdir(parents=True)
    n_stg, n_int = int(models * 0.3), int(models * 0.3)
    n_mart = models - n_stg - n_int
    (folder / "dbt_project.yml").write_text(
        f"name: {name}\nversion: '1.0.0'\nconfig-version: 2\nprofile: bench\n"
        "models:\n"
        f"  {name}:\n    staging: {{+materialized: view}}\n    intermediate: {{+materialized: view}}\n"
        "    marts: {+materialized: table}\n")
    (folder / "profiles.yml").write_text(
        "bench:\n  target: prod\n  outputs:\n    prod:\n      type: duckdb\n"
        f"      path: {root / 'warehouse' / (name + '.duckdb')}\n      schema: prod\n")
    if index > 0:
        (folder / "dependencies.yml").write_text(
            f"projects:\n  - name: {project_name(index - 1)}\n")
    tables = [f"t{t:03d}" for t in range(40)]
    sources = [{"name": f"raw_{index:02d}", "schema": f"raw_{index:02d}",
                "description": "" if index % 3 == 0 else "Raw tables of this domain.",
                "tables": [{"name": t, "description": "" if k % 7 == 0 else f"Table {t}."}
                           for k, t in enumerate(tables)]}]
    stg_entries, int_entries, mart_entries = [], [], []
    for i in range(n_stg):
        model = f"stg_{index:02d}_{i:04d}"
        table = tables[i % len(tables)]
        (folder / "models" / "staging" / f"{model}.sql").write_text(
            f"select 1 as id, 'x' as name from {{{{ source('raw_{index:02d}', '{table}') }}}}\n")
        entry = {"name": model, "description": "" if i % 5 == 0 else f"Staged {table}.",
                 "columns": [{"name": "id", "description": "Key.",
                              "data_tests": ["unique", "not_null"] if i % 4 else []},
                             {"name": "name", "description": ""}]}
        stg_entries.append(entry)
    upstream = [e["name"] for e in stg_entries]
    for i in range(n_int):
        model = f"int_{index:02d}_{i:04d}"
        parents = rng.sample(upstream, k=min(len(upstream), rng.randint(1, 3)))
        refs = " union all ".join(f"select id from {{{{ ref('{p}') }}}}" for p in parents)
        (folder / "models" / "intermediate" / f"{model}.sql").write_text(refs + "\n")
        int_entries.append({"name": model, "description": f"Intermediate {i}."})
        upstream.append(model)
    public: list[tuple[str, bool]] = []       # (name, versioned)
    previous_public = json.loads((root / f"{project_name(index - 1)}.public.json").read_text()) \
        if index > 0 else []
    cross = 0
    for i in range(n_mart):
        model = f"mart_{index:02d}_{i:04d}"
        parents = rng.sample(upstream, k=min(len(upstream), rng.randint(1, 3)))
        refs = [f"select id from {{{{ ref('{p}') }}}}" for p in parents]
        if previous_public and cross < 50 and i % 8 == 3:
            upstream_model, versioned = previous_public[cross % len(previous_public)]
            pin = ", v=1" if versioned and cross % 2 else ""
            refs.append(f"select id from {{{{ ref('{project_name(index - 1)}', '{upstream_model}'{pin}) }}}}")
            cross += 1
        sql = " union all ".join(refs) + "\n"
        is_public = i % 8 == 0
        contracted = is_public and i % 16 == 0
        versioned = contracted and i % 64 == 0
        entry: dict = {"name": model, "description": "" if i % 9 == 0 else f"Mart {i}."}
        columns = [{"name": "id", "description": "Key." if i % 3 else ""}]
        if is_public:
            entry["config"] = {"access": "public", "group": f"{name}_core" if i % 2 else f"{name}_ops"}
            public.append((model, versioned))
        if contracted:
            entry["config"]["contract"] = {"enforced": True}
            columns[0]["data_type"] = "integer"
        if i % 6 == 0:
            columns[0]["data_tests"] = ["unique", "not_null"]
        entry["columns"] = columns
        if versioned:
            entry["latest_version"] = 2
            entry["versions"] = [{"v": 1, "deprecation_date": "2030-01-01"}, {"v": 2}]
            for v in (1, 2):
                (folder / "models" / "marts" / f"{model}_v{v}.sql").write_text(sql)
        else:
            (folder / "models" / "marts" / f"{model}.sql").write_text(sql)
        mart_entries.append(entry)
        upstream.append(model)
    groups = [{"name": f"{name}_{g}", "owner": {"name": f"{name} {g} team",
                                                  "email": f"{g}@{name}.example"}}
              for g in ("core", "ops")]
    exposures = [{"name": f"dashboard_{e}", "type": "dashboard", "owner": {"email": "bi@example.com"},
                  "depends_on": [f"ref('{mart_entries[(e * 40 + 1) % len(mart_entries)]['name']}')"]}
                 for e in range(5)]
    _yaml(folder / "models" / "staging" / "sources.yml", {"version": 2, "sources": sources})
    _yaml(folder / "models" / "staging" / "staging.yml", {"version": 2, "models": stg_entries})
    _yaml(folder / "models" / "intermediate" / "intermediate.yml", {"version": 2, "models": int_entries})
    _yaml(folder / "models" / "marts" / "marts.yml", {"version": 2, "groups": groups,
                                                      "models": mart_entries, "exposures": exposures})
    (root / f"{name}.public.json").write_text(json.dumps(public))
    return {"name": name, "models": models, "public": len(public), "cross_project_refs": cross}


def _yaml(path: Path, doc: dict) -> None:
    import yaml   # PyYAML comes with dbt-core

    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=100))


def generate(root: Path, projects: int, models: int) -> list[dict]:
    stamp = root / "params.json"
    params = {"projects": projects, "models_per_project": models, "version": 4}
    if stamp.is_file() and json.loads(stamp.read_text()).get("params") == params:
        print(f"reusing the generated mesh in {root}")
        return json.loads(stamp.read_text())["projects"]
    if root.exists():
        shutil.rmtree(root)
    (root / "warehouse").mkdir(parents=True)
    (root / "mesh.yml").write_text(
        "name: bench-mesh\nstore: .meshkit/store\nprojects:\n"
        + "".join(f"  {project_name(i)}: {project_name(i)}\n" for i in range(projects)))
    rng = random.Random(42)
    info = []
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "MESHKIT_MESH": str(root)}
    written = [write_project(root, index, models, rng) for index in range(projects)]
    for meta in written:
        folder = root / meta["name"]
        started = time.perf_counter()
        _run([str(BIN / "dbt"), "parse", "--no-partial-parse", "-q"], folder, env)
        meta["parse_seconds"] = round(time.perf_counter() - started, 1)
        _fake_run_results(folder / "target")
        _run([str(BIN / "meshkit"), "publish", "--project-dir", str(folder), "--env", "prod"],
             root, env)
        print(f"  {meta['name']}: {models} models, {meta['public']} public, "
              f"{meta['cross_project_refs']} cross-project refs, dbt parse {meta['parse_seconds']} s")
        info.append(meta)
    stamp.write_text(json.dumps({"params": params, "projects": info}))
    return info


def _fake_run_results(target: Path) -> None:
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    (target / "run_results.json").write_text(json.dumps({
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                     "dbt_version": "1.11", "generated_at": now, "invocation_id": str(uuid.uuid4())},
        "results": [], "elapsed_time": 0.0, "args": {"which": "parse"}}))


def _run(cmd: list[str], cwd: Path, env: dict | None = None, ok=(0,)) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}) in {cwd}:\n"
                         f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


# -- the peers ---------------------------------------------------------------------------------------
def ensure_peers() -> Path:
    python = LINT_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LINT_VENV)], check=True)
    missing = [f"{p}=={v}" for p, v in PEERS.items() if not (LINT_VENV / "bin" / p).exists()]
    if missing:
        print("installing " + ", ".join(missing) + f" into {LINT_VENV}")
        subprocess.run([str(python), "-m", "pip", "install", "-q", *missing], check=True)
    return LINT_VENV / "bin"


# -- timing ------------------------------------------------------------------------------------------
def variants(root: Path, projects: list[dict], lint_bin: Path | None) -> dict:
    out = root / "out"
    out.mkdir(exist_ok=True)
    env = {**os.environ, "NO_COLOR": "1", "MESHKIT_MESH": str(root)}
    meshkit = str(BIN / "meshkit")

    def meshkit_check(source: str):
        def go():
            _run([meshkit, "check", "--from", source, "--format", "json", "-o",
                  str(out / f"meshkit-{source}.json")], root, env, ok=(0, 1))
        return go

    result = {"meshkit (store)": meshkit_check("store"),
              "meshkit (working)": meshkit_check("working")}
    if lint_bin is not None:
        def dbt_score():
            for p in projects:
                folder = root / p["name"]
                _run([str(lint_bin / "dbt-score"), "lint", "-m", str(folder / "target/manifest.json"),
                      "-f", "json"], out, env, ok=(0, 1))

        def dbt_bouncer():
            for p in projects:
                folder = root / p["name"]
                config = out / f"bouncer-{p['name']}.yml"
                if not config.exists():
                    config.write_text(f"dbt_artifacts_dir: {folder / 'target'}\n" + BOUNCER_CHECKS)
                _run([str(lint_bin / "dbt-bouncer"), "run", "--config-file", str(config),
                      "--output-file", str(out / f"bouncer-{p['name']}.json"),
                      "--output-format", "json"], folder, env, ok=(0, 1))

        result["dbt-score (sum over projects)"] = dbt_score
        result["dbt-bouncer (sum over projects)"] = dbt_bouncer
    return result


def measure(runs: dict, repeat: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and CPU seconds (user + system of the child processes) of each variant."""
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for name, go in runs.items():
        go()                                   # warm-up: .pyc files, OS file cache
    for _ in range(repeat):
        for name, go in runs.items():
            before = _children_cpu()
            started = time.perf_counter()
            go()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(_children_cpu() - before)
    return wall, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def in_process_breakdown(root: Path) -> dict:
    """Where meshkit's time goes: reading and decoding artifacts vs. evaluating rules."""
    from meshkit.config import load_mesh
    from meshkit.govern.engine import check
    from meshkit.govern.loading import load_view
    from meshkit.govern.policy import PolicySet

    mesh = load_mesh(root / "mesh.yml")
    started = time.perf_counter()
    loaded = load_view(mesh, source="store")
    decoded = time.perf_counter()
    policies = PolicySet.load(mesh.policy_doc, mesh.file, {n: p.path for n, p in mesh.projects.items()})
    result = check(loaded.view, policies)
    done = time.perf_counter()
    return {"load_and_decode_s": round(decoded - started, 3), "rules_s": round(done - decoded, 3),
            "models": len(loaded.view.models), "rules": len(result.rules),
            "findings": len(result.findings),
            "by_severity": {s: result.count(s) for s in ("error", "warn", "info")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--models-per-project", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 projects × 200 models, 1 repeat")
    parser.add_argument("--skip-peers", action="store_true", help="time meshkit only")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "governance.json")
    args = parser.parse_args()
    if args.quick:
        args.projects, args.models_per_project, args.repeat = 3, 200, 1
    root = WORK / f"mesh-{args.projects}x{args.models_per_project}"
    print(f"generating {args.projects} projects × {args.models_per_project} models in {root}")
    projects = generate(root, args.projects, args.models_per_project)
    lint_bin = None if args.skip_peers else ensure_peers()
    times, cpu = measure(variants(root, projects, lint_bin), args.repeat)
    breakdown = in_process_breakdown(root)
    total_models = sum(p["models"] for p in projects)
    report = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "mesh": {"projects": len(projects), "models": total_models,
                 "public_models": sum(p["public"] for p in projects),
                 "cross_project_refs": sum(p["cross_project_refs"] for p in projects),
                 "dbt_parse_seconds": [p.get("parse_seconds") for p in projects]},
        "peers": {} if lint_bin is None else PEERS,
        "dbt_project_evaluator": "not run: it is a dbt hub/git package and this machine reaches "
                                 "no dbt hub or git host (only PyPI, npm and Debian)",
        "repeat": args.repeat,
        "seconds": {name: {"best": round(min(ts), 3), "median": round(statistics.median(ts), 3),
                           "all": [round(t, 3) for t in ts],
                           "cpu_best": round(min(cpu[name]), 3),
                           "cpu_median": round(statistics.median(cpu[name]), 3)}
                    for name, ts in times.items()},
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "meshkit_in_process": breakdown,
    }
    best = report["seconds"]["meshkit (store)"]["best"]
    report["target"] = {"meshkit_check_10k_models_s": 2.0, "met": best <= 2.0 or total_models < 10000}
    cpu_best = report["seconds"]["meshkit (store)"]["cpu_best"]
    for name, entry in report["seconds"].items():
        if name.startswith("dbt-"):
            entry["ratio_to_meshkit_store"] = round(entry["best"] / best, 1)
            entry["cpu_ratio_to_meshkit_store"] = round(entry["cpu_best"] / cpu_best, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{total_models} models in {len(projects)} projects "
          f"({report['mesh']['public_models']} public, {report['mesh']['cross_project_refs']} "
          "cross-project refs)")
    for name, entry in report["seconds"].items():
        ratio = f"  ({entry['ratio_to_meshkit_store']}× meshkit)" if "ratio_to_meshkit_store" in entry else ""
        print(f"  {name:<32} best {entry['best']:7.3f} s   median {entry['median']:7.3f} s   "
              f"cpu {entry['cpu_best']:7.3f} s{ratio}")
    print(f"  meshkit in process: decode {breakdown['load_and_decode_s']} s, rules "
          f"{breakdown['rules_s']} s, {breakdown['findings']} findings from {breakdown['rules']} rules")
    verdict = "met" if report["target"]["met"] else "NOT met"
    print(f"target ≤ 2 s for 10,000 models: {verdict} (best {best} s)")
    print("dbt-project-evaluator: " + report["dbt_project_evaluator"])
    print(f"results written to {args.output}")


if __name__ == "__main__":
    main()
