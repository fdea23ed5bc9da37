"""Where every resource of a project goes when it is split, and what that requires.

Models go to the project of their group (or, with `--select`, to the new project or the one
that keeps the rest). Everything else follows the models that use it:

- seeds and source definitions are copied into every project that reads them (they are
  inputs; a mesh has no cross-project `source()` or seed ref);
- generic tests stay with the resource they test; singular tests, analyses and exposures go
  to the project of the most downstream model they read;
- macros used by one project go there; used by several, they move into the mesh's internal
  package (callers name the package); overrides of dbt's own macros (generate_schema_name, …)
  and generic tests are copied into each project that needs them, since dbt only finds those
  in the project it runs;
- a ref whose target lands in another project becomes a cross-project ref, and its target
  must become public — with a contract where catalog.json knows its column types.

Some things cannot be split, and the plan says so instead of writing half a mesh: a model
without a group (when splitting by group), versions of one model in different groups, a
snapshot or ephemeral model read across projects, a metric measuring models of several
projects (split/semantic.py), and a test that
would make a project wait for itself (a model-level cycle across projects).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from meshkit.dbt.artifacts import Node
from meshkit.graph.cycles import Cycle, cycles, dependency_order
from meshkit.split.refs import dispatched_names, find_refs
from meshkit.split.semantic import assign_semantic_layer
from meshkit.split.source import SourceProject

PACKAGE_KIND = "package"
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass
class Blocker:
    message: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else (f"{self.file}: " if self.file else "")
        return where + self.message + (f"\n    → {self.hint}" if self.hint else "")


@dataclass
class CrossRef:
    consumer: str          # project.name of the resource that refs
    kind: str              # model, test, analysis, exposure, snapshot, unit_test
    producer: str          # project.name of the model it refs
    file: str
    line: int | None
    unique_id: str = ""    # of the resource that refs


@dataclass
class PublicModel:
    """A model another project will ref: it must be public, and should have a contract."""

    project: str
    name: str
    unique_id: str
    access_before: str
    contract: str          # enforced | catalog | unknown | impossible
    detail: str
    columns: list[tuple[str, str]] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    yaml_file: str | None = None

    @property
    def becomes_public(self) -> bool:
        return self.access_before != "public"

    @property
    def adds_contract(self) -> bool:
        return self.contract == "catalog"


@dataclass
class Shared:
    kind: str              # source, seed, macro, doc
    name: str
    destinations: list[str]
    how: str


@dataclass
class NewProject:
    name: str
    groups: list[str] = field(default_factory=list)
    owners: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    upstream: list[str] = field(default_factory=list)
    uses_package: bool = False
    packages: list[str] = field(default_factory=list)      # installed dbt packages it keeps


@dataclass
class SplitPlan:
    source: SourceProject
    by: str
    projects: dict[str, NewProject]
    package: str
    destinations: dict[str, set[str]]          # unique id → projects (or the package)
    model_project: dict[str, str]              # model name → project
    macro_destinations: dict[str, set[str]]    # own macro name → destinations
    package_macros: set[str]
    cross_refs: list[CrossRef] = field(default_factory=list)
    public: list[PublicModel] = field(default_factory=list)
    shared: list[Shared] = field(default_factory=list)
    project_cycles: list[list[str]] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mesh_name: str = ""
    left_out: list[str] = field(default_factory=list)
    copied_models: dict[str, set[str]] = field(default_factory=dict)   # e.g. the time spine

    @property
    def uses_package(self) -> bool:
        return bool(self.package_macros)

    def label(self, unique_id: str) -> str:
        name = _node_name(self.source, unique_id)
        return f"{'/'.join(sorted(self.destinations.get(unique_id, {'?'})))}.{name}"


@dataclass
class SplitOptions:
    by: str = "group"                               # group | select
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    names: dict[str, str] = field(default_factory=dict)     # group → project (by group)
    new_project: str | None = None                  # the selected models' project (by select)
    rest: str | None = None                         # the project keeping the rest (by select)
    package: str | None = None
    mesh_name: str | None = None


def _node_name(source: SourceProject, unique_id: str) -> str:
    m = source.manifest
    for table in (m.nodes, m.sources, m.exposures, m.macros, m.unit_tests):
        if unique_id in table:
            item = table[unique_id]
            if hasattr(item, "source_name"):
                return f"{item.source_name}.{item.name}"
            version = getattr(item, "version", None)
            return f"{item.name}.v{version}" if version not in (None, "") else item.name
    return unique_id.split(".")[-1]


def group_of(node: Node) -> str | None:
    return node.config.group or node.group


def access_of(node: Node) -> str:
    return node.access or node.config.access or "protected"


def project_name(group: str) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", group.lower()).strip("_") or "project"
    return name if not name[0].isdigit() else f"p_{name}"


def folder_home(source: SourceProject, path: str, homes: dict[str, str]) -> str | None:
    """The project owning most models in the nearest folder above `path` that has any.

    `homes` maps a file path (of a model) to its project. A tie, or only the project's root
    folder in common, is no answer.
    """
    folder = PurePosixPath(_within_resource_folder(source, path)).parent
    while str(folder) not in (".", ""):
        prefix = str(folder) + "/"
        counts: dict[str, int] = defaultdict(int)
        for file, project in homes.items():
            if file.startswith(prefix):
                counts[project] += 1
        if counts:
            ranked = sorted(counts.items(), key=lambda kv: -kv[1])
            if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
                return ranked[0][0]
        folder = folder.parent
    return None


def _within_resource_folder(source: SourceProject, path: str) -> str:
    """`macros/marketing/x.sql` → `marketing/x.sql`: domain folders repeat under each resource
    folder (models/marketing, seeds/marketing, macros/marketing, …)."""
    for folders in source.paths.values():
        for folder in folders:
            if folder and path.startswith(folder.rstrip("/") + "/"):
                return path[len(folder.rstrip("/")) + 1:]
    return path


class _Planner:
    def __init__(self, source: SourceProject, options: SplitOptions):
        self.s = source
        self.o = options
        m = source.manifest
        own = source.name
        self.nodes = {uid: n for uid, n in m.nodes.items() if n.package_name == own}
        self.disabled = [n for nodes in m.disabled.values() for n in nodes if n.package_name == own]
        self.disabled_ids = {n.unique_id for n in self.disabled}
        self.sources = {uid: s for uid, s in m.sources.items() if s.package_name == own}
        self.exposures = {uid: e for uid, e in m.exposures.items() if e.package_name == own}
        self.macros = {uid: mc for uid, mc in m.macros.items() if mc.package_name == own}
        self.unit_tests = {uid: u for uid, u in m.unit_tests.items() if u.package_name == own}
        self.docs = {uid: d for uid, d in m.docs.items() if d.package_name == own}
        self.dest: dict[str, set[str]] = {}
        self.blockers: list[Blocker] = []
        self.warnings: list[str] = []
        self.upstream: dict[str, set[str]] = defaultdict(set)
        self.macro_users: dict[str, set[str]] = {}
        self.copied_models: dict[str, set[str]] = {}   # model name → every project with a copy
        self.children: dict[str, list[str]] = defaultdict(list)
        for uid, node in self.nodes.items():
            for parent in node.depends_on.nodes:
                self.children[parent].append(uid)

    # -- helpers ---------------------------------------------------------------------------------
    def kind(self, uid: str) -> str:
        node = self.nodes.get(uid)
        return node.resource_type if node else uid.split(".")[0]

    def ancestors(self, uid: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.nodes[uid].depends_on.nodes) if uid in self.nodes else []
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if current in self.nodes:
                stack.extend(self.nodes[current].depends_on.nodes)
        return seen

    def model_homes_by_file(self) -> dict[str, str]:
        """Each model's path inside its model folder → its project."""
        return {_within_resource_folder(self.s, n.original_file_path): next(iter(self.dest[uid]))
                for uid, n in self.nodes.items() if n.resource_type == "model" and uid in self.dest}

    # -- steps -------------------------------------------------------------------------------------
    def run(self) -> SplitPlan:
        self.refuse_unsupported()
        names = self.assign_models()
        self.assign_snapshots_and_seeds()
        self.assign_leaves()
        self.assign_sources()
        self.assign_raw_data()
        assign_semantic_layer(self)
        macro_dest, package_macros = self.assign_macros(names)
        package = self.o.package or f"{self.s.name}_utils"
        plan = SplitPlan(source=self.s, by=self.o.by, projects={}, package=package,
                         destinations=self.dest, model_project={}, macro_destinations=macro_dest,
                         package_macros=package_macros, blockers=self.blockers,
                         warnings=self.warnings, copied_models=self.copied_models)
        plan.mesh_name = self.o.mesh_name or f"{self.s.name.replace('_', '-')}-mesh"
        for uid, node in self.nodes.items():
            if node.resource_type == "model" and uid in self.dest:
                plan.model_project[node.name] = next(iter(self.dest[uid]))
        for node in self.disabled:
            if node.resource_type == "model" and node.unique_id in self.dest:
                plan.model_project.setdefault(node.name, next(iter(self.dest[node.unique_id])))
        self.cross_project(plan)
        self.check_cycles(plan)
        self.describe(plan, names)
        if package in plan.projects:
            self.blockers.append(Blocker(f"the internal package's name '{package}' is also a project's",
                                         hint="choose another with --package NAME"))
        return plan

    def refuse_unsupported(self) -> None:
        m, own = self.s.manifest, self.s.name
        for label, table in (("functions", m.functions),):
            mine = sorted(uid.split(".")[-1] for uid in table if uid.split(".")[1:2] == [own])
            if mine:
                self.blockers.append(Blocker(
                    f"the project defines {label} ({', '.join(mine)}), which meshkit split does not move",
                    hint="move them by hand after the split, or remove them before splitting"))

    def assign_models(self) -> dict[str, str]:
        """Each model's project; returns group → project name (by group)."""
        models = [n for n in self.nodes.values() if n.resource_type == "model"]
        models += [n for n in self.disabled if n.resource_type == "model"]
        names: dict[str, str] = {}
        if self.o.by == "group":
            missing = []
            for node in models:
                group = group_of(node)
                if not group:
                    if node.unique_id not in self.disabled_ids:
                        missing.append(node)
                    continue
                project = self.o.names.get(group) or project_name(group)
                names[group] = project
                self.dest[node.unique_id] = {project}
            for group in self.o.names:
                if group not in self.s.groups:
                    self.blockers.append(Blocker(f"--name {group}=…: the project has no group '{group}'",
                                                 hint="groups: " + ", ".join(sorted(self.s.groups))))
            if missing:
                shown = ", ".join(f"{n.name} ({n.original_file_path})" for n in
                                  sorted(missing, key=lambda n: n.original_file_path)[:12])
                more = f" and {len(missing) - 12} more" if len(missing) > 12 else ""
                self.blockers.append(Blocker(
                    f"{len(missing)} model(s) belong to no group, so no project can be chosen for "
                    f"them: {shown}{more}",
                    hint="give every model a group first (`+group:` on its folder in "
                         "dbt_project.yml, or `group:` in its YAML); `meshkit groups` lists them"))
        else:
            from meshkit.graph.mesh_graph import MeshGraph, ProjectState
            from meshkit.graph.selection import Selector

            graph = MeshGraph()
            graph.add_project(ProjectState(self.s.name, self.s.manifest))
            chosen = Selector(graph).select(self.o.select, self.o.exclude,
                                            frozenset({"model", "seed", "snapshot"}))
            new, rest = self.o.new_project, self.o.rest or self.s.name
            if not any(self.nodes[u].resource_type == "model" for u in chosen if u in self.nodes):
                self.blockers.append(Blocker("the selection matches no model",
                                             hint="check the --select expression (dbt's syntax)"))
            for node in models:
                self.dest[node.unique_id] = {new if node.unique_id in chosen else rest}
            for uid in chosen:
                if self.kind(uid) in ("seed", "snapshot"):
                    self.dest[uid] = {new}
            if new == rest:
                self.blockers.append(Blocker(f"the selected models and the rest would both be '{new}'",
                                             hint="name the new project with --name NAME, or the rest with --rest"))
        for project in {p for d in self.dest.values() for p in d}:
            if not _NAME_RE.match(project):
                self.blockers.append(Blocker(f"'{project}' is not a valid dbt project name",
                                             hint="use lower-case letters, digits and underscores"))
        self.check_versions(models)
        self.check_name_collisions(names)
        return names

    def check_versions(self, models: list[Node]) -> None:
        by_name: dict[str, set[str]] = defaultdict(set)
        for node in models:
            if node.unique_id in self.dest:
                by_name[node.name] |= self.dest[node.unique_id]
        for name, projects in sorted(by_name.items()):
            if len(projects) > 1:
                node = next(n for n in models if n.name == name)
                self.blockers.append(Blocker(
                    f"the versions of model '{name}' would land in different projects "
                    f"({', '.join(sorted(projects))})", file=node.patch_path and node.patch_path.split("://")[-1],
                    hint="give every version of a model the same group"))

    def check_name_collisions(self, names: dict[str, str]) -> None:
        by_project: dict[str, list[str]] = defaultdict(list)
        for group, project in names.items():
            by_project[project].append(group)
        for project, groups in by_project.items():
            if len(groups) > 1:
                self.blockers.append(Blocker(
                    f"groups {', '.join(sorted(groups))} would all become project '{project}'",
                    hint="name them apart with --name GROUP=PROJECT"))

    def home_of(self, node: Node) -> str | None:
        """A non-model resource's project by its own group (by group) — if it has one."""
        if self.o.by != "group":
            return None
        group = group_of(node)
        if group and group in self.s.groups:
            return self.o.names.get(group) or project_name(group)
        return None

    def input_home(self, node: Node) -> str | None:
        """A seed's or snapshot's own project: by group, its group's; with --select, the new
        project's when selected, else the rest's (what is not split off stays)."""
        if self.o.by == "group":
            return self.home_of(node)
        chosen = self.dest.get(node.unique_id)
        return next(iter(chosen)) if chosen else (self.o.rest or self.s.name)

    def assign_snapshots_and_seeds(self) -> None:
        homes = self.model_homes_by_file()
        snapshots = [n for n in self.nodes.values() if n.resource_type == "snapshot"]
        for node in snapshots:
            if node.unique_id in self.dest:
                continue
            home = self.home_of(node)
            readers = {p for c in self.children.get(node.unique_id, [])
                       if self.nodes[c].resource_type == "model" for p in self.dest.get(c, set())}
            if home is None:
                home = next(iter(readers)) if len(readers) == 1 else None
            if home is None and not readers:
                home = folder_home(self.s, node.original_file_path, homes) or self._sole_project() \
                    or (self.input_home(node) if self.o.by == "select" else None)
            if home is None:
                self.blockers.append(Blocker(
                    f"snapshot '{node.name}' has no group and is read by several projects "
                    f"({', '.join(sorted(readers))})", file=node.original_file_path,
                    hint="give it a group; other projects then read it through a public model"))
                continue
            self.dest[node.unique_id] = {home}
        for node in snapshots:
            if node.unique_id not in self.dest:
                continue
            home = next(iter(self.dest[node.unique_id]))
            others = {p for c in self.children.get(node.unique_id, [])
                      if self.nodes[c].resource_type in ("model", "snapshot")
                      for p in self.dest.get(c, set())} - {home}
            if others:
                self.blockers.append(Blocker(
                    f"snapshot '{node.name}' ({home}) is read by models of {', '.join(sorted(others))}; "
                    f"a snapshot cannot be shared across projects", file=node.original_file_path,
                    hint=f"add a public model in {home} that selects from it, and ref that instead"))
        by_table = self.source_readers_by_table()
        for node in self.nodes.values():
            if node.resource_type != "seed":
                continue
            home = self.input_home(node) if self.o.by == "group" or node.unique_id in self.dest else None
            projects = {p for c in self.children.get(node.unique_id, [])
                        if self.nodes[c].resource_type in ("model", "snapshot")
                        for p in self.dest.get(c, set())}
            # Raw data as a seed that models read through a source: it goes where they are.
            projects |= by_table.get((node.alias or node.name).lower(), set())
            if home:
                projects.add(home)
            if not projects:
                fallback = self.input_home(node) if self.o.by == "select" else \
                    folder_home(self.s, node.original_file_path, homes) or self._sole_project()
                if fallback is None:
                    self.blockers.append(Blocker(
                        f"seed '{node.name}' has no group and nothing reads it", file=node.original_file_path,
                        hint="give it a group (`+group:` for its folder under `seeds:` in dbt_project.yml)"))
                    continue
                projects = {fallback}
            self.dest[node.unique_id] = projects

    def source_readers_by_table(self) -> dict[str, set[str]]:
        """Table name (a source's identifier) → the projects of the models and snapshots that
        read it through `source()`."""
        found: dict[str, set[str]] = defaultdict(set)
        for uid, source in self.sources.items():
            for child in self.children.get(uid, []):
                if self.nodes[child].resource_type in ("model", "snapshot"):
                    found[(source.identifier or source.name).lower()] |= self.dest.get(child, set())
        return found

    def _sole_project(self) -> str | None:
        projects = {p for d in self.dest.values() for p in d}
        return next(iter(projects)) if len(projects) == 1 else None

    def place_by_parents(self, node_id: str, parents: list[str], fallback_path: str) -> str | None:
        """The project of the most downstream of these parents (models or snapshots)."""
        placed = [p for p in parents if p in self.dest and self.kind(p) in ("model", "snapshot")]
        if not placed:
            placed = [p for p in parents if p in self.dest]
        if not placed:
            return folder_home(self.s, fallback_path, self.model_homes_by_file()) or self._sole_project()
        ancestors = {p: self.ancestors(p) for p in placed}
        sinks = [p for p in placed if not any(p in ancestors[o] for o in placed if o != p)]
        counts: dict[str, int] = defaultdict(int)
        for p in sinks:
            for project in self.dest[p]:
                counts[project] += 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]

    def assign_leaves(self) -> None:
        """Tests, analyses, exposures and unit tests follow what they read."""
        for uid, node in self.nodes.items():
            if node.resource_type not in ("analysis", "test") or uid in self.dest:
                continue
            if node.resource_type == "test" and node.test_metadata is not None:
                target = node.attached_node
                if target is None:
                    continue    # a test of a source table: it travels inside the source's YAML
                if self.dest.get(target):
                    self.dest[uid] = set(self.dest[target])
                continue
            home = self.home_of(node) or self.place_by_parents(uid, node.depends_on.nodes,
                                                               node.original_file_path)
            if home is None:
                self.blockers.append(Blocker(f"no project can be chosen for {node.resource_type} "
                                             f"'{node.name}'", file=node.original_file_path,
                                             hint="give it a group"))
                continue
            self.dest[uid] = {home}
        for uid, exposure in self.exposures.items():
            home = self.place_by_parents(uid, exposure.depends_on.nodes, exposure.original_file_path)
            if home:
                self.dest[uid] = {home}
        for uid, test in self.unit_tests.items():
            model = next((p for p in test.depends_on.nodes if p.startswith("model.")
                          and self.nodes.get(p) is not None and self.nodes[p].name == test.model), None)
            if model and model in self.dest:
                self.dest[uid] = set(self.dest[model])
        # Seeds read only by tests or analyses travel with them too.
        for uid, node in self.nodes.items():
            if node.resource_type in ("analysis", "test") and uid in self.dest:
                for parent in node.depends_on.nodes:
                    if self.kind(parent) == "seed" and parent in self.dest:
                        self.dest[parent] |= self.dest[uid]
        for node in self.disabled:
            if node.unique_id not in self.dest and node.resource_type != "seed":
                home = self.home_of(node) or folder_home(self.s, node.original_file_path,
                                                         self.model_homes_by_file())
                if home:
                    self.dest[node.unique_id] = {home}

    def assign_sources(self) -> None:
        homes = self.model_homes_by_file()
        by_source: dict[str, set[str]] = defaultdict(set)
        for uid, source in self.sources.items():
            readers: set[str] = set()
            for child in self.children.get(uid, []):
                node = self.nodes[child]
                if node.resource_type == "test" and node.test_metadata is not None and node.attached_node is None:
                    continue    # the source's own tests
                readers |= self.dest.get(child, set())
            for exposure in self.exposures.values():
                if uid in exposure.depends_on.nodes:
                    readers |= self.dest.get(exposure.unique_id, set())
            if readers:
                self.dest[uid] = readers
                by_source[source.source_name] |= readers
        for uid, source in self.sources.items():
            if uid in self.dest:
                continue
            siblings = by_source.get(source.source_name)
            home = (sorted(siblings)[0] if siblings and len(siblings) == 1 else None) \
                or folder_home(self.s, source.original_file_path, homes) or self._sole_project()
            if home is None and siblings:
                home = sorted(siblings)[0]
            if home is None:
                self.warnings.append(f"source {source.source_name}.{source.name} is read by nothing "
                                     f"and no project is its obvious home: left out")
                continue
            self.dest[uid] = {home}

    def assign_raw_data(self) -> None:
        """Seeds disabled by default hold raw data loaded by hand (`dbt seed --vars …`): each
        goes to its group's project and to the projects whose sources read its table, else to
        its folder's project, else to every project — raw CSVs are never lost. Sources that read the
        monolith's own database (tables no enabled seed or model of the project builds) are
        flagged: each split project writes a new database file, which lacks them."""
        readers_of = self.source_readers_by_table()
        everywhere = {p for uid, d in self.dest.items() if uid.startswith(("model.", "seed."))
                      for p in d}
        homes = self.model_homes_by_file()
        for node in self.disabled:
            if node.resource_type != "seed" or node.unique_id in self.dest:
                continue
            group_home = self.home_of(node)
            projects = set(readers_of.get((node.alias or node.name).lower(), set())) | (
                {group_home} if group_home else set())
            if not projects:
                home = folder_home(self.s, node.original_file_path, homes)
                projects = {home} if home else set(everywhere)
            if projects:
                self.dest[node.unique_id] = set(projects)
        fed = sorted(n.name for n in self.nodes.values() if n.resource_type == "seed"
                     and (n.alias or n.name).lower() in readers_of
                     and not any(self.kind(c) in ("model", "snapshot") for c in self.children.get(n.unique_id, [])))
        if fed:
            self.warnings.append(
                f"the seeds {', '.join(fed)} are read through source(), not ref(), so dbt does not "
                f"build them before their readers: load them first with `meshkit build --select "
                f"resource_type:seed`, then run `meshkit build`")
        own_db = self._own_database()
        built = {(n.alias or n.name).lower() for n in self.nodes.values()
                 if n.resource_type in ("seed", "model", "snapshot")}
        loaded_by_hand = {(n.alias or n.name).lower(): n for n in self.disabled if n.resource_type == "seed"}
        for uid, source in sorted(self.sources.items()):
            table = (source.identifier or source.name).lower()
            if not own_db or (source.database or "").lower() != own_db.lower() or table in built:
                continue
            where = ", ".join(sorted(self.dest.get(uid, set()))) or "no project"
            seed = loaded_by_hand.get(table)
            how = (f"the seed {seed.name} (disabled by default) is copied into {where}: load it there "
                   f"as you loaded it into the monolith" if seed else
                   "load it into the database of each project that reads it, or attach the "
                   "monolith's file read-only and give the source that `database:`")
            self.warnings.append(f"source {source.source_name}.{source.name} reads {source.schema_}."
                                 f"{source.identifier or source.name} from the monolith's own "
                                 f"database '{own_db}', which no split project writes (it is defined "
                                 f"in {where}): {how}")

    def _own_database(self) -> str | None:
        """The database the monolith's models are built in (its default target's)."""
        counts: dict[str, int] = defaultdict(int)
        for node in self.nodes.values():
            if node.resource_type in ("model", "seed") and node.database:
                counts[node.database] += 1
        return max(counts, key=counts.get) if counts else None

    def assign_macros(self, names: dict[str, str]) -> tuple[dict[str, set[str]], set[str]]:
        m = self.s.manifest
        adapter = self.s.adapter
        # Macros of dbt itself and of the adapter: a project macro of the same name overrides them.
        builtin = {mc.name for mc in m.macros.values() if mc.package_name in ("dbt", f"dbt_{adapter}")}
        own_by_id = self.macros
        callees: dict[str, set[str]] = {uid: {c for c in mc.depends_on.macros if c in own_by_id}
                                        for uid, mc in own_by_id.items()}
        # adapter.dispatch('m') runs `<adapter>__m` or `default__m`: they go where m goes.
        for uid, mc in own_by_id.items():
            for name in dispatched_names(mc.macro_sql):
                callees[uid] |= {c for c, other in own_by_id.items()
                                 if other.name.endswith(f"__{name}") and c != uid}

        def closure(start: list[str]) -> set[str]:
            seen: set[str] = set()
            stack = [c for c in start if c in own_by_id]
            while stack:
                current = stack.pop()
                if current not in seen:
                    seen.add(current)
                    stack.extend(callees.get(current, ()))
            return seen

        users: dict[str, set[str]] = defaultdict(set)
        items: list[tuple[list[str], set[str]]] = []
        for uid, node in self.nodes.items():
            items.append((node.depends_on.macros, self.dest.get(uid, set())))
        for uid, test in self.unit_tests.items():
            items.append((test.depends_on.macros, self.dest.get(uid, set())))
        for macros, projects in items:
            for macro in closure(macros):
                users[macro] |= projects
        all_projects = {p for d in self.dest.values() for p in d}
        hooks_text = self.s.config_text
        for uid, macro in own_by_id.items():
            if re.search(rf"(?<![\w.]){re.escape(macro.name)}\s*\(", hooks_text):
                users[uid] |= all_projects
        homes = self.model_homes_by_file()
        dest: dict[str, set[str]] = {}
        package_ids: set[str] = set()
        for uid, macro in own_by_id.items():
            name = macro.name
            if name in builtin or name.startswith("materialization_"):
                dest[uid] = set(all_projects)
            elif name.startswith("test_") or "{% test" in macro.macro_sql or "{%- test" in macro.macro_sql:
                dest[uid] = users[uid] or {folder_home(self.s, macro.original_file_path, homes)} - {None} \
                    or set(all_projects)
            elif len(users[uid]) > 1:
                package_ids.add(uid)
            elif len(users[uid]) == 1:
                dest[uid] = set(users[uid])
            else:
                home = folder_home(self.s, macro.original_file_path, homes)
                if home:
                    dest[uid] = {home}
                else:
                    package_ids.add(uid)
        # What a package macro calls must be in the package too.
        changed = True
        while changed:
            changed = False
            for uid in list(package_ids):
                for callee in callees.get(uid, ()):
                    name = own_by_id[callee].name
                    if callee not in package_ids and not (name in builtin or name.startswith(("test_", "materialization_"))):
                        package_ids.add(callee)
                        dest.pop(callee, None)
                        changed = True
        package = self.o.package or f"{self.s.name}_utils"
        for uid in package_ids:
            dest[uid] = {package}
        for uid, macro in own_by_id.items():
            if len(dest.get(uid, ())) == 1 and uid not in package_ids:
                continue    # one home: its refs are rewritten for that project
            if any(ref is not None for ref, _ in find_refs(macro.macro_sql)):
                self.warnings.append(f"macro {macro.name} ({macro.original_file_path}) calls ref(); "
                                     f"check it still resolves in {', '.join(sorted(dest.get(uid, ())))}")
        for uid in dest:
            self.dest[uid] = dest[uid]
        self.macro_users = {own_by_id[uid].name: projects for uid, projects in users.items()}
        return ({own_by_id[uid].name: d for uid, d in dest.items()},
                {own_by_id[uid].name for uid in package_ids})

    # -- consequences ---------------------------------------------------------------------------
    def cross_project(self, plan: SplitPlan) -> None:
        readers: dict[str, set[str]] = defaultdict(set)
        resources: list[tuple[str, str, list[str], str]] = []
        for uid, node in self.nodes.items():
            if node.resource_type in ("model", "snapshot", "analysis", "test"):
                resources.append((uid, node.resource_type, node.depends_on.nodes, node.original_file_path))
        for uid, exposure in self.exposures.items():
            resources.append((uid, "exposure", exposure.depends_on.nodes, exposure.original_file_path))
        for uid, test in self.unit_tests.items():
            resources.append((uid, "unit_test", test.depends_on.nodes, test.original_file_path))
        texts: dict[str, str] = {}
        upstream: dict[str, set[str]] = defaultdict(set)
        for uid, kind, parents, file in resources:
            for consumer_project in sorted(self.dest.get(uid, set())):
                for parent in parents:
                    pnode = self.nodes.get(parent)
                    if pnode is None or pnode.resource_type != "model" or parent not in self.dest:
                        continue
                    producer = next(iter(self.dest[parent]))
                    if producer == consumer_project:
                        continue
                    if kind == "test" and self.nodes[uid].attached_node == parent:
                        continue
                    if file not in texts:
                        try:
                            texts[file] = self.s.read(file)
                        except OSError:
                            texts[file] = ""
                    line = next((ln for ref, ln in find_refs(texts[file])
                                 if ref is not None and ref.name == pnode.name), None)
                    plan.cross_refs.append(CrossRef(f"{consumer_project}.{_node_name(self.s, uid)}", kind,
                                                    f"{producer}.{pnode.name}", file, line, uid))
                    readers[parent].add(f"{consumer_project}.{_node_name(self.s, uid)}")
                    upstream[consumer_project].add(producer)
                    if pnode.config.materialized == "ephemeral":
                        self.blockers.append(Blocker(
                            f"{consumer_project}.{_node_name(self.s, uid)} reads the ephemeral model "
                            f"{producer}.{pnode.name}; an ephemeral model has no table another project "
                            f"could read", file=file, line=line,
                            hint=f"materialize {pnode.name} as a view or table, or put both in one group"))
        seen_names: set[str] = set()
        for parent in sorted(readers, key=lambda u: self.nodes[u].name):
            node = self.nodes[parent]
            if node.name in seen_names:
                continue
            seen_names.add(node.name)
            plan.public.append(self.public_model(node, sorted(readers[parent])))
        self.upstream = upstream

    def public_model(self, node: Node, readers: list[str]) -> PublicModel:
        project = next(iter(self.dest[node.unique_id]))
        yaml_file = node.patch_path.split("://", 1)[-1] if node.patch_path else None
        before = access_of(node)
        public = PublicModel(project, node.name, node.unique_id, before, "unknown", "",
                             readers=readers, yaml_file=yaml_file)
        if node.config.contract.enforced:
            public.contract, public.detail = "enforced", "has an enforced contract"
        elif node.version is not None:
            public.contract, public.detail = "unknown", "versioned: add the contract to each version by hand"
        elif (node.language or "sql") != "sql":
            public.contract, public.detail = "impossible", "Python models cannot have contracts"
        elif node.config.materialized not in ("table", "view", "incremental", None):
            public.contract, public.detail = "impossible", \
                f"materialized as {node.config.materialized}, which contracts do not support"
        else:
            entry = self.s.catalog.nodes.get(node.unique_id) if self.s.catalog else None
            if entry is None or not entry.columns:
                public.detail = ("types unknown: catalog.json lacks it (run `dbt docs generate`)"
                                 if self.s.catalog else "types unknown: no catalog.json "
                                 "(run `dbt docs generate` in the project, or pass --catalog)")
            else:
                columns = sorted(entry.columns.values(), key=lambda c: c.index)
                known = {c.name.lower() for c in columns}
                stale = [name for name in node.columns if name.lower() not in known]
                if stale:
                    public.detail = (f"its YAML documents columns the table lacks ({', '.join(stale)}): "
                                     f"fix them, then add the contract")
                else:
                    public.contract = "catalog"
                    public.columns = [(c.name, c.type.lower()) for c in columns]
                    public.detail = f"contract from catalog.json ({len(columns)} columns)"
        return public

    def check_cycles(self, plan: SplitPlan) -> None:
        """A test of one project that reads a model built downstream of the model it tests
        makes that project's build wait for itself: a model-level cycle across projects."""
        executable = {uid for uid, n in self.nodes.items() if n.resource_type in ("model", "snapshot")
                      and uid in self.dest}
        edges: dict[str, set[str]] = {uid: {p for p in self.nodes[uid].depends_on.nodes if p in executable}
                                      for uid in executable}
        through: dict[tuple[str, str], str] = {}
        for uid, node in self.nodes.items():
            if node.resource_type != "test" or not self.dest.get(uid):
                continue
            project = next(iter(self.dest[uid]))
            parents = [p for p in node.depends_on.nodes if p in executable]
            local = [p for p in parents if project in self.dest[p]]
            remote = [p for p in parents if project not in self.dest[p]]
            for p in local:
                for q in remote:
                    if q not in edges[p]:        # only the waits a test adds, not real refs
                        edges[p].add(q)
                        through[(p, q)] = node.name   # p waits for q
        try:
            dependency_order({uid: sorted(parents) for uid, parents in sorted(edges.items())})
        except Cycle as exc:
            cycle = exc.path
            labels = [plan.label(u) for u in cycle]
            tests = [f"{through[(a, b)]}" for a, b in zip(cycle, cycle[1:]) if (a, b) in through]
            test_note = f" (the test {tests[0]} waits for it)" if tests else ""
            node = self.nodes.get(next((a for a, b in zip(cycle, cycle[1:]) if (a, b) in through), cycle[0]))
            self.blockers.append(Blocker(
                f"the split would create a model-level cycle across projects: {' → '.join(labels)}{test_note}",
                file=next((self.nodes[t].original_file_path for t in self.nodes
                           if self.nodes[t].name in tests[:1]), node.original_file_path if node else None),
                hint="a test may only read another project's models that do not depend on the model "
                     "it tests: move the test into the other project (as a singular test), or put "
                     "these models in one group"))

    def describe(self, plan: SplitPlan, names: dict[str, str]) -> None:
        upstream = self.upstream
        projects = sorted({p for uid, d in self.dest.items() if not uid.startswith("macro.")
                           for p in d} | {p for p in names.values()})
        for project in projects:
            new = NewProject(project)
            new.groups = sorted(g for g, p in names.items() if p == project) if self.o.by == "group" else \
                sorted({group_of(self.nodes[u]) for u in self.nodes if project in self.dest.get(u, set())
                        and group_of(self.nodes[u])})
            new.owners = [dict(self.s.groups[g]) for g in new.groups if g in self.s.groups]
            counts: dict[str, int] = defaultdict(int)
            for uid, d in self.dest.items():
                if project in d:
                    counts[uid.split(".")[0]] += 1
            new.counts = dict(counts)
            new.upstream = sorted(upstream.get(project, set()) - {project})
            new.uses_package = any(project in self.macro_users.get(name, set())
                                   for name in plan.package_macros)
            plan.projects[project] = new
        plan.project_cycles = cycles({p: set(n.upstream) for p, n in plan.projects.items()})
        for uid, dests in self.dest.items():
            if len(dests) < 2:
                continue
            kind = uid.split(".")[0]
            if kind == "source":
                plan.shared.append(Shared("source", _node_name(self.s, uid), sorted(dests), "defined in each"))
            elif kind == "seed":
                plan.shared.append(Shared("seed", _node_name(self.s, uid), sorted(dests), "copied into each"))
            elif kind == "macro":
                plan.shared.append(Shared("macro", _node_name(self.s, uid), sorted(dests),
                                          "copied into each (dbt only finds it in the project it runs)"))
        for name in sorted(plan.package_macros):
            plan.shared.append(Shared("macro", name, [plan.package], "moved to the internal package"))
        for public in plan.public:
            if public.becomes_public and re.match(r"^(stg_|base_|int_)", public.name):
                self.warnings.append(f"{public.project}.{public.name} looks like a staging or intermediate "
                                     f"model; other projects read it, so it becomes public. Consider "
                                     f"giving them a mart to read instead")


def make_plan(source: SourceProject, options: SplitOptions) -> SplitPlan:
    return _Planner(source, options).run()
