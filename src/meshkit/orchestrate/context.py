"""What planning knows before any project is parsed: the options, the environment and its
projects, the selection, what the store has published and each model's last known state."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import msgspec

from meshkit.config import Environment, Mesh
from meshkit.config.dbt_vars import DbtVars
from meshkit.config.dependencies import declared_projects
from meshkit.config.package_hack import refuse_package_hack
from meshkit.config.selector_syntax import Expression
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.graph.projects import project_dependencies
from meshkit.orchestrate.history import History, ModelState
from meshkit.orchestrate.state import StateInputs
from meshkit.store.interface import Interface, extract_interface, interface_changes
from meshkit.store.resolve import producer_environment
from meshkit.store.store import Store


@dataclass
class BuildOptions:
    env: str | None = None
    select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    full: bool = False               # ignore state: rebuild everything selected
    full_refresh: bool = False       # pass --full-refresh to dbt
    workers: int = 2
    verify_relations: bool = False   # ask the warehouse whether reused models' relations exist
    generate_docs: bool = False      # run `dbt docs generate` before publishing each project
    threads: int | None = None       # dbt --threads (default: the profile's)
    vars: DbtVars = field(default_factory=DbtVars)   # dbt --vars, for every dbt the build starts
    wait: bool = True                # another build holds a project: wait (False: refuse)
    on_wait: Callable[[str], None] | None = None   # told once what the build waits for
    kind: str = "build"              # runs.kind: build, or job for a job's build
    command: str | None = None       # runs.command (default: this process's command line)
    before_publish: Callable[[str, Path], None] | None = None  # (project, target dir) hook
    on_start: Callable[[int], None] | None = None   # told the run's runs.id once it is recorded


@dataclass
class PlanningContext:
    env: Environment
    store: Store
    names: list[str]                 # the projects of this environment
    select: list[str] | None
    exclude: list[str] | None
    states: dict[str, ModelState]
    unpublished: set[str]
    producer_envs: dict[str, str]    # project → the environment its consumers read
    available: set[str]              # public models readable from the store
    full: bool
    published: dict[str, Interface] = field(default_factory=dict)  # each project's, in env
    interface_changes: dict[str, str] = field(default_factory=dict)  # filled as projects parse
    dbt_vars: DbtVars = field(default_factory=DbtVars)   # --vars: parse, freshness, build

    def modified(self, fingerprints: dict[str, str]) -> set[str]:
        """state:modified — nodes never built here, whose code or config changed, or whose
        published interface entry is out of date."""
        return {uid for uid, fp in fingerprints.items()
                if uid not in self.states or self.states[uid].fingerprint != fp} \
            | set(self.interface_changes)

    def state_inputs(self, fingerprints: dict[str, str]) -> StateInputs:
        return StateInputs(self.states, fingerprints, full=self.full, unpublished=self.unpublished,
                           interface_changes=self.interface_changes)

    def upstream_key(self, mesh: Mesh, project: str) -> str:
        """A digest of the interfaces the project's declared upstreams publish now, read live
        (what its parse resolves cross-project refs against)."""
        digest = hashlib.sha256()
        for producer in sorted(declared_projects(mesh.project(project).path)):
            env = self.producer_envs.get(producer) or producer_environment(
                mesh, self.env, producer, self.store)
            try:
                found = self.store.interface(producer, env)
            except MeshError:
                found = None
            digest.update(producer.encode() + b"\0")
            if found:
                digest.update(msgspec.json.encode([found[1].models, found[1].restricted]))
        return digest.hexdigest()[:16]

    def compare_interface(self, graph: MeshGraph, project: str) -> None:
        """Note which of a parsed project's models its published interface describes wrongly:
        whatever a consumer's compile reads is state, so those are rebuilt and republished."""
        manifest = graph.projects[project].manifest
        ids_by_name: dict[str, list[str]] = {}
        for uid, node in manifest.nodes.items():
            if node.resource_type == "model" and graph.owner.get(uid) == project:
                ids_by_name.setdefault(node.name, []).append(uid)
        self.interface_changes.update(interface_changes(
            self.published.get(project), extract_interface(manifest, project), ids_by_name))


def planning_context(mesh: Mesh, options: BuildOptions, history: History) -> PlanningContext:
    """What planning a build needs before any project is parsed: the environment, store,
    projects in scope, selection, model states, published interfaces and upstream environments.

    Raises MeshError for an unknown environment, a package hack, or a selector naming an
    unknown project."""
    env = mesh.environment(options.env)
    refuse_package_hack(mesh)    # before any dbt runs: it would build those models twice
    store = Store(mesh.store_url)
    if options.select or options.exclude:   # selector mistakes fail before anything runs
        known = {*mesh.projects, *store.projects()}        # projects published from elsewhere too
        Expression.parse([*options.select, *options.exclude]).check_projects(known)
    names = parse_scope(mesh, options)
    building = set(options.projects or names)
    return PlanningContext(
        env, store, names, _selection(options), options.exclude or None,
        history.model_states(env.name), _unpublished(store, env.name, names),
        {name: producer_environment(mesh, env, name, store) for name in names},
        _published(mesh, store, env, names, building), options.full,
        _own_interfaces(store, env.name, names), dbt_vars=options.vars)


def parse_scope(mesh: Mesh, options: BuildOptions) -> list[str]:
    """The projects of the environment this build parses: with --project, those projects and
    their upstream projects only (a downstream project cannot change their decisions, so its
    parse errors must not block them); else every project."""
    env = mesh.environment(options.env)
    names = [p for p in mesh.projects if env.name in mesh.projects[p].environments]
    for name in options.projects:
        mesh.project(name)  # unknown project names fail before anything runs
    if not options.projects:
        return names
    declared = project_dependencies(mesh)
    scope, frontier = set(), list(options.projects)
    while frontier:
        name = frontier.pop()
        if name in scope or name not in names:
            continue
        scope.add(name)
        frontier += declared.get(name, [])
    return [name for name in names if name in scope]


def _selection(options: BuildOptions) -> list[str] | None:
    """--select, narrowed to --project when both are given."""
    if options.select and options.projects:
        return [f"project:{p},{term}" for p in options.projects for expr in options.select
                for term in expr.split()]
    if options.projects:
        return [f"project:{p}" for p in options.projects]
    return options.select or None


def _published(mesh: Mesh, store: Store, env: Environment, names: list[str],
               building: set[str]) -> set[str]:
    """Public models that consumers can read from the store without rebuilding them.

    A damaged store entry of a project this build rebuilds is skipped (the build republishes
    it); one that consumers would have to read stops the build with the store's message.
    """
    available: set[str] = set()
    for name in set(names) | set(store.projects()):
        try:
            found = store.interface(name, producer_environment(mesh, env, name, store))
        except MeshError:
            if name in building:
                continue
            raise
        if found:   # a model no published run has built has no relation to read yet
            available |= {m.unique_id for m in found[1].models if m.built}
    return available


def _own_interfaces(store: Store, env: str, names: list[str]) -> dict[str, Interface]:
    """Each project's interface as published to the environment it builds in (intact ones)."""
    found = {}
    for name in names:
        try:
            published = store.interface(name, env)
        except MeshError:
            continue
        if published:
            found[name] = published[1]
    return found


def _unpublished(store: Store, env: str, names: list[str]) -> set[str]:
    """Projects with no intact latest run in this environment: they must rebuild to publish."""
    missing = set()
    for name in names:
        try:
            record = store.latest(name, env)
            if record is not None:
                store.read(record, "interface.json")
        except MeshError:
            record = None
        if record is None:
            missing.add(name)
    return missing
