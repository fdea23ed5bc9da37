"""The typed view of a mesh that every rule receives: models, sources, exposures, projects.

Built once per check from a MeshGraph. Each wrapper keeps dbt's decoded node (`.node`,
`.source`, `.exposure`) for anything not surfaced here, and adds what a mesh rule needs
that a single manifest does not say: the project that builds it, its access, its group's
owner, its consumers in other projects. Indexes are built once, so rules never scan the
whole mesh to answer a question about one node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from meshkit.config import Mesh
from meshkit.dbt.artifacts import Exposure as DbtExposure
from meshkit.dbt.artifacts import Group, Node, Source
from meshkit.dbt.nodes import (
    access_of,
    group_of,
    label,
    meta_of,
    owner_of,
    parse_date,
    version_key,
    version_text,
)
from meshkit.dbt.relations import relation_key
from meshkit.graph.columns import ColumnGraph, column_graph
from meshkit.graph.mesh_graph import MeshGraph


def project_subject(name: str) -> str:
    """The subject id of a finding about a whole project."""
    return f"project:{name}"


@dataclass(eq=False)
class Model:
    node: Node
    project: str
    access: str
    group: str | None

    unique_id = property(lambda self: self.node.unique_id)
    name = property(lambda self: self.node.name)
    description = property(lambda self: self.node.description or "")
    columns = property(lambda self: self.node.columns)
    tags = property(lambda self: self.node.tags)
    path = property(lambda self: self.node.original_file_path)
    materialized = property(lambda self: self.node.config.materialized)
    is_public = property(lambda self: self.access == "public")
    contract_enforced = property(lambda self: self.node.config.contract.enforced)

    @property
    def version(self) -> str | None:
        return version_text(self.node.version)

    @property
    def latest_version(self) -> str | None:
        return version_text(self.node.latest_version)

    @property
    def is_time_spine(self) -> bool:
        """MetricFlow's time spine: `time_spine:` in its YAML (dbt 1.9+), or the name dbt
        looked for before that (`metricflow_time_spine`)."""
        return self.node.time_spine is not None or self.name == "metricflow_time_spine"

    @property
    def label(self) -> str:
        """How people name it: analytics.fct_orders.v2."""
        return f"{self.project}.{label(self.name, self.version)}"

    @cached_property
    def meta(self) -> dict[str, Any]:
        return meta_of(self.node)

    @cached_property
    def deprecation_date(self) -> date | None:
        return parse_date(self.node.deprecation_date)

    @property
    def properties_file(self) -> str | None:
        """The YAML file that describes it (`models/core/core.yml`), if any."""
        patch = self.node.patch_path
        return patch.split("://", 1)[-1] if patch else None


@dataclass(eq=False)
class SourceTable:
    source: Source
    project: str

    unique_id = property(lambda self: self.source.unique_id)
    name = property(lambda self: self.source.name)
    source_name = property(lambda self: self.source.source_name)
    description = property(lambda self: self.source.description or "")
    source_description = property(lambda self: self.source.source_description or "")
    path = property(lambda self: self.source.original_file_path)

    @property
    def label(self) -> str:
        return f"{self.project}.{self.source_name}.{self.name}"

    @cached_property
    def relation(self) -> str | None:
        return relation_key(self.source.relation_name)


@dataclass(eq=False)
class Exposure:
    exposure: DbtExposure
    project: str

    unique_id = property(lambda self: self.exposure.unique_id)
    name = property(lambda self: self.exposure.name)
    path = property(lambda self: self.exposure.original_file_path)

    @property
    def label(self) -> str:
        return f"{self.project}.{self.name}"


@dataclass(eq=False)
class ProjectInfo:
    name: str
    origin: str = ""                 # the store run or target folder it was read from
    directory: Path | None = None    # its working copy, when the mesh knows it
    from_working_copy: bool = False


Resource = Model | SourceTable | Exposure


@dataclass(eq=False)
class MeshView:
    graph: MeshGraph
    today: date
    root: Path | None = None          # the mesh's folder: findings name files relative to it
    config: Mesh | None = None        # its mesh.yml (None when checking bare manifests)
    projects: dict[str, ProjectInfo] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    sources: dict[str, SourceTable] = field(default_factory=dict)
    exposures: dict[str, Exposure] = field(default_factory=dict)

    @classmethod
    def build(cls, graph: MeshGraph, *, today: date | None = None,
              directories: dict[str, Path] | None = None,
              working_copies: Iterable[str] = (), root: Path | None = None,
              config: Mesh | None = None) -> MeshView:
        """Wrap a graph. Nodes of installed packages are left out: their own project governs them."""
        directories = directories or {}
        working = set(working_copies)
        view = cls(graph, today or datetime.now(timezone.utc).date(), root, config)
        for name, state in graph.projects.items():
            view.projects[name] = ProjectInfo(name, state.origin, directories.get(name),
                                              name in working)
        for uid, node in graph.nodes.items():
            project = graph.owner[uid]
            if node.resource_type == "model" and node.package_name == project and node.config.enabled:
                view.models[uid] = Model(node, project, access_of(node),
                                         group_of(node))
        for uid, source in graph.sources.items():
            project = graph.owner[uid]
            if source.package_name == project:
                view.sources[uid] = SourceTable(source, project)
        for uid, exposure in graph.exposures.items():
            project = graph.owner[uid]
            if exposure.package_name == project:
                view.exposures[uid] = Exposure(exposure, project)
        return view

    def folder_prefix(self, project: str) -> str:
        """`analytics/` for files of a project whose folder the mesh knows (relative to root)."""
        cache = self.__dict__.setdefault("_prefixes", {})
        if project not in cache:
            info = self.projects.get(project)
            prefix = ""
            if info is not None and info.directory is not None:
                folder = info.directory
                if self.root is not None and folder.is_relative_to(self.root):
                    folder = folder.relative_to(self.root)
                prefix = folder.as_posix().rstrip("/") + "/" if folder.parts else ""
            cache[project] = prefix
        return cache[project]

    def by_project(self, kind: str) -> dict[str, list[Resource]]:
        """Models, sources or exposures grouped by project (built once per kind)."""
        cache = self.__dict__.setdefault("_by_project", {})
        if kind not in cache:
            by_kind: dict[str, Mapping[str, Resource]] = {
                "model": self.models, "source": self.sources, "exposure": self.exposures}
            items = by_kind[kind]
            grouped: dict[str, list[Resource]] = {}
            for resource in items.values():
                grouped.setdefault(resource.project, []).append(resource)
            cache[kind] = grouped
        return cache[kind]

    def adapter_of(self, project: str) -> str | None:
        """The dbt adapter type the project's manifest was parsed with (`duckdb`), if known."""
        state = self.graph.projects.get(project)
        return state.manifest.metadata.adapter_type if state is not None else None

    def enforced_constraints(self, project: str) -> frozenset[str]:
        """Constraint types the project's warehouse enforces (the adapter's own table)."""
        from meshkit.dbt.adapters import constraint_support

        support = constraint_support(self.adapter_of(project))
        return frozenset(kind for kind, level in support.items() if level == "enforced")

    # -- lookups ---------------------------------------------------------------------------
    def resource(self, unique_id: str) -> Resource | None:
        return (self.models.get(unique_id) or self.sources.get(unique_id)
                or self.exposures.get(unique_id))

    def project_of(self, unique_id: str) -> str | None:
        if unique_id.startswith("project:"):
            return unique_id.split(":", 1)[1]
        return self.graph.project_of(unique_id)

    def label(self, unique_id: str) -> str:
        found = self.resource(unique_id)
        if found is not None:
            return found.label
        node = self.graph.nodes.get(unique_id)
        if node is not None:
            return f"{self.graph.project_of(unique_id)}.{node.name}"
        return unique_id

    def parents(self, unique_id: str) -> list[str]:
        return self.graph.parents.get(unique_id, [])

    def children(self, unique_id: str) -> list[str]:
        return self.graph.children.get(unique_id, [])

    def parent_models(self, unique_id: str) -> list[str]:
        """Parent ids that are models (of any project, loaded or not)."""
        return [p for p in self.parents(unique_id) if p.startswith("model.")]

    def parent_sources(self, unique_id: str) -> list[str]:
        return [p for p in self.parents(unique_id) if p.startswith("source.")]

    def child_models(self, unique_id: str) -> list[str]:
        return [c for c in self.children(unique_id) if c.startswith("model.")]

    def cross_project_parents(self, unique_id: str) -> list[str]:
        """Parent models of this node that another project builds (loaded or not)."""
        return self._cross_parents.get(unique_id, [])

    @cached_property
    def _cross_parents(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        project_of = self.graph.project_of
        for child, parents in self.graph.parents.items():
            if not child.startswith("model."):
                continue
            mine = project_of(child)
            found = [p for p in parents if p.startswith("model.") and project_of(p) != mine]
            if found:
                index[child] = found
        return index

    @cached_property
    def deprecations(self) -> dict[str, Model]:
        """Models (and versions) that carry a deprecation date, by unique id."""
        return {uid: m for uid, m in self.models.items() if m.node.deprecation_date}

    def consumers(self, unique_id: str) -> list[str]:
        """Exposures, and resources of other projects (models, snapshots, data tests such as a
        `relationships` test, semantic models...), that read this node directly."""
        project = self.project_of(unique_id)
        return [c for c in self.children(unique_id)
                if c.startswith("exposure.") or self.project_of(c) != project]

    def tests_of(self, unique_id: str) -> list[Node]:
        return self._tests.get(unique_id, [])

    @cached_property
    def _tests(self) -> dict[str, list[Node]]:
        """Data tests by the node they test (a relationships test belongs to its model)."""
        index: dict[str, list[Node]] = {}
        for node in self.graph.nodes.values():
            if node.resource_type != "test":
                continue
            targets = [node.attached_node] if node.attached_node else node.depends_on.nodes
            for target in targets:
                index.setdefault(target, []).append(node)
        return index

    def group(self, project: str, name: str | None) -> Group | None:
        return self._groups.get((project, name)) if name else None

    @cached_property
    def _groups(self) -> dict[tuple[str, str], Group]:
        return {(g.package_name, g.name): g for g in self.graph.groups.values()}

    def owner_of(self, model: Model) -> str | None:
        """Who answers for a model (meshkit.dbt.nodes: its group's owner, else `meta.owner`)."""
        owner = owner_of(model.node, self.graph.groups)
        return owner.label if owner is not None and owner.named else None

    def versions_of(self, model: Model) -> list[Model]:
        """Every version of a model, oldest first (just the model if it is unversioned)."""
        return self._versions.get((model.project, model.name), [model])

    @cached_property
    def _versions(self) -> dict[tuple[str, str], list[Model]]:
        groups: dict[tuple[str, str], list[Model]] = {}
        for model in self.models.values():
            if model.node.version is not None:
                groups.setdefault((model.project, model.name), []).append(model)
        for members in groups.values():
            members.sort(key=lambda m: version_key(m.version))
        return groups

    def versions_named(self, project: str, name: str) -> list[Model]:
        """The versions of a project's model by name, oldest first ([] if unversioned)."""
        return self._versions.get((project, name), [])

    def versioned_models(self) -> Iterable[list[Model]]:
        return self._versions.values()

    @cached_property
    def columns(self) -> ColumnGraph:
        """Column lineage across the mesh (published with each run, else traced from the
        manifests' compiled SQL)."""
        return column_graph(self.graph)

    def ancestors(self, unique_id: str) -> dict[str, int]:
        return self.graph.upstream(unique_id)

    def relation_owner(self, relation: str | None) -> Model | None:
        """The model (of any project) deployed as this relation, if any."""
        return self._relations.get(relation) if relation else None

    @cached_property
    def _relations(self) -> dict[str, Model]:
        index = {}
        for model in self.models.values():
            key = relation_key(model.node.relation_name)
            if key:
                index[key] = model
        return index

    def properties_of(self, model: Model) -> dict | None:
        """The model's entry in its YAML file, read from its working copy (None if unknown)."""
        info = self.projects.get(model.project)
        if info is None or not info.from_working_copy or info.directory is None:
            return None
        rel = model.properties_file
        if not rel:
            return None
        doc = self._yaml(info.directory / rel)
        for entry in (doc or {}).get("models") or []:
            if isinstance(entry, dict) and entry.get("name") == model.name:
                return entry
        return None

    def declares(self, model: Model, key: str) -> bool | None:
        """Whether the model's YAML entry sets `key`; None when there is no working copy to read.

        dbt's manifest cannot tell a declared value from a default it filled in (it writes
        `latest_version` either way), so this reads the file. Block-style YAML is scanned as
        text, which reads only the model's entry; anything else is parsed whole.
        """
        info = self.projects.get(model.project)
        rel = model.properties_file
        if info is None or not info.from_working_copy or info.directory is None or not rel:
            return None
        text = self._text(info.directory / rel)
        if text is None:
            return None
        found = _scan_entry(text, model.name, key)
        if found is not None:
            return found
        entry = self.properties_of(model)
        return None if entry is None else key in entry

    def _text(self, path: Path) -> str | None:
        cache = self.__dict__.setdefault("_text_cache", {})
        if path not in cache:
            try:
                cache[path] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                cache[path] = None
        return cache[path]

    def _yaml(self, path: Path) -> Any:
        cache = self.__dict__.setdefault("_yaml_cache", {})
        if path not in cache:
            import yaml

            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when present
            text = self._text(path)
            try:
                cache[path] = yaml.load(text, Loader=loader) if text is not None else None
            except yaml.YAMLError:
                cache[path] = None
        return cache[path]


def _scan_entry(text: str, name: str, key: str) -> bool | None:
    """In block-style YAML, does the `- name: <name>` entry (the least indented one) set `key`?

    None when no such entry is written in block style: the caller then parses the file.
    """
    pattern = re.compile(r"^(\s*)-\s+name:\s*['\"]?" + re.escape(name) + r"['\"]?\s*(#.*)?$")
    lines = text.splitlines()
    matches = [(len(m.group(1)), i) for i, line in enumerate(lines) if (m := pattern.match(line))]
    if not matches:
        return None
    _, start = min(matches)
    column = lines[start].index("name")
    key_re = re.compile(re.escape(key) + r"\s*:")
    for line in lines[start + 1:]:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent < column:
            return False
        if indent == column and key_re.match(stripped):
            return True
    return False
