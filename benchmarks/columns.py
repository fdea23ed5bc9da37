"""Benchmark: column lineage of a 10,000-model mesh, computed at publish, against the publish.

What is built
    A mesh of --projects projects (default 10) of --models-per-project models (default 1,000),
    written straight as dbt artifacts (manifest.json with each model's compiled SQL, the way
    `dbt build` leaves it, and a run_results.json): no dbt runs, so that the benchmark measures
    meshkit alone. Each project has staging models over 40 raw sources whose columns are not
    documented (`select id as order_id, amount, cast(...) ... from raw`), intermediate models
    that join two parents through CTEs with `select *` and aggregate, and marts (window
    functions, CASE, unions); one mart in eight is public. From the second project on, marts
    also read public marts of the previous project (`select *` over a cross-project ref, whose
    columns come from the producer's published interface). Generated files live in
    benchmarks/.work/columns/ (git-ignored).

What is measured (in process, wall clock, after one untimed warm-up publish per project)
    publish        `publish_artifacts` of every project, in dependency order, to a local store:
                   decoding, the interface, the column lineage, writing and verifying files.
    lineage        the part of that spent computing column lineage (sqlglot parsing and
                   tracing every model), reported against the publish without it.
    edit           one staging model's compiled SQL changed, the project published again: the
                   lineage time of that publish (only the edited model and the models whose
                   input columns changed are traced again; the others are reused by checksum).
    resolved       the share of model columns whose lineage is resolved.
    Targets (printed as pass/fail, never asserted): full lineage ≤ 30 s, an edit ≤ 1 s.

Usage
    python benchmarks/columns.py [--projects 10] [--models-per-project 1000] [--quick]
Results go to benchmarks/results/columns.json (or --output).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "columns"
SCHEMA = "https://schemas.getdbt.com/dbt/manifest/v12.json"
SOURCES = 40


def _relation(project: str, name: str) -> str:
    return f'"{project}"."main"."{name}"'


def _model(project: str, name: str, sql: str, parents: list[str], *, public: bool = False,
           columns: list[str] | None = None) -> dict:
    uid = f"model.{project}.{name}"
    return {"unique_id": uid, "resource_type": "model", "package_name": project, "name": name,
            "schema": "main", "database": project, "alias": name,
            "relation_name": _relation(project, name),
            "original_file_path": f"models/{name}.sql", "access": "public" if public else "protected",
            "config": {"materialized": "table", "access": "public" if public else "protected",
                       "enabled": True, "contract": {"enforced": False}},
            "columns": {c: {"name": c} for c in columns or []},
            "depends_on": {"nodes": parents}, "compiled_code": sql, "language": "sql",
            "checksum": {"name": "sha256", "checksum": uid}}


def _project(index: int, models: int, upstream: dict | None, rng: random.Random) -> dict:
    """One project's manifest: staging, intermediate and mart models with compiled SQL."""
    project = f"domain_{index:02d}"
    nodes: dict[str, dict] = {}
    sources = {}
    for s in range(SOURCES):
        uid = f"source.{project}.raw.table_{s:02d}"
        sources[uid] = {"unique_id": uid, "package_name": project, "name": f"table_{s:02d}",
                        "source_name": "raw", "resource_type": "source",
                        "relation_name": f'"raw"."{project}"."table_{s:02d}"',
                        "original_file_path": "models/sources.yml", "columns": {}}
    staging, layers = [], {"int": [], "mart": []}
    n_staging, n_int = models // 4, models // 3
    for i in range(n_staging):
        source = f"source.{project}.raw.table_{i % SOURCES:02d}"
        sql = (f"with source as (select * from {sources[source]['relation_name']}),\n"
               f"renamed as (\n  select id as key_{i % 7}, amount, cast(created as date) as created_on,\n"
               f"    status, lower(email) as email, customer_id\n  from source\n)\n"
               f"select * from renamed")
        nodes[f"model.{project}.stg_{i:04d}"] = _model(project, f"stg_{i:04d}", sql, [source])
        staging.append(f"stg_{i:04d}")
    for i in range(n_int):
        left, right = rng.sample(staging[:max(2, len(staging))], 2)
        sql = (f"with a as (select * from {_relation(project, left)}),\n"
               f"b as (select * from {_relation(project, right)})\n"
               f"select a.customer_id, sum(a.amount) as amount, max(b.created_on) as last_on,\n"
               f"  count(distinct b.status) as statuses, min(a.email) as email\n"
               f"from a join b using (customer_id)\n"
               f"where a.status <> 'void'\ngroup by a.customer_id")
        nodes[f"model.{project}.int_{i:04d}"] = _model(
            project, f"int_{i:04d}", sql, [f"model.{project}.{left}", f"model.{project}.{right}"])
        layers["int"].append(f"int_{i:04d}")
    publics = []
    for i in range(models - n_staging - n_int):
        parent = rng.choice(layers["int"])
        reads = [f"model.{project}.{parent}"]
        extra = ""
        if upstream and i % 3 == 0:
            uid, relation = rng.choice(upstream["public"])
            reads.append(uid)
            extra = (f",\nup as (select * from {relation})")
            body = ("select p.customer_id, p.amount, up.amount as upstream_amount,\n"
                    "  case when p.amount > 100 then 'big' else 'small' end as size,\n"
                    "  row_number() over (partition by p.customer_id order by p.last_on) as n\n"
                    "from p left join up on p.customer_id = up.customer_id")
        elif i % 5 == 0:
            body = ("select customer_id, amount from p\nunion all\n"
                    "select customer_id, -amount from p where amount < 0")
        else:
            body = ("select *, case when amount > 100 then 'big' else 'small' end as size,\n"
                    "  rank() over (order by amount desc) as amount_rank\nfrom p")
        sql = f"with p as (select * from {_relation(project, parent)}){extra}\n{body}"
        public = i % 8 == 0
        name = f"mart_{i:04d}"
        nodes[f"model.{project}.{name}"] = _model(project, name, sql, reads, public=public)
        if public:
            publics.append((f"model.{project}.{name}", _relation(project, name)))
    if upstream:  # upstream public models as the plugin injects them: no file
        for uid, relation in upstream["public"]:
            nodes[uid] = {"unique_id": uid, "resource_type": "model", "package_name": uid.split(".")[1],
                          "name": uid.split(".")[2], "relation_name": relation,
                          "original_file_path": "", "access": "public",
                          "config": {"access": "public"}}
    manifest = {"metadata": {"dbt_schema_version": SCHEMA, "dbt_version": "1.11.0",
                             "project_name": project, "adapter_type": "duckdb",
                             "generated_at": "2026-01-01T00:00:00Z"},
                "nodes": nodes, "sources": sources}
    return {"name": project, "manifest": manifest, "public": publics}


def _write(root: Path, project: dict, generated_at: str) -> Path:
    target = root / project["name"] / "target"
    target.mkdir(parents=True, exist_ok=True)
    (target / "manifest.json").write_text(json.dumps(project["manifest"]))
    (target / "run_results.json").write_text(json.dumps(
        {"metadata": {"dbt_version": "1.11.0", "generated_at": generated_at,
                      "invocation_id": generated_at}, "results": [], "elapsed_time": 0}))
    return target


def _publish_all(store, targets, env: str, timings: dict) -> None:
    from meshkit.store.publish import publish_artifacts

    for target in targets:
        start = time.perf_counter()
        publish_artifacts(store, target, env)
        timings["publish"] += time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--models-per-project", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="2 projects of 200 models")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "columns.json")
    args = parser.parse_args()
    if args.quick:
        args.projects, args.models_per_project = 2, 200

    import meshkit.store.lineage as lineage_module
    from meshkit.store.store import Store

    # Time the lineage part of each publish by wrapping the one function that computes it.
    timings = {"publish": 0.0, "lineage": 0.0}
    compute = lineage_module.project_lineage

    def timed(*a, **kw):
        start = time.perf_counter()
        try:
            return compute(*a, **kw)
        finally:
            timings["lineage"] += time.perf_counter() - start

    lineage_module.project_lineage = timed
    shutil.rmtree(WORK, ignore_errors=True)
    rng = random.Random(18)
    projects, upstream = [], None
    for index in range(args.projects):
        project = _project(index, args.models_per_project, upstream, rng)
        projects.append(project)
        upstream = project
    total_models = args.projects * args.models_per_project

    store = Store(str(WORK / "store"))
    targets = [_write(WORK / "mesh", p, "2026-01-01T00:00:00Z") for p in projects]
    _publish_all(store, targets, "warmup", {"publish": 0.0, "lineage": 0.0})  # imports, caches
    timings.update(publish=0.0, lineage=0.0)
    _publish_all(store, targets, "prod", timings)
    full = dict(timings)

    # One edit: a staging model of the first project gains a column.
    first = projects[0]
    stg = first["manifest"]["nodes"][f"model.{first['name']}.stg_0000"]
    stg["compiled_code"] = stg["compiled_code"].replace("customer_id\n", "customer_id, 1 as edited\n")
    edited = _write(WORK / "mesh", first, "2026-01-02T00:00:00Z")
    timings.update(publish=0.0, lineage=0.0)
    _publish_all(store, [edited], "prod", timings)
    edit = dict(timings)

    resolved = columns = 0
    for project in projects:
        lineage = store.column_lineage(store.latest(project["name"], "prod"))
        for model in lineage.models.values():
            columns += len(model.columns)
            resolved += sum(1 for c in model.columns if c.unresolved is None)

    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform()},
        "projects": args.projects, "models": total_models,
        "full": {"publish_s": round(full["publish"], 2), "lineage_s": round(full["lineage"], 2),
                 "publish_without_lineage_s": round(full["publish"] - full["lineage"], 2),
                 "lineage_ms_per_model": round(1000 * full["lineage"] / total_models, 2)},
        "edit": {"publish_s": round(edit["publish"], 3), "lineage_s": round(edit["lineage"], 3)},
        "columns": columns, "resolved": resolved,
        "resolved_share": round(resolved / columns, 4) if columns else None,
        "targets": {"full_lineage_le_30s": full["lineage"] <= 30, "edit_le_1s": edit["lineage"] <= 1},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
