"""What the split stages read and fill in: the project's own resources, and the plan so far.

Each stage (stages/__init__.py lists them in order) reads the project through a `Split` and
writes its decisions into it: `dest` (unique id → projects), blockers, warnings, and the
`SplitPlan` that `make_plan` returns.
"""

from __future__ import annotations

from collections import defaultdict

from meshkit.dbt.artifacts import Node
from meshkit.dbt.nodes import group_of
from meshkit.split.plan import (
    Blocker,
    SplitOptions,
    SplitPlan,
    project_name,
    within_resource_folder,
)
from meshkit.split.source import SourceProject


class Split:
    """One project being split: its own resources by unique id, and the plan being built.

    `dest`, `blockers`, `warnings` and `copied_models` are the plan's own containers, so what a
    stage records is in the plan returned.
    """

    def __init__(self, source: SourceProject, options: SplitOptions):
        self.source = source
        self.options = options
        m, own = source.manifest, source.name
        self.nodes = {uid: n for uid, n in m.nodes.items() if n.package_name == own}
        self.disabled = [n for nodes in m.disabled.values() for n in nodes if n.package_name == own]
        self.disabled_ids = {n.unique_id for n in self.disabled}
        self.sources = {uid: s for uid, s in m.sources.items() if s.package_name == own}
        self.exposures = {uid: e for uid, e in m.exposures.items() if e.package_name == own}
        self.macros = {uid: mc for uid, mc in m.macros.items() if mc.package_name == own}
        self.unit_tests = {uid: u for uid, u in m.unit_tests.items() if u.package_name == own}
        self.plan = SplitPlan(
            source=source, by=options.by, projects={}, package=options.package or f"{own}_utils",
            destinations={}, model_project={}, macro_destinations={}, package_macros=set(),
            mesh_name=options.mesh_name or f"{own.replace('_', '-')}-mesh")
        self.dest: dict[str, set[str]] = self.plan.destinations
        self.blockers: list[Blocker] = self.plan.blockers
        self.warnings: list[str] = self.plan.warnings
        self.copied_models: dict[str, set[str]] = self.plan.copied_models  # name → projects
        self.names: dict[str, str] = {}                  # group → project (by group)
        self.upstream: dict[str, set[str]] = defaultdict(set)
        self.macro_users: dict[str, set[str]] = {}       # macro name → projects calling it
        self.children: dict[str, list[str]] = defaultdict(list)
        for uid, node in self.nodes.items():
            for parent in node.depends_on.nodes:
                self.children[parent].append(uid)

    def kind(self, uid: str) -> str:
        node = self.nodes.get(uid)
        return node.resource_type if node else uid.split(".")[0]

    def models(self) -> list[Node]:
        """Enabled models, then disabled ones (they move with their group too)."""
        return ([n for n in self.nodes.values() if n.resource_type == "model"]
                + [n for n in self.disabled if n.resource_type == "model"])

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

    def projects(self) -> set[str]:
        return {p for d in self.dest.values() for p in d}

    def sole_project(self) -> str | None:
        projects = self.projects()
        return next(iter(projects)) if len(projects) == 1 else None

    def model_homes_by_file(self) -> dict[str, str]:
        """Each model's path inside its model folder → its project."""
        return {within_resource_folder(self.source, n.original_file_path): next(iter(self.dest[uid]))
                for uid, n in self.nodes.items() if n.resource_type == "model" and uid in self.dest}

    def home_of(self, node: Node) -> str | None:
        """A non-model resource's project by its own group (by group) — if it has one."""
        if self.options.by != "group":
            return None
        group = group_of(node)
        if group and group in self.source.groups:
            return self.options.names.get(group) or project_name(group)
        return None

    def input_home(self, node: Node) -> str | None:
        """A seed's or snapshot's own project: by group, its group's; with --select, the new
        project's when selected, else the rest's (what is not split off stays)."""
        if self.options.by == "group":
            return self.home_of(node)
        chosen = self.dest.get(node.unique_id)
        return next(iter(chosen)) if chosen else (self.options.rest or self.source.name)

    def readers(self, uid: str, kinds: tuple[str, ...]) -> set[str]:
        """The projects of the children of `uid` of these resource types."""
        return {p for c in self.children.get(uid, []) if self.nodes[c].resource_type in kinds
                for p in self.dest.get(c, set())}

    def source_readers_by_table(self) -> dict[str, set[str]]:
        """Table name (a source's identifier) → the projects of the models and snapshots that
        read it through `source()`."""
        found: dict[str, set[str]] = defaultdict(set)
        for uid, source in self.sources.items():
            for child in self.children.get(uid, []):
                if self.nodes[child].resource_type in ("model", "snapshot"):
                    found[(source.identifier or source.name).lower()] |= self.dest.get(child, set())
        return found
