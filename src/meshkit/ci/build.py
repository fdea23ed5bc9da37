"""`meshkit ci`: build a pull request's changes and their downstream in every project into
PR-scoped relations, test them, and compare them with production.

The steps: parse every working copy (production target, orchestrate.parse, cached); find
the nodes whose fingerprint differs from production's published manifest and everything
downstream of them (ci.changes); plan them in waves like `meshkit build` (orchestrate.plan);
run each unit as `dbt build` with a generated PR profile (ci.profile), `--defer --state`
production's manifest for the project's unchanged upstream models, and the plugin pointing
cross-project refs at the PR relations of models rebuilt here (consumer.CI_RELATIONS_VAR),
up to --workers units at a time where their DuckDB files allow (orchestrate.slots); then compare each built model with production (ci.compare). Before any unit writes, a PR
parse checks that every node it builds lands in the PR's schema: a project whose
generate_schema_name ignores the target schema is refused, never built into production.
Nothing is published and run history is not written.
"""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from meshkit.ci.changes import Changes, Why, find_changes
from meshkit.ci.cleanup import drop_pr
from meshkit.ci.compare import Comparison, Relation, column_changes, comparison_sql, read_results
from meshkit.ci.keys import primary_key
from meshkit.ci.outcome import NodeResult, Outcome
from meshkit.ci.profile import CI_TARGET, PrTarget, duckdb_file, production_output, write_pr_profile
from meshkit.ci.scope import PrScope
from meshkit.config import Environment, Mesh
from meshkit.config.dbt_vars import NO_VARS, DbtVars
from meshkit.consumer import CI_RELATIONS_VAR
from meshkit.dbt.artifacts import Manifest, Node, decode_manifest, decode_run_results
from meshkit.dbt.nodes import access_of, version_text
from meshkit.dbt.runner import run_dbt, strip_ansi
from meshkit.dbt.warehouse import Warehouse
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.orchestrate.build import open_history
from meshkit.orchestrate.fingerprint import macro_lists, node_fingerprints
from meshkit.orchestrate.parse import add_to_graph, dbt_environment, parse_projects
from meshkit.orchestrate.plan import Unit, assign_units, check_cycles, resolve_placeholders
from meshkit.orchestrate.reasons import Kind, Reason
from meshkit.orchestrate.resources import Resources
from meshkit.orchestrate.selectors import node_selector, unit_selectors
from meshkit.orchestrate.slots import run_in_slots
from meshkit.orchestrate.state import Decision, label
from meshkit.store.store import Store

Echo = Callable[[str, str], None]
_COMPARED = {"table", "view", "incremental", "snapshot", "seed"}

# A PR's reason to build a node, as the build planner's decision kinds.
_KIND = {Why.NEW: Kind.NEVER_BUILT, Why.MODIFIED: Kind.CODE_CHANGED,
         Why.TEST_MODIFIED: Kind.CODE_CHANGED, Why.DOWNSTREAM: Kind.UPSTREAM_REBUILT}


@dataclass
class CiOptions:
    pr: str
    env: str | None = None           # the production environment (default: the mesh's)
    workers: int = 2
    compare: bool = True
    vars: DbtVars = NO_VARS          # dbt's --vars, for every dbt the PR's build starts


@dataclass
class CiResult:
    """Everything the report shows. `nodes`: unique_id → result, for every node the PR built
    or tested; `comparisons`: one per compared model."""

    pr: str
    environment: str
    changes: Changes
    graph: MeshGraph
    nodes: dict[str, NodeResult] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    targets: dict[str, PrTarget] = field(default_factory=dict)
    manifests: dict[str, Path] = field(default_factory=dict)   # working copies, production target

    @property
    def failed(self) -> bool:
        return any(r.outcome.failed for r in self.nodes.values())


def run_ci(mesh: Mesh, options: CiOptions, on_line: Echo | None = None) -> CiResult:
    """Build, test and compare the PR. Raises MeshError for a mesh or project it cannot
    build (unparseable project, a node that would land outside the PR's schemas)."""
    env = mesh.environment(options.env)
    scope = PrScope(options.pr)
    store = Store(mesh.store_url)
    names = [p for p in mesh.projects if env.name in mesh.projects[p].environments]
    history = open_history(mesh)
    try:
        parsed = parse_projects(mesh, env, history, names, options.workers, on_line,
                                dbt_vars=options.vars)
    finally:
        history.close()
    graph = MeshGraph()
    current: dict[str, str] = {}
    for name in names:
        current.update(add_to_graph(graph, parsed[name], env.name))
    resolve_placeholders(graph)
    order = check_cycles(graph)
    lists: dict[str, list[str]] = {}
    for name in names:
        lists.update(macro_lists(parsed[name].manifest_path.read_bytes()))
    production = _production(store, env, names, lists, graph)
    changes = find_changes(graph, order, current,
                           {uid: fp for m in production.values() for uid, fp in m[1].items()})
    result = CiResult(scope.pr, env.name, changes, graph,
                      manifests={n: parsed[n].manifest_path for n in names})
    if changes.empty:
        return result
    drop_pr(mesh, env, scope, changes.projects)   # each run starts from empty PR relations
    runner = _UnitRunner(mesh, env, scope, graph, production, result, on_line, options.vars)
    decisions = {uid: Decision(uid, graph.owner[uid], True, Reason(_KIND[why], {"ci": why.value}))
                 for uid, why in changes.reached.items()}
    units, depends = assign_units(graph, list(changes.reached), decisions, {})
    run_in_slots(sorted(units, key=lambda u: (u.wave, u.project)), depends, options.workers,
                 runner.resources, runner.run)
    if options.compare:
        for project in changes.projects:
            result.comparisons += runner.compare(project)
    return result


def _production(store: Store, env: Environment, names: list[str], lists: dict[str, list[str]],
                graph: MeshGraph) -> dict[str, tuple[bytes, dict[str, str]]]:
    """project → (its latest production manifest, the fingerprints of the nodes it owns),
    for those published; `lists`: the macros each node of the working copies calls
    (fingerprint.node_fingerprints)."""
    found = {}
    for name in names:
        record = store.latest(name, env.name)
        if record is None:
            continue
        data = store.read(record, "manifest.json")
        found[name] = (data, owned_fingerprints(node_fingerprints(data, lists), name, graph))
    return found


def owned_fingerprints(fingerprints: dict[str, str], project: str, graph: MeshGraph
                       ) -> dict[str, str]:
    """The fingerprints of a project's own nodes. A consumer's manifest also holds the
    upstream models the plugin injected for its refs, fingerprinted differently from the
    owner's: kept, they would make every referenced public model look modified. A node
    the working copies no longer have counts as the project's."""
    return {uid: fp for uid, fp in fingerprints.items() if graph.owner.get(uid, project) == project}


class _UnitRunner:
    """Runs one unit of the plan; units of different projects may run at once (`resources`
    says which DuckDB files each writes and reads)."""

    def __init__(self, mesh: Mesh, env: Environment, scope: PrScope, graph: MeshGraph,
                 production: dict[str, tuple[bytes, dict[str, str]]], result: CiResult,
                 on_line: Echo | None, dbt_vars: DbtVars = NO_VARS) -> None:
        self.mesh, self.env, self.scope, self.graph = mesh, env, scope, graph
        self.dbt_vars = dbt_vars
        self.production, self.result, self.on_line = production, result, on_line
        self.root = mesh.state_dir / "ci" / f"pr_{scope.pr}"
        if self.root.exists():
            shutil.rmtree(self.root)
        self.relations: dict[str, dict] = {}
        self.pr_manifests: dict[str, Manifest] = {}
        self._lock = threading.Lock()       # relations and targets, shared by worker threads
        self._upstream = _upstream_projects(graph, result.changes)
        self._files: dict[str, Path | None] = {}     # project → its PR DuckDB file

    def _folder(self, project: str) -> Path:
        return self.root / project

    def _state_dir(self, project: str) -> Path | None:
        if project not in self.production:
            return None
        folder = self._folder(project) / "production"
        if not (folder / "manifest.json").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "manifest.json").write_bytes(self.production[project][0])
        return folder

    def _target(self, project: str) -> PrTarget:
        return self.result.targets.get(project) or self._write_target(project)

    def _write_target(self, project: str) -> PrTarget:
        """The project's PR profile, attaching the PR files its upstream projects have
        written by now (in a two-way mesh one may build after this project's first unit)."""
        upstream = [f for p in self._upstream.get(project, ()) if (f := self._pr_file(p))]
        target = write_pr_profile(self.mesh.project(project), self.env.target, self.scope,
                                  self._folder(project) / "profile", upstream)
        with self._lock:
            self.result.targets[project] = target
        return target

    def _pr_file(self, project: str) -> Path | None:
        if project not in self._files:
            output = production_output(self.mesh.project(project), self.env.target)[1]
            self._files[project] = duckdb_file(self.mesh.project(project), output, self.scope)
        return self._files[project]

    def resources(self, project: str) -> Resources:
        """The PR files a unit of `project` writes (its own) and attaches (its upstream
        projects'); production files are only read in CI, so they never collide."""
        own = self._pr_file(project)
        reads = {str(f) for p in self._upstream.get(project, ()) if (f := self._pr_file(p))}
        return Resources(frozenset({str(own)} if own else ()), frozenset(reads))

    def _dbt(self, project: str, args: list[str]):
        target = self._target(project)
        env = {**dbt_environment(self.mesh, self.env, lenient=False),
               CI_RELATIONS_VAR: str(self._folder(project) / "relations.json")}
        on_line = self.on_line
        echo = (lambda line: on_line(project, line)) if on_line else None
        return run_dbt([*args, *self.dbt_vars.args, "--target", CI_TARGET,
                        "--profiles-dir", str(target.profiles_dir),
                        "--target-path", str(self._folder(project) / "target")],
                       self.mesh.project(project).path, env, echo)

    def run(self, unit: Unit) -> None:
        graph, project = self.graph, unit.project
        blocked = {uid: cause for uid in unit.nodes if (cause := self._blocked_by(uid))}
        for uid, cause in blocked.items():
            self.result.nodes[uid] = NodeResult(uid, project, Outcome.SKIPPED,
                                                f"skipped: {cause}")
        nodes = [uid for uid in unit.nodes if uid not in blocked]
        if not nodes and not unit.tests:
            return
        self._write_relations(project)
        self._write_target(project)     # before the parse: upstream PR files exist by now
        if not self._dbt(project, ["parse"]).ok:
            self._raise_parse(project)
        manifest = self._pr_manifest(project)
        self._check_scoped(project, manifest, nodes)
        selectors = unit_selectors(graph, project, nodes) + [
            node_selector(graph.nodes[t]) for t in unit.tests]
        args = ["build", "--select", *selectors]
        if unit.excluded:
            args += ["--exclude", *[node_selector(graph.nodes[t]) for t in unit.excluded]]
        state = self._state_dir(project)
        if state is not None:
            args += ["--defer", "--state", str(state)]
        outcome = self._dbt(project, args)
        self._read_run_results(project, outcome.output)
        self._publish_relations(project, manifest, nodes)

    def _blocked_by(self, uid: str) -> str | None:
        for parent in self.graph.parents.get(uid, []):
            found = self.result.nodes.get(parent)
            if found is not None and found.outcome in (Outcome.ERROR, Outcome.SKIPPED):
                return f"{label(self.graph, parent)} did not build"
            for test in self.graph.tests_of(parent):
                tested = self.result.nodes.get(test.unique_id)
                if tested is not None and tested.outcome in (Outcome.FAIL, Outcome.ERROR) \
                        and self.graph.owner[parent] != self.graph.owner[uid]:
                    return f"{label(self.graph, parent)} failed its test {test.name}"
        return None

    def _raise_parse(self, project: str) -> None:
        raise MeshError(f"`dbt parse` with the PR profile failed in project '{project}'",
                        file=self._target(project).profiles_dir / "profiles.yml",
                        hint="run `meshkit ci` with --debug, or `dbt parse` in the project")

    def _pr_manifest(self, project: str) -> Manifest:
        path = self._folder(project) / "target" / "manifest.json"
        manifest = decode_manifest(path.read_bytes(), source=str(path))
        self.pr_manifests[project] = manifest
        return manifest

    def _check_scoped(self, project: str, manifest: Manifest, nodes: list[str]) -> None:
        """Refuse, before anything is written, a node whose relation is not the PR's."""
        target = self._target(project)
        for uid in nodes:
            node = manifest.nodes.get(uid)
            if node is None or node.config.materialized == "ephemeral":
                continue
            in_schema = self.scope.owns(node.schema_ or "")
            in_file = target.database is None or (node.database or "").lower() == target.database
            if not (in_schema and in_file):
                raise MeshError(
                    f"{label(self.graph, uid)} would be built into {node.relation_name}, "
                    f"outside pull request {self.scope.pr}'s schemas: mesh CI never writes there",
                    file=self.mesh.project(project).path / (node.original_file_path or ""),
                    hint="the project's generate_schema_name (or a database/schema config) "
                         "ignores target.schema; make it prefix target.schema for non-production "
                         "targets, as dbt's default does")

    def _read_run_results(self, project: str, output: str) -> None:
        path = self._folder(project) / "target" / "run_results.json"
        if not path.is_file():
            raise MeshError(f"`dbt build` in project '{project}' wrote no run results",
                            hint=strip_ansi(output)[-800:])
        for row in decode_run_results(path.read_bytes(), source=str(path)).results:
            self.result.nodes[row.unique_id] = NodeResult(
                row.unique_id, project, Outcome.of(row.status), row.message)
        path.unlink()

    def _publish_relations(self, project: str, manifest: Manifest, nodes: list[str]) -> None:
        """Public models built here: later units' consumers read these relations."""
        for uid in nodes:
            node = manifest.nodes.get(uid)
            done = self.result.nodes.get(uid)
            if node is None or access_of(node) != "public" or done is None \
                    or done.outcome is not Outcome.SUCCESS:
                continue
            entry = {
                "name": node.name, "package_name": node.package_name,
                "identifier": node.alias or node.name, "schema": node.schema_,
                "database": node.database, "relation_name": node.relation_name,
                "version": version_text(node.version),
                "latest_version": version_text(node.latest_version)}
            with self._lock:
                self.relations[uid] = entry

    def _write_relations(self, project: str) -> None:
        """The PR relations this unit's refs resolve to: those published when it starts."""
        path = self._folder(project) / "relations.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            text = json.dumps(self.relations)
        path.write_text(text, encoding="utf-8")

    # -- compare changes ----------------------------------------------------------------------
    def compare(self, project: str) -> list[Comparison]:
        """Each built public modified model and each downstream model vs production."""
        manifest = self.pr_manifests.get(project)
        if manifest is None:
            return []
        prod_manifest = (decode_manifest(self.production[project][0], source=f"production manifest of {project}")
                         if project in self.production else None)
        pairs = []
        for uid, why in self.result.changes.reached.items():
            node = manifest.nodes.get(uid)
            if node is None or self.graph.owner[uid] != project:
                continue
            if why is not Why.DOWNSTREAM and node.access != "public":
                continue
            done = self.result.nodes.get(uid)
            if node.config.materialized not in _COMPARED or done is None \
                    or done.outcome is not Outcome.SUCCESS:
                continue
            before = prod_manifest.nodes.get(uid) if prod_manifest else None
            pairs.append((uid, _relation(node), _relation(before) if before else None))
        return _compare(self.graph, self._warehouse(project), pairs,
                        self._target(project).adapter)

    def _warehouse(self, project: str) -> Warehouse:
        target = self._target(project)
        return Warehouse(self.mesh.project(project).path, target.profiles_dir, CI_TARGET)


def _upstream_projects(graph: MeshGraph, changes: Changes) -> dict[str, set[str]]:
    """project → the other projects owning a built node one of its built nodes reads."""
    found: dict[str, set[str]] = {}
    for uid in changes.reached:
        project = graph.owner[uid]
        for parent in graph.parents.get(uid, []):
            if parent in changes.reached and graph.owner[parent] != project:
                found.setdefault(project, set()).add(graph.owner[parent])
    return found


def _relation(node: Node) -> Relation:
    return Relation(node.database, node.schema_ or "", node.alias or node.name)


def _compare(graph: MeshGraph, warehouse: Warehouse,
             pairs: list[tuple[str, Relation, Relation | None]], adapter: str) -> list[Comparison]:
    comparisons = [Comparison(uid, label(graph, uid), primary_key(graph, uid)) for uid, _, _ in pairs]
    columns = warehouse.run([op for _, pr, prod in pairs for op in
                             ({"columns": pr.triple}, {"columns": (prod or pr).triple})])
    statements: list[str] = []
    spans: list[tuple[int, int, list[str]] | None] = []     # (first statement, count, columns)
    for index, (comparison, (_, pr, prod)) in enumerate(zip(comparisons, pairs, strict=True)):
        after, before = columns[2 * index], columns[2 * index + 1]
        if prod is None or not before:
            comparison.note = "new in this PR: production has no relation to compare with"
            spans.append(None)
            continue
        common = column_changes(comparison, before, after, adapter)
        if comparison.key and not set(comparison.key) <= {c.lower() for c in common}:
            comparison.note = "its key columns changed: rows compared whole"
            comparison.key = None
        retyped = {c[0].lower() for c in comparison.columns_changed}
        sql = comparison_sql(pr, prod, comparison.key, common, retyped)
        spans.append((len(statements), len(sql), common))
        statements += sql
    results = warehouse.run([{"sql": s} for s in statements])
    for comparison, span in zip(comparisons, spans, strict=True):
        if span is not None:
            start, count, common = span
            read_results(comparison, common, results[start:start + count])
    return comparisons
