"""Which resources a rule setting, an exception or `meshkit check -s` applies to.

`scope: {select, exclude}` and `-s` are selectors in meshkit's one grammar
(graph/selection.py, the same as `meshkit build -s`): graph operators included, so
`+finance:agg_orders` scopes a rule to that model and everything upstream of it, in every
project. Selectors are evaluated over the mesh graph the check loads.

A finding about a whole project (subject `project:finance`, e.g. a dependency cycle)
belongs to no node: a selector selects it when one of its alternatives consists only of
`project:` / `package:` terms without graph operators that match the project. So
`-s project:finance` reports the project's own findings too; `-s tag:pii` does not.

An exception's `nodes:` names resources, without operators or methods: any name a bare
selector uses (`finance.legacy_revenue`, `legacy_*`, a unique id), or `project:finance`
(or just `finance`) for the project's own findings.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Iterable

from meshkit.config.policy import Scope
from meshkit.errors import MeshError
from meshkit.govern.view import Exposure, Model, Resource, SourceTable
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.graph.selection import Expression, Selector, Term, name_matches

_NOT_IN_CHECK = ("state",)
_NOT_IN_CHECK_HINT = ("state:modified compares a build with its last run; `meshkit check` has no "
                      "such state: select by name, tag, group, path or project")


def resource_type(resource: Resource | None) -> str:
    """The kind of resource a rule judges: model, source, exposure, else project."""
    if isinstance(resource, Model):
        return "model"
    if isinstance(resource, SourceTable):
        return "source"
    if isinstance(resource, Exposure):
        return "exposure"
    return "project"


def _dbt_object(resource: Resource):
    if isinstance(resource, Model):
        return resource.node
    if isinstance(resource, SourceTable):
        return resource.source
    return resource.exposure


def matches_name(patterns: Iterable[str], resource: Resource | None, unique_id: str,
                 project: str | None = None) -> bool:
    """Whether an exception's `nodes:` names this subject (see the module)."""
    for pattern in patterns:
        if resource is not None:
            if name_matches(pattern, _dbt_object(resource), resource.project):
                return True
        elif fnmatchcase(unique_id, pattern) or (project and fnmatchcase(project, pattern)):
            return True
    return False


def check_exception_nodes(patterns: Iterable[str]) -> None:
    """Raise MeshError for a `nodes:` entry that is a selector rather than a name."""
    for pattern in patterns:
        term = Term.parse(pattern)
        if term.has_graph_operator or term.method not in (None, "project"):
            raise MeshError(f"exception nodes: '{pattern}' is a selector; an exception names "
                            "the resources it covers",
                            hint="list names (finance.legacy_revenue, legacy_*) or project:NAME "
                                 "for a project's own findings")


class Selection:
    """Parsed selectors, evaluated over a mesh graph on first use (then cached)."""

    def __init__(self, expression: Expression, projects: frozenset[str] = frozenset()) -> None:
        self.expression = expression
        self.projects = projects          # mesh.yml's projects: valid `name:` prefixes even
        self._graph: MeshGraph | None = None   # when the check could not read them
        self._selected: set[str] = set()

    @classmethod
    def parse(cls, expressions: Iterable[str], projects: Iterable[str] = ()) -> Selection:
        """Raises MeshError for a term that cannot be read or has no meaning in a check."""
        expression = Expression.parse(expressions)
        expression.refuse(_NOT_IN_CHECK, where="in governance", hint=_NOT_IN_CHECK_HINT)
        return cls(expression, frozenset(projects))

    def __bool__(self) -> bool:
        return bool(self.expression)

    def selected(self, graph: MeshGraph) -> set[str]:
        """Ids of the nodes, sources and exposures selected in this graph (raises MeshError
        for a `name:` prefix that is neither a method nor a project of the mesh)."""
        if self._graph is not graph:
            self._selected = Selector(graph, projects=self.projects).evaluate(self.expression)
            self._graph = graph
        return self._selected

    def matches(self, resource: Resource | None, unique_id: str, project: str | None,
                graph: MeshGraph) -> bool:
        if unique_id in self.selected(graph):
            return True
        return resource is None and project is not None and any(
            all(_selects_project(term, project) for term in terms)
            for terms in self.expression.alternatives)


def _selects_project(term: Term, project: str) -> bool:
    return (term.method in ("project", "package") and not term.has_graph_operator
            and fnmatchcase(project, term.value))


def _path_matches(pattern: str, path: str) -> bool:
    if not path:
        return False
    return fnmatchcase(path, pattern) or path.startswith(pattern.rstrip("/") + "/") or path == pattern


class CompiledScope:
    def __init__(self, scope: Scope, projects: Iterable[str] = ()) -> None:
        self.scope = scope
        self.select = Selection.parse(scope.select, projects)
        self.exclude = Selection.parse(scope.exclude, projects)

    @classmethod
    def of(cls, scope: Scope, projects: Iterable[str] = ()) -> CompiledScope:
        """projects: mesh.yml's, which `name:` may name though the check did not read them."""
        return cls(scope, projects)

    def check_names(self, projects: frozenset[str] | None) -> None:
        """Raise MeshError for a `name:` prefix that is neither a method nor one of these
        projects (skipped when the projects are not known)."""
        if projects is None:
            return
        self.select.expression.check_projects(projects)
        self.exclude.expression.check_projects(projects)

    def bind(self, graph: MeshGraph) -> None:
        """Evaluate the selectors now, so that an unknown `name:` is reported up front."""
        self.select.selected(graph)
        self.exclude.selected(graph)

    def matches(self, resource: Resource | None, unique_id: str, project: str | None,
                graph: MeshGraph) -> bool:
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
        if self.select and not self.select.matches(resource, unique_id, project, graph):
            return False
        return not (self.exclude and self.exclude.matches(resource, unique_id, project, graph))
