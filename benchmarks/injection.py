"""Benchmark: what cross-project ref injection adds to a consumer's `dbt parse`.

What is measured
    Seconds of `dbt parse --no-partial-parse` of a consumer dbt project, run as a subprocess
    (so interpreter start-up, imports, parsing and writing manifest.json all count): wall clock,
    and CPU (user + system, less disturbed by other load on the machine), in four variants:

    baseline (meshkit venv)  the consumer with its cross-project refs replaced by sources; no
                             dependencies.yml and no mesh.yml above it, so meshkit's plugin
                             (installed, hence imported) finds nothing to inject
    meshkit                  the consumer with dependencies.yml and `ref('upstream', ...)`,
                             inside a mesh whose store holds the upstream's published run;
                             meshkit injects the upstream's public model versions
    baseline (loom venv)     the same baseline project, in a separate venv with dbt-loom and
                             without meshkit
    dbt-loom                 the consumer with `ref('upstream', ...)` and a dbt_loom.config.yml
                             pointing at the upstream's target/manifest.json; dbt-loom injects
                             every upstream node

    Each variant is parsed once untimed (warm-up: byte-code, cached in benchmarks/.work/pycache
    as it would be on a user's machine, and the OS file cache), then --repeat times,
    round-robin across variants so that drift in machine load hits all of them alike.
    Every parse is verified: the consumer's manifest must hold exactly the expected number of
    `model.upstream.*` nodes and every cross-project model must depend on one of them;
    anything else aborts the benchmark.

    Overhead of a tool = (tool - baseline) / baseline, against the baseline of its own venv,
    computed on the best (minimum) wall time of each variant and, for reference, on the median
    wall time and the best CPU time.
    Targets: meshkit's overhead at most 10% of the baseline parse; dbt-loom's overhead in
    seconds at least 5x meshkit's. They are printed as pass/fail, never asserted.

    Also reported: the marginal import time of each plugin module (`-X importtime`, after
    dbt's own modules are loaded), a fixed cost every dbt command pays in a venv where the
    plugin is installed, which the baselines of that venv already include.

The projects
    An upstream dbt project of N models (default 3,000) in staging -> intermediate -> marts
    layers, with a seeded random DAG (each model refs 1-3 earlier models), about a third of
    the models public (mostly marts), a few versioned models (2 versions each), contracts with
    typed columns on some public models, documented columns and a few data tests. It is
    parsed and one of its models run (`dbt run -s <one staging model>`, which writes the full
    manifest and a run_results.json) on DuckDB, then published with `meshkit publish`.
    A consumer of M models (default 300): half ref upstream public models, the rest ref local
    models.

Usage
    python benchmarks/injection.py [--models 3000] [--consumer-models 300] [--repeat 3]
                                   [--quick] [--skip-loom]

Everything generated lives in benchmarks/.work/ (git-ignored); results are written to
benchmarks/results/injection.json (or --output).
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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
ROOT = WORK / "injection"
LOOM_VENV = WORK / "venv-loom"
LOOM_REQUIREMENTS = HERE / "requirements-loom.txt"
DEFAULT_OUTPUT = HERE / "results" / "injection.json"

SEED = 20240611
DOMAINS = ("sales", "finance", "marketing", "operations", "product", "support")
LAYER_SHARES = {"staging": 0.30, "intermediate": 0.40, "marts": 0.30}
PREFIX = {"staging": "stg", "intermediate": "int", "marts": "fct"}
PUBLIC_SHARE = {"staging": 0.0, "intermediate": 0.20, "marts": 0.85}
CONTRACT_SHARE = 0.5    # of unversioned public models
TESTED_SHARE = 0.08
MESHKIT_MAX_OVERHEAD = 0.10
LOOM_MIN_FACTOR = 5.0

console = Console(width=None if sys.stdout.isatty() else 120)


class BenchmarkError(RuntimeError):
    """A step failed or a parse did not inject what it should: the numbers would be meaningless."""


# --------------------------------------------------------------------------------------------
# The upstream project
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Model:
    name: str
    layer: str
    domain: str
    parents: tuple[str, ...] = ()
    source_table: str | None = None
    public: bool = False
    versions: int = 0           # 0: unversioned; else versions 1..n, latest n
    contract: bool = False
    tested: bool = False

    @property
    def nodes(self) -> int:
        return self.versions or 1

    def identifier(self, version: int | None = None) -> str:
        """The relation name dbt gives the model (versioned models get a `_v<n>` suffix)."""
        if not self.versions:
            return self.name
        return f"{self.name}_v{version or self.versions}"


@dataclass
class Upstream:
    models: list[Model]
    source_tables: list[str]

    @property
    def public(self) -> list[Model]:
        return [m for m in self.models if m.public]

    @property
    def model_nodes(self) -> int:
        return sum(m.nodes for m in self.models)

    @property
    def public_nodes(self) -> int:
        return sum(m.nodes for m in self.public)

    def summary(self) -> dict:
        return {"models": len(self.models), "model_nodes": self.model_nodes,
                "public_models": len(self.public), "public_model_nodes": self.public_nodes,
                "versioned_models": sum(1 for m in self.models if m.versions),
                "contracted_models": sum(1 for m in self.models if m.contract),
                "tested_models": sum(1 for m in self.models if m.tested),
                "source_tables": len(self.source_tables)}


def plan_upstream(n: int, rng: random.Random) -> Upstream:
    """Layered models with a seeded DAG: every model refs 1-3 models of earlier layers or its own."""
    counts = _layer_counts(n)
    tables = [f"{DOMAINS[i % len(DOMAINS)]}_{i:03d}" for i in range(max(6, counts["staging"] // 4))]
    models: list[Model] = []
    by_layer: dict[str, list[str]] = {layer: [] for layer in LAYER_SHARES}
    for layer, count in counts.items():
        for i in range(count):
            name = f"{PREFIX[layer]}_{len(models):04d}"
            domain = DOMAINS[i % len(DOMAINS)]
            if layer == "staging":
                model = Model(name, layer, domain, source_table=rng.choice(tables))
            else:
                model = _derived_model(name, layer, domain, by_layer, rng)
            models.append(model)
            by_layer[layer].append(name)
    return Upstream(_with_versions(models, rng), tables)


def _layer_counts(n: int) -> dict[str, int]:
    staging = max(1, round(n * LAYER_SHARES["staging"]))
    intermediate = max(1, round(n * LAYER_SHARES["intermediate"]))
    return {"staging": staging, "intermediate": intermediate,
            "marts": max(1, n - staging - intermediate)}


def _derived_model(name: str, layer: str, domain: str, by_layer: dict[str, list[str]],
                   rng: random.Random) -> Model:
    if layer == "intermediate":
        pool = by_layer["staging"] + by_layer["intermediate"][-200:]
    else:
        pool = by_layer["intermediate"] + by_layer["marts"][-100:] + by_layer["staging"][-50:]
    parents = tuple(rng.sample(pool, min(len(pool), rng.randint(1, 3))))
    public = rng.random() < PUBLIC_SHARE[layer]
    return Model(name, layer, domain, parents=parents, public=public,
                 contract=public and rng.random() < CONTRACT_SHARE,
                 tested=rng.random() < TESTED_SHARE)


def _with_versions(models: list[Model], rng: random.Random) -> list[Model]:
    """A handful of public marts get two versions (no contract: v2 adds a column)."""
    marts = [i for i, m in enumerate(models) if m.layer == "marts" and m.public]
    chosen = set(rng.sample(marts, min(len(marts), max(3, len(models) // 300))))
    return [Model(m.name, m.layer, m.domain, m.parents, m.source_table, m.public, 2, False, m.tested)
            if i in chosen else m for i, m in enumerate(models)]


def write_upstream(upstream: Upstream, folder: Path, warehouse: Path) -> None:
    _write(folder / "dbt_project.yml", _upstream_project_yml())
    _write(folder / "profiles.yml", _profiles_yml("upstream", warehouse / "upstream.duckdb"))
    _write(folder / "macros" / "create_raw_tables.sql", _raw_tables_macro(upstream.source_tables))
    _write(folder / "models" / "staging" / "_sources.yml", _raw_sources_yml(upstream.source_tables))
    _write(folder / "models" / "_groups.yml", _groups_yml())
    for layer in LAYER_SHARES:
        for domain in DOMAINS:
            models = [m for m in upstream.models if m.layer == layer and m.domain == domain]
            if models:
                _write_upstream_models(models, folder / "models" / layer / domain)


def _write_upstream_models(models: list[Model], folder: Path) -> None:
    for model in models:
        if model.versions:
            for v in range(1, model.versions + 1):
                extra = ["upper(r0.label) as label_upper"] if v > 1 else []
                _write(folder / f"{model.identifier(v)}.sql", _model_sql(model, extra))
        else:
            _write(folder / f"{model.name}.sql", _model_sql(model))
    entries = "".join(_upstream_model_yml(m) for m in models)
    _write(folder / f"_{folder.name}__models.yml", f"version: 2\n\nmodels:\n{entries}")


def _model_sql(model: Model, extra_columns: list[str] | None = None) -> str:
    if model.source_table:
        refs = [f"source('raw', '{model.source_table}')"]
    else:
        refs = [f"ref('{parent}')" for parent in model.parents]
    config = "{{ config(tags=['%s', '%s']) }}\n\n" % (model.layer, model.domain)
    return config + join_sql(refs, extra_columns or [])


def join_sql(refs: list[str], extra_columns: list[str]) -> str:
    """CTE r<i> per ref, left-joined on id; the output is always id, amount, label (+ extras)."""
    ctes = ",\n".join(f"r{i} as (\n    select * from {{{{ {ref} }}}}\n)" for i, ref in enumerate(refs))
    amount = " + ".join(["r0.amount"] + [f"coalesce(r{i}.amount, 0)" for i in range(1, len(refs))])
    columns = ["cast(r0.id as integer) as id", f"cast({amount} as double) as amount",
               "cast(r0.label as varchar) as label", *extra_columns]
    joins = "".join(f"\nleft join r{i} on r0.id = r{i}.id" for i in range(1, len(refs)))
    select = ",\n    ".join(columns)
    return f"with {ctes}\n\nselect\n    {select}\nfrom r0{joins}\n"


_COLUMNS = (("id", "integer", "Surrogate key of the row."),
            ("amount", "double", "Amount in the reporting currency."),
            ("label", "varchar", "Human-readable label."))


def _upstream_model_yml(model: Model) -> str:
    lines = [f"  - name: {model.name}",
             f"    description: {model.layer.capitalize()} model {model.name} of the "
             f"{model.domain} domain."]
    if model.public:
        lines.append("    access: public")
    if model.layer == "marts":
        lines.append(f"    group: {model.domain}")
    if model.contract:
        lines += ["    config:", "      contract:", "        enforced: true"]
    if model.versions:
        lines.append(f"    latest_version: {model.versions}")
    lines.append("    columns:")
    for name, data_type, description in _COLUMNS:
        lines += [f"      - name: {name}", f"        description: {description}"]
        if model.contract:
            lines.append(f"        data_type: {data_type}")
        if name == "id" and model.tested:
            lines += ["        data_tests:", "          - unique", "          - not_null"]
    if model.versions:
        lines.append("    versions:")
        for v in range(1, model.versions + 1):
            lines.append(f"      - v: {v}")
            if v > 1:
                lines += ["        columns:", "          - include: all",
                          "          - name: label_upper",
                          "            description: The label, upper-cased (new in this version)."]
    return "\n".join(lines) + "\n"


def _upstream_project_yml() -> str:
    return """name: upstream
version: "1.0.0"
config-version: 2
profile: upstream

model-paths: ["models"]
macro-paths: ["macros"]

on-run-start:
  - "{{ create_raw_tables() }}"

models:
  upstream:
    staging:
      +materialized: view
    intermediate:
      +materialized: view
    marts:
      +materialized: table
"""


def _raw_tables_macro(tables: list[str]) -> str:
    names = ", ".join(f"'{t}'" for t in tables)
    return f"""{{% macro create_raw_tables() %}}
  {{% if execute %}}
    {{% do run_query("create schema if not exists raw") %}}
    {{% for table in [{names}] %}}
      {{% do run_query("create or replace table raw." ~ table ~ " as select range as id, "
                       ~ "range * 1.5 as amount, 'row ' || range as label from range(10)") %}}
    {{% endfor %}}
  {{% endif %}}
{{% endmacro %}}
"""


def _raw_sources_yml(tables: list[str]) -> str:
    entries = "".join(f"      - name: {t}\n        description: Raw {t} records.\n" for t in tables)
    return f"version: 2\n\nsources:\n  - name: raw\n    schema: raw\n    tables:\n{entries}"


def _groups_yml() -> str:
    entries = "".join(f"  - name: {d}\n    owner:\n      name: {d.capitalize()} team\n"
                      f"      email: {d}@example.com\n" for d in DOMAINS)
    return f"version: 2\n\ngroups:\n{entries}"


def _profiles_yml(profile: str, database: Path, attach: Path | None = None) -> str:
    text = (f"{profile}:\n  target: prod\n  outputs:\n    prod:\n      type: duckdb\n"
            f"      path: \"{database}\"\n      schema: main\n      threads: 1\n")
    if attach is not None:
        text += f"      attach:\n        - path: \"{attach}\"\n          read_only: true\n"
    return text


# --------------------------------------------------------------------------------------------
# The consumer project, in three variants
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UpstreamRef:
    model: Model
    version: int | None = None   # pinned version (`v=`), else the latest

    def ref(self) -> str:
        pin = f", v={self.version}" if self.version else ""
        return f"ref('upstream', '{self.model.name}'{pin})"

    def source(self) -> str:
        return f"source('upstream', '{self.model.identifier(self.version)}')"


@dataclass(frozen=True)
class ConsumerModel:
    name: str
    domain: str
    upstream_refs: tuple[UpstreamRef, ...] = ()
    local_refs: tuple[str, ...] = ()


def plan_consumer(m: int, upstream: Upstream, rng: random.Random) -> list[ConsumerModel]:
    """Every other model refs 1-2 upstream public models; the others ref 1-2 earlier local ones."""
    public = upstream.public
    models: list[ConsumerModel] = []
    for i in range(m):
        name, domain = f"cons_{i:04d}", DOMAINS[i % len(DOMAINS)]
        earlier = [c.name for c in models]
        if i % 2 == 0 or not earlier:
            refs = tuple(_upstream_ref(model, rng) for model in
                         rng.sample(public, min(len(public), rng.randint(1, 2))))
            local = tuple(rng.sample(earlier, 1)) if earlier and rng.random() < 0.3 else ()
            models.append(ConsumerModel(name, domain, refs, local))
        else:
            local = tuple(rng.sample(earlier, min(len(earlier), rng.randint(1, 2))))
            models.append(ConsumerModel(name, domain, (), local))
    return models


def _upstream_ref(model: Model, rng: random.Random) -> UpstreamRef:
    if model.versions and rng.random() < 0.5:
        return UpstreamRef(model, version=1)
    return UpstreamRef(model)


def write_consumer(models: list[ConsumerModel], folder: Path, variant: str, warehouse: Path,
                   upstream_manifest: Path) -> None:
    """variant: "mesh" (dependencies.yml), "loom" (dbt_loom.config.yml) or "baseline" (sources)."""
    _write(folder / "dbt_project.yml", _consumer_project_yml())
    _write(folder / "profiles.yml", _profiles_yml("consumer", warehouse / "consumer.duckdb",
                                                  attach=warehouse / "upstream.duckdb"))
    if variant == "mesh":
        _write(folder / "dependencies.yml", "projects:\n  - name: upstream\n")
    elif variant == "loom":
        _write(folder / "dbt_loom.config.yml", _loom_config_yml(upstream_manifest))
    else:
        _write(folder / "models" / "_upstream__sources.yml", _upstream_sources_yml(models))
    for domain in DOMAINS:
        chosen = [m for m in models if m.domain == domain]
        if not chosen:
            continue
        for model in chosen:
            _write(folder / "models" / domain / f"{model.name}.sql", _consumer_sql(model, variant))
        entries = "".join(_consumer_model_yml(m) for m in chosen)
        _write(folder / "models" / domain / f"_{domain}__models.yml",
               f"version: 2\n\nmodels:\n{entries}")


def _consumer_sql(model: ConsumerModel, variant: str) -> str:
    cross = [r.source() if variant == "baseline" else r.ref() for r in model.upstream_refs]
    local = [f"ref('{name}')" for name in model.local_refs]
    return join_sql(cross + local, [])


def _consumer_model_yml(model: ConsumerModel) -> str:
    lines = [f"  - name: {model.name}",
             f"    description: Consumer model {model.name} ({model.domain}).", "    columns:"]
    for name, _, description in _COLUMNS[:2]:
        lines += [f"      - name: {name}", f"        description: {description}"]
    if int(model.name[-4:]) % 10 == 0:
        lines += ["        data_tests:", "          - not_null"]
    return "\n".join(lines) + "\n"


def _upstream_sources_yml(models: list[ConsumerModel]) -> str:
    tables = sorted({r.model.identifier(r.version) for m in models for r in m.upstream_refs})
    entries = "".join(f"      - name: {t}\n" for t in tables)
    return (f"version: 2\n\nsources:\n  - name: upstream\n    database: upstream\n"
            f"    schema: main\n    tables:\n{entries}")


def _consumer_project_yml() -> str:
    return """name: consumer
version: "1.0.0"
config-version: 2
profile: consumer

model-paths: ["models"]

models:
  consumer:
    +materialized: view
"""


def _loom_config_yml(manifest: Path) -> str:
    return f"manifests:\n  - name: upstream\n    type: file\n    config:\n      path: \"{manifest}\"\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Environments and commands
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Venv:
    name: str
    bin: Path

    def tool(self, name: str) -> str:
        return str(self.bin / name)


def meshkit_venv() -> Venv:
    return Venv("meshkit", Path(sys.executable).parent)


def ensure_loom_venv() -> Venv:
    """benchmarks/.work/venv-loom with dbt-loom and without meshkit; created on first use."""
    venv = Venv("dbt-loom", LOOM_VENV / "bin")
    if not (venv.bin / "dbt").exists():
        console.print(f"creating {LOOM_VENV.relative_to(HERE.parent)} (dbt-core + dbt-loom)…")
        shutil.rmtree(LOOM_VENV, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(LOOM_VENV)], cwd=WORK)
        run([venv.tool("python"), "-m", "pip", "install", "-q", "-r", str(LOOM_REQUIREMENTS)], cwd=WORK)
    check = ("import importlib.util as u, sys; "
             "sys.exit(0 if u.find_spec('dbt_loom') and not u.find_spec('dbt_meshkit') else 1)")
    if subprocess.run([venv.tool("python"), "-c", check]).returncode != 0:
        raise BenchmarkError(f"{LOOM_VENV} must have dbt-loom and must not have meshkit; "
                             "delete it to have it recreated")
    return venv


def clean_env(venv: Venv) -> dict[str, str]:
    """The caller's environment without variables that would steer dbt, meshkit or dbt-loom."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHKIT_", "DBT_"))
           and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env.update(PATH=f"{venv.bin}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv.bin.parent),
               DBT_SEND_ANONYMOUS_USAGE_STATS="False", MESHKIT_CACHE_DIR=str(ROOT / "cache"),
               # Byte-code cached as on a user's machine (the warm-up writes it), kept out of
               # the source tree and of the venvs.
               PYTHONPYCACHEPREFIX=str(WORK / "pycache"))
    return env


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float      # user + system seconds of the command and its children


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Timing:
    """Run a command; return its wall-clock and CPU seconds; raise with its output if it failed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise BenchmarkError(f"`{' '.join(args)}` in {cwd} failed ({result.returncode}):\n"
                             + "\n".join(output[-40:]))
    return Timing(wall, cpu)


def dbt(venv: Venv, project: Path, *args: str) -> Timing:
    return run([venv.tool("dbt"), *args, "--project-dir", str(project), "--profiles-dir",
                str(project)], cwd=project, env=clean_env(venv))


def build_and_publish_upstream(venv: Venv, mesh_dir: Path, upstream: Upstream) -> float:
    """`dbt run` of one staging model writes the full manifest and a run_results.json."""
    project = mesh_dir / "upstream"
    first_staging = next(m.name for m in upstream.models if m.layer == "staging")
    seconds = dbt(venv, project, "run", "--select", first_staging).wall
    run([venv.tool("meshkit"), "publish", "--project-dir", str(project), "--env", "prod"],
        cwd=mesh_dir, env=clean_env(venv))
    return seconds


def check_upstream_manifest(path: Path, upstream: Upstream) -> None:
    nodes = json.loads(path.read_text())["nodes"].values()
    models = [n for n in nodes if n["resource_type"] == "model"]
    public = [n for n in models if n.get("access") == "public"]
    if (len(models), len(public)) != (upstream.model_nodes, upstream.public_nodes):
        raise BenchmarkError(f"upstream manifest has {len(models)} models ({len(public)} public), "
                             f"expected {upstream.model_nodes} ({upstream.public_nodes} public)")


def plugin_import_seconds(venv: Venv, module: str, repeat: int = 3) -> float:
    """Marginal import time of a plugin module once dbt's own modules are loaded (best of n)."""
    code = ("import dbt.cli.main, dbt.parser.manifest, dbt.contracts.graph.manifest, "
            f"dbt.plugins.manager; import {module}")
    best = float("inf")
    for _ in range(repeat):
        result = subprocess.run([venv.tool("python"), "-X", "importtime", "-c", code],
                                capture_output=True, text=True, env=clean_env(venv))
        for line in result.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].rstrip() == f" {module}":
                best = min(best, int(parts[1]) / 1e6)
    return best


# --------------------------------------------------------------------------------------------
# Variants, timing and verification
# --------------------------------------------------------------------------------------------

@dataclass
class Variant:
    key: str
    label: str
    venv: Venv
    project: Path
    expected_upstream_nodes: int
    expected_cross_models: int
    runs: list[Timing] = field(default_factory=list)
    injected: int = 0

    def stat(self, stat: str, clock: str = "wall") -> float:
        """stat: "best" (minimum) or "median" of the runs; clock: "wall" or "cpu"."""
        values = [getattr(run_, clock) for run_ in self.runs]
        return min(values) if stat == "best" else statistics.median(values)

    def as_json(self) -> dict:
        return {"label": self.label, "venv": self.venv.name,
                "project": str(self.project.relative_to(HERE.parent)),
                "injected_upstream_nodes": self.injected,
                "wall_seconds": [round(r.wall, 4) for r in self.runs],
                "cpu_seconds": [round(r.cpu, 4) for r in self.runs],
                **{f"{stat}_{clock}_seconds": round(self.stat(stat, clock), 4)
                   for stat in ("best", "median") for clock in ("wall", "cpu")}}


def parse_once(variant: Variant) -> Timing:
    timing = dbt(variant.venv, variant.project, "parse", "--no-partial-parse")
    variant.injected = verify_parse(variant)
    return timing


def verify_parse(variant: Variant) -> int:
    """The consumer's manifest has the expected upstream nodes and its refs resolved to them."""
    manifest = json.loads((variant.project / "target" / "manifest.json").read_text())
    nodes = manifest["nodes"]
    injected = sum(1 for uid in nodes if uid.startswith("model.upstream."))
    cross = sum(1 for uid, n in nodes.items() if uid.startswith("model.consumer.")
                and any(d.startswith("model.upstream.") for d in n["depends_on"]["nodes"]))
    if (injected, cross) != (variant.expected_upstream_nodes, variant.expected_cross_models):
        raise BenchmarkError(
            f"{variant.label}: the manifest has {injected} model.upstream.* nodes and {cross} "
            f"consumer models depending on them; expected {variant.expected_upstream_nodes} and "
            f"{variant.expected_cross_models}. Injection did not work as it should.")
    return injected


def time_variants(variants: list[Variant], repeat: int) -> None:
    """One untimed warm-up parse each, then `repeat` rounds, round-robin across variants."""
    for variant in variants:
        console.print(f"warm-up parse: {variant.label}…")
        parse_once(variant)
    for round_ in range(1, repeat + 1):
        for variant in variants:
            timing = parse_once(variant)
            variant.runs.append(timing)
            console.print(f"  round {round_}/{repeat}  {variant.label:<24} {timing.wall:6.2f} s wall"
                          f"  {timing.cpu:6.2f} s cpu")


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

def overhead(tool: Variant, baseline: Variant, stat: str, clock: str) -> dict:
    base = baseline.stat(stat, clock)
    seconds = tool.stat(stat, clock) - base
    return {"seconds": round(seconds, 4), "ratio": round(seconds / base, 4)}


def summarize(variants: dict[str, Variant]) -> dict:
    """Overheads per statistic ("best_wall", "median_wall", "best_cpu") and the targets' verdicts."""
    result: dict = {}
    for stat, clock in (("best", "wall"), ("median", "wall"), ("best", "cpu")):
        meshkit = overhead(variants["meshkit"], variants["baseline_meshkit"], stat, clock)
        entry: dict = {"meshkit": meshkit}
        if "loom" in variants:
            loom = overhead(variants["loom"], variants["baseline_loom"], stat, clock)
            entry.update(loom=loom, loom_over_meshkit=_factor(loom["seconds"], meshkit["seconds"]))
        result[f"{stat}_{clock}"] = entry
    result["targets"] = {"meshkit_max_overhead_ratio": MESHKIT_MAX_OVERHEAD,
                         "loom_min_factor": LOOM_MIN_FACTOR,
                         "official": "best_wall",
                         **{key: _verdicts(result[key]) for key in ("best_wall", "best_cpu")}}
    result["busy_factor"] = round(busy_factor(variants), 3)
    return result


def _verdicts(entry: dict) -> dict:
    return {"meshkit_pass": entry["meshkit"]["ratio"] <= MESHKIT_MAX_OVERHEAD,
            "loom_factor_pass": _factor_pass(entry) if "loom" in entry else None}


def busy_factor(variants: dict[str, Variant]) -> float:
    """Median wall/CPU over all timed parses: about 1 on an idle machine (dbt parse is
    single-threaded and does little I/O); above that, parses waited for a CPU."""
    return statistics.median(r.wall / r.cpu for v in variants.values() for r in v.runs)


def _factor(loom_seconds: float, meshkit_seconds: float) -> float | None:
    """loom's overhead over meshkit's; None when meshkit's is not above zero (within noise)."""
    return round(loom_seconds / meshkit_seconds, 2) if meshkit_seconds > 0 else None


def _factor_pass(entry: dict) -> bool:
    if entry["loom_over_meshkit"] is None:
        return entry["loom"]["seconds"] > 0
    return entry["loom_over_meshkit"] >= LOOM_MIN_FACTOR


def print_results(variants: dict[str, Variant], summary: dict, imports: dict[str, float]) -> None:
    table = Table(title="dbt parse --no-partial-parse of the consumer (seconds)")
    columns = ("variant", "venv", "upstream nodes", "best wall", "median wall", "best cpu", "wall runs")
    for column in columns:
        table.add_column(column, justify="left" if column in ("variant", "venv") else "right")
    for v in variants.values():
        table.add_row(v.label, v.venv.name, str(v.injected), f"{v.stat('best'):.2f}",
                      f"{v.stat('median'):.2f}", f"{v.stat('best', 'cpu'):.2f}",
                      " ".join(f"{r.wall:.2f}" for r in v.runs))
    console.print(table)
    targets = summary["targets"]
    console.print(_overhead_line("meshkit", summary, "meshkit"))
    if "loom" in summary["best_wall"]:
        console.print(_overhead_line("dbt-loom", summary, "loom"))
    for key, clock in (("best_wall", "best wall"), ("best_cpu", "best cpu")):
        factor = summary[key].get("loom_over_meshkit")
        factor_text = "∞ (meshkit's within noise)" if factor is None else f"{factor:.1f}×"
        line = (f"targets on {clock}: meshkit ≤ {MESHKIT_MAX_OVERHEAD:.0%} "
                f"{_verdict(targets[key]['meshkit_pass'])}")
        if "loom" in summary[key]:
            line += (f"; dbt-loom's overhead / meshkit's = {factor_text} (≥ {LOOM_MIN_FACTOR:.0f}×) "
                     f"{_verdict(targets[key]['loom_factor_pass'])}")
        console.print(line + ("  (official)" if key == targets["official"] else ""))
    if summary["busy_factor"] > 1.15:
        console.print(f"[yellow]warning:[/] the machine was busy (median wall/cpu "
                      f"{summary['busy_factor']:.2f}): wall-clock differences are inflated by "
                      "waiting for a CPU; the CPU figures are the reliable ones. Re-run when idle.")
    for name, seconds in imports.items():
        console.print(f"marginal import of {name} (paid by every dbt command in its venv, "
                      f"baselines included): {seconds:.3f} s")


def _overhead_line(label: str, summary: dict, key: str) -> str:
    best, median, cpu = (summary[k][key] for k in ("best_wall", "median_wall", "best_cpu"))
    return (f"{label} overhead: {best['seconds']:+.2f} s = {best['ratio']:+.1%} of its baseline "
            f"(median wall {median['ratio']:+.1%}, best cpu {cpu['seconds']:+.2f} s = {cpu['ratio']:+.1%})")


def _verdict(ok: bool | None) -> str:
    return {True: "[green]PASS[/]", False: "[red]FAIL[/]", None: "n/a"}[ok]


def environment_info(venvs: list[Venv]) -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count()}
    for venv in venvs:
        code = ("import importlib.metadata as m\nfor p in ('dbt-core', 'dbt-duckdb', 'dbt-meshkit', "
                "'dbt-loom'):\n    try: print(p, m.version(p))\n    except Exception: pass")
        out = subprocess.run([venv.tool("python"), "-c", code], capture_output=True, text=True).stdout
        info[f"venv_{venv.name}"] = dict(line.split() for line in out.splitlines())
    return info


def write_results(path: Path, args: argparse.Namespace, upstream: Upstream,
                  consumer: list[ConsumerModel], variants: dict[str, Variant], summary: dict,
                  imports: dict[str, float], setup: dict, venvs: list[Venv]) -> None:
    document = {
        "benchmark": "injection",
        "measures": "seconds (wall clock, and cpu = user + system) of `dbt parse "
                    "--no-partial-parse` of the consumer project, as a subprocess",
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {"models": args.models, "consumer_models": args.consumer_models,
                   "repeat": args.repeat, "quick": args.quick, "seed": SEED},
        "environment": environment_info(venvs),
        "upstream": {**upstream.summary(), "dbt_run_one_model_seconds": round(setup["seconds"], 2)},
        "consumer": {"models": len(consumer),
                     "cross_project_models": sum(1 for m in consumer if m.upstream_refs),
                     "cross_project_refs": sum(len(m.upstream_refs) for m in consumer)},
        "variants": {key: v.as_json() for key, v in variants.items()},
        "overhead": {k: summary[k] for k in ("best_wall", "median_wall", "best_cpu")},
        "targets": summary["targets"],
        "plugin_import_seconds": {k: round(v, 4) for k, v in imports.items()},
        "busy_factor": summary["busy_factor"],
        "load_average": {"at_start": setup["load_average"],
                         "at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    console.print(f"results written to {path}")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=None, help="upstream models (default 3000)")
    parser.add_argument("--consumer-models", type=int, default=None, help="consumer models (default 300)")
    parser.add_argument("--repeat", type=int, default=None, help="timed parses per variant (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 300 upstream / 50 consumer models, 1 repeat")
    parser.add_argument("--skip-loom", action="store_true", help="do not measure dbt-loom")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON path")
    args = parser.parse_args(argv)
    quick = {"models": 300, "consumer_models": 50, "repeat": 1}
    full = {"models": 3000, "consumer_models": 300, "repeat": 3}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.models < 10 or args.consumer_models < 2 or args.repeat < 1:
        parser.error("need --models ≥ 10, --consumer-models ≥ 2 and --repeat ≥ 1")
    return args


def generate(args: argparse.Namespace) -> tuple[Upstream, list[ConsumerModel], Path]:
    """Fresh projects under benchmarks/.work/injection/; returns the plans and the mesh folder."""
    shutil.rmtree(ROOT, ignore_errors=True)
    rng = random.Random(SEED)
    upstream = plan_upstream(args.models, rng)
    consumer = plan_consumer(args.consumer_models, upstream, rng)
    warehouse, mesh_dir = ROOT / "warehouse", ROOT / "mesh"
    warehouse.mkdir(parents=True)
    _write(mesh_dir / "mesh.yml", "name: bench\nstore: .meshkit/store\nprojects:\n"
                                  "  upstream: upstream\n  consumer: consumer\n")
    manifest = mesh_dir / "upstream" / "target" / "manifest.json"
    write_upstream(upstream, mesh_dir / "upstream", warehouse)
    write_consumer(consumer, mesh_dir / "consumer", "mesh", warehouse, manifest)
    # Outside the mesh folder: meshkit finds no mesh.yml above these and injects nothing.
    write_consumer(consumer, ROOT / "loom" / "consumer", "loom", warehouse, manifest)
    write_consumer(consumer, ROOT / "baseline" / "consumer", "baseline", warehouse, manifest)
    return upstream, consumer, mesh_dir


def make_variants(upstream: Upstream, consumer: list[ConsumerModel], mesh_dir: Path,
                  mk: Venv, loom: Venv | None) -> dict[str, Variant]:
    cross = sum(1 for m in consumer if m.upstream_refs)
    baseline = ROOT / "baseline" / "consumer"
    variants = {
        "baseline_meshkit": Variant("baseline_meshkit", "baseline (meshkit venv)", mk, baseline, 0, 0),
        "meshkit": Variant("meshkit", "meshkit", mk, mesh_dir / "consumer", upstream.public_nodes, cross),
    }
    if loom is not None:
        variants["baseline_loom"] = Variant("baseline_loom", "baseline (loom venv)", loom, baseline, 0, 0)
        variants["loom"] = Variant("loom", "dbt-loom", loom, ROOT / "loom" / "consumer",
                                   upstream.model_nodes, cross)
    return variants


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    mk = meshkit_venv()
    loom = None if args.skip_loom else ensure_loom_venv()
    upstream, consumer, mesh_dir = generate(args)
    console.print(f"upstream: {upstream.summary()}")
    console.print("building the upstream (dbt run of one model) and publishing it…")
    setup = {"load_average": [round(x, 2) for x in os.getloadavg()],
             "seconds": build_and_publish_upstream(mk, mesh_dir, upstream)}
    check_upstream_manifest(mesh_dir / "upstream" / "target" / "manifest.json", upstream)
    variants = make_variants(upstream, consumer, mesh_dir, mk, loom)
    time_variants(list(variants.values()), args.repeat)
    imports = {"dbt_meshkit": plugin_import_seconds(mk, "dbt_meshkit")}
    if loom is not None:
        imports["dbt_loom"] = plugin_import_seconds(loom, "dbt_loom")
    summary = summarize(variants)
    print_results(variants, summary, imports)
    venvs = [mk] + ([loom] if loom else [])
    write_results(args.output, args, upstream, consumer, variants, summary, imports, setup, venvs)
    console.print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        console.print(f"[bold red]benchmark failed:[/] {exc}", highlight=False)
        sys.exit(1)
