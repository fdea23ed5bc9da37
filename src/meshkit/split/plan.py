"""Where every resource of a project goes when it is split, and what that requires: the plan.

The stages that decide it are functions run in order (split/stages/); this module holds what
they produce.

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
projects (split/stages/semantic.py), and a test that
would make a project wait for itself (a model-level cycle across projects).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from meshkit.dbt.nodes import label
from meshkit.split.source import SourceProject


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
        name = node_name(self.source, unique_id)
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


def node_name(source: SourceProject, unique_id: str) -> str:
    """A node's name as messages show it: `source.table`, `model.v2`, else its name."""
    m = source.manifest
    for table in (m.nodes, m.sources, m.exposures, m.macros, m.unit_tests):
        if unique_id in table:
            item = table[unique_id]
            if hasattr(item, "source_name"):
                return f"{item.source_name}.{item.name}"
            return label(item.name, getattr(item, "version", None))
    return unique_id.split(".")[-1]


def project_name(group: str) -> str:
    """A dbt project name made from a group's name (lower-case, `_` for other characters)."""
    name = re.sub(r"[^a-z0-9_]+", "_", group.lower()).strip("_") or "project"
    return name if not name[0].isdigit() else f"p_{name}"


def folder_home(source: SourceProject, path: str, homes: dict[str, str]) -> str | None:
    """The project owning most models in the nearest folder above `path` that has any.

    `homes` maps a file path (of a model) to its project. A tie, or only the project's root
    folder in common, is no answer.
    """
    folder = PurePosixPath(within_resource_folder(source, path)).parent
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


def within_resource_folder(source: SourceProject, path: str) -> str:
    """`macros/marketing/x.sql` → `marketing/x.sql`: domain folders repeat under each resource
    folder (models/marketing, seeds/marketing, macros/marketing, …)."""
    for folders in source.paths.values():
        for folder in folders:
            if folder and path.startswith(folder.rstrip("/") + "/"):
                return path[len(folder.rstrip("/")) + 1:]
    return path
