"""What planning knows before any project is parsed: the options, the environment and its
projects, the selection, what the store has published and each model's last known state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from meshkit.config import Environment, Mesh
from meshkit.config.package_hack import refuse_package_hack
from meshkit.config.selector_syntax import Expression
from meshkit.errors import MeshError
from meshkit.orchestrate.history import History, ModelState
from meshkit.orchestrate.state import StateInputs
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
    kind: str = "build"              # runs.kind: build, or job for a job's build
    command: str | None = None       # runs.command (default: this process's command line)
    before_publish: Callable[[str, Path], None] | None = None  # (project, target dir) hook


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

    def modified(self, fingerprints: dict[str, str]) -> set[str]:
        """state:modified — nodes never built here or whose code or config changed."""
        return {uid for uid, fp in fingerprints.items()
                if uid not in self.states or self.states[uid].fingerprint != fp}

    def state_inputs(self, fingerprints: dict[str, str]) -> StateInputs:
        return StateInputs(self.states, fingerprints, full=self.full, unpublished=self.unpublished)


def planning_context(mesh: Mesh, options: BuildOptions, history: History) -> PlanningContext:
    env = mesh.environment(options.env)
    refuse_package_hack(mesh)    # before any dbt runs: it would build those models twice
    store = Store(mesh.store_url)
    for name in options.projects:
        mesh.project(name)  # unknown project names fail before anything runs
    if options.select or options.exclude:   # and so do selector mistakes
        known = {*mesh.projects, *store.projects()}        # projects published from elsewhere too
        Expression.parse([*options.select, *options.exclude]).check_projects(known)
    names = [p for p in mesh.projects if env.name in mesh.projects[p].environments]
    building = set(options.projects or names)
    return PlanningContext(
        env, store, names, _selection(options), options.exclude or None,
        history.model_states(env.name), _unpublished(store, env.name, names),
        {name: producer_environment(mesh, env, name, store) for name in names},
        _published(mesh, store, env, names, building), options.full)


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
        if found:
            available |= {m.unique_id for m in found[1].models}
    return available


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
