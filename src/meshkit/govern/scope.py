"""Which resources a rule setting, an exception or `--select` applies to.

Selector terms follow dbt's methods, without graph operators:

    fct_orders  analytics.fct_orders  analytics.fct_orders.v2  stg_*     names (globs)
    project:finance  group:core  tag:pii  access:public  path:models/marts
    resource_type:source  package:analytics  materialized:view  version:2

Space-separated terms are a union, comma-joined terms an intersection, as in dbt.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Callable, Iterable

from meshkit.config.policy import Scope
from meshkit.errors import MeshError
from meshkit.govern.view import Exposure, Model, Resource, SourceTable

_METHODS = ("project", "group", "tag", "access", "path", "resource_type", "package",
            "materialized", "config.materialized", "version", "fqn")


def resource_type(resource: Resource | None) -> str:
    if isinstance(resource, Model):
        return "model"
    if isinstance(resource, SourceTable):
        return "source"
    if isinstance(resource, Exposure):
        return "exposure"
    return "project"


def names_of(resource: Resource, unique_id: str) -> tuple[str, ...]:
    """Every name a pattern may use for a resource."""
    names = [unique_id, resource.name, resource.label]
    if isinstance(resource, Model) and resource.version is not None:
        names.append(f"{resource.project}.{resource.name}")
        names.append(f"{resource.name}.v{resource.version}")
    if isinstance(resource, SourceTable):
        names.append(f"{resource.source_name}.{resource.name}")
    return tuple(names)


def matches_name(patterns: Iterable[str], resource: Resource | None, unique_id: str) -> bool:
    candidates = names_of(resource, unique_id) if resource is not None else (unique_id,)
    return any(fnmatchcase(name, pattern) for pattern in patterns for name in candidates)


def _path_matches(pattern: str, path: str) -> bool:
    if not path:
        return False
    return fnmatchcase(path, pattern) or path.startswith(pattern.rstrip("/") + "/") or path == pattern


def _term(text: str) -> Callable[[Resource | None, str, str | None], bool]:
    method, sep, value = text.partition(":")
    if not sep:
        return lambda resource, uid, project: matches_name([text], resource, uid)
    if method not in _METHODS:
        raise MeshError(f"unknown selector method '{method}:' in '{text}'",
                        hint="use one of " + ", ".join(f"{m}:" for m in _METHODS))

    def test(resource: Resource | None, uid: str, project: str | None) -> bool:
        if method == "project":
            return project is not None and fnmatchcase(project, value)
        if resource is None:
            return False
        if method == "resource_type":
            return resource_type(resource) == value
        if method == "package":
            return fnmatchcase(resource.project, value)
        if method == "path":
            return _path_matches(value, resource.path or "")
        if method == "fqn":
            return matches_name([value], resource, uid)
        if not isinstance(resource, Model):
            if method == "tag":
                tags = resource.source.tags if isinstance(resource, SourceTable) else resource.exposure.tags
                return value in tags
            return False
        if method == "group":
            return resource.group is not None and fnmatchcase(resource.group, value)
        if method == "tag":
            return value in resource.tags or value in (resource.node.config.tags or [])
        if method == "access":
            return resource.access == value
        if method in ("materialized", "config.materialized"):
            return resource.materialized == value
        if method == "version":
            return resource.version == value or (value == "latest"
                                                 and resource.version == resource.latest_version)
        return False

    return test


@dataclass(frozen=True)
class Selection:
    """Compiled selector expressions: a union of intersections of terms."""

    alternatives: tuple[tuple[Callable, ...], ...]

    @classmethod
    def parse(cls, expressions: Iterable[str]) -> Selection:
        alternatives = []
        for expression in expressions:
            for union_part in expression.split():
                alternatives.append(tuple(_term(t) for t in union_part.split(",") if t))
        return cls(tuple(alternatives))

    def __bool__(self) -> bool:
        return bool(self.alternatives)

    def matches(self, resource: Resource | None, unique_id: str, project: str | None) -> bool:
        return any(all(test(resource, unique_id, project) for test in terms)
                   for terms in self.alternatives)


@dataclass(frozen=True)
class CompiledScope:
    scope: Scope
    select: Selection
    exclude: Selection

    @classmethod
    def of(cls, scope: Scope) -> CompiledScope:
        return cls(scope, Selection.parse(scope.select), Selection.parse(scope.exclude))

    def matches(self, resource: Resource | None, unique_id: str, project: str | None) -> bool:
        scope = self.scope
        if scope.projects and not (project and any(fnmatchcase(project, p) for p in scope.projects)):
            return False
        if resource is None:      # a finding about a whole project: only `projects` applies
            return True
        if scope.groups:
            group = resource.group if isinstance(resource, Model) else None
            if group is None or not any(fnmatchcase(group, g) for g in scope.groups):
                return False
        if scope.paths and not any(_path_matches(p, resource.path or "") for p in scope.paths):
            return False
        if self.select and not self.select.matches(resource, unique_id, project):
            return False
        return not (self.exclude and self.exclude.matches(resource, unique_id, project))
