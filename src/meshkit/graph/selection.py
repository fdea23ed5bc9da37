"""dbt's node selection syntax, extended to the mesh.

    finance:agg_customer_payment_journey     a node of one project
    +finance:agg_customer_payment_journey    it and its upstream, in every project
    analytics:fct_orders+   2+x   x+1        downstream / bounded depth
    @analytics:stg_orders                    descendants and their ancestors
    project:finance  group:core  tag:nightly  access:public  resource_type:seed
    config.materialized:table  path:models/core  state:modified
    a b       union          a,b      intersection          names may use * wildcards

`+` crosses project boundaries because the graph's edges do.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph

EXECUTABLE = frozenset({"model", "seed", "snapshot"})
_TERM_RE = re.compile(r"^(?P<at>@)?(?:(?P<up_depth>\d*)(?P<up>\+))?(?P<body>.+?)"
                      r"(?:(?P<down>\+)(?P<down_depth>\d*))?$")
_METHODS = {"project", "package", "group", "tag", "access", "state", "resource_type", "path",
            "fqn", "config.materialized", "source", "version"}


@dataclass(frozen=True)
class Selector:
    graph: MeshGraph
    modified: frozenset[str] = frozenset()   # state:modified, computed by the orchestrator
    # Mesh projects that may not be in the graph yet (a staged build adds them one by one):
    # their names are valid in selectors and simply match nothing until then.
    projects: frozenset[str] = frozenset()

    def select(self, select: Iterable[str] | None, exclude: Iterable[str] | None = None,
               resource_types: frozenset[str] = EXECUTABLE) -> set[str]:
        """Node ids matching dbt-style --select / --exclude expressions."""
        chosen = self._union(select) if select else set(self.graph.nodes)
        if exclude:
            chosen -= self._union(exclude)
        return {uid for uid in chosen
                if uid in self.graph.nodes and self.graph.nodes[uid].resource_type in resource_types}

    def _union(self, expressions: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for expression in expressions:
            for term in expression.split():
                found |= self._intersection(term)
        return found

    def _intersection(self, term: str) -> set[str]:
        parts = [self._term(part) for part in term.split(",") if part]
        return set.intersection(*parts) if parts else set()

    def _term(self, term: str) -> set[str]:
        match = _TERM_RE.match(term)
        if not match:
            raise MeshError(f"cannot read selector '{term}'")
        seeds = self._atoms(match.group("body"))
        result = set(seeds)
        if match.group("at"):
            for uid in seeds:
                below = set(self.graph.downstream(uid))
                result |= below
                for child in below:
                    result |= set(self.graph.upstream(child))
            return result
        if match.group("up"):
            depth = int(match.group("up_depth")) if match.group("up_depth") else None
            for uid in seeds:
                result |= set(self.graph.upstream(uid, depth))
        if match.group("down"):
            depth = int(match.group("down_depth")) if match.group("down_depth") else None
            for uid in seeds:
                result |= set(self.graph.downstream(uid, depth))
        return result

    def _atoms(self, body: str) -> set[str]:
        method, sep, value = body.partition(":")
        if not sep:
            return self._by_name(None, body)
        if method in _METHODS or method.startswith("config."):
            return self._by_method(method, value)
        if method in self.graph.projects or method in self.projects:
            return self._by_name(method, value)
        raise MeshError(f"selector '{body}': '{method}' is neither a selector method nor a project "
                        "of the mesh", hint=f"projects: {', '.join(sorted(self.graph.projects))}; "
                        f"methods: {', '.join(sorted(_METHODS))}")

    def _by_name(self, project: str | None, pattern: str) -> set[str]:
        found = set()
        for uid, node in self._candidates():
            if project and self.graph.owner.get(uid) != project:
                continue
            if node.resource_type == "source":
                names = {f"{node.source_name}.{node.name}"}
            else:
                names = {node.name}
                if node.version is not None:
                    names |= {f"{node.name}.v{node.version}", f"{node.name}_v{node.version}"}
            if any(fnmatch.fnmatchcase(name, pattern) for name in names):
                found.add(uid)
        return found

    def _by_method(self, method: str, value: str) -> set[str]:
        test = _method_predicate(self, method, value)
        return {uid for uid, node in self._candidates() if test(uid, node)}

    def _candidates(self):
        yield from self.graph.nodes.items()
        yield from self.graph.sources.items()


def _method_predicate(selector: Selector, method: str, value: str) -> Callable:
    graph = selector.graph
    match = lambda actual: actual is not None and fnmatch.fnmatchcase(str(actual), value)  # noqa: E731
    if method in ("project", "package"):
        return lambda uid, node: match(graph.owner.get(uid))
    if method == "group":
        return lambda uid, node: match(getattr(node, "group", None) or _config(node, "group"))
    if method == "tag":
        return lambda uid, node: any(match(tag) for tag in _tags(node))
    if method == "access":
        return lambda uid, node: node.resource_type == "model" and match(
            node.access or node.config.access or "protected")
    if method == "resource_type":
        return lambda uid, node: match(node.resource_type)
    if method == "path":
        folder = value.rstrip("/")
        # A folder matches the files under it (not models/core_old for models/core), as in dbt.
        return lambda uid, node: node.original_file_path == folder \
            or node.original_file_path.startswith(folder + "/") \
            or fnmatch.fnmatchcase(node.original_file_path, value)
    if method == "fqn":
        return lambda uid, node: match(".".join(getattr(node, "fqn", [])))
    if method == "source":
        return lambda uid, node: node.resource_type == "source" and (
            match(node.source_name) or match(f"{node.source_name}.{node.name}"))
    if method == "version":
        return lambda uid, node: node.resource_type == "model" and _version_matches(node, value)
    if method == "state":
        if value not in ("modified", "new"):
            raise MeshError(f"state:{value} is not supported; use state:modified")
        return lambda uid, node: uid in selector.modified
    if method.startswith("config."):
        key = method.removeprefix("config.")
        return lambda uid, node: match(_config(node, key))
    raise MeshError(f"unknown selector method '{method}'")


def _config(node, key: str):
    config = getattr(node, "config", None)
    return getattr(config, key, None) if config is not None else None


def _tags(node) -> list[str]:
    tags = list(getattr(node, "tags", []) or [])
    configured = _config(node, "tags") or []
    return tags + ([configured] if isinstance(configured, str) else list(configured))


def _version_matches(node, value: str) -> bool:
    if value == "latest":
        return node.version is not None and str(node.version) == str(node.latest_version)
    if value in ("old", "prerelease"):
        if node.version is None or node.latest_version is None:
            return False
        older = float(node.version) < float(node.latest_version)
        return older if value == "old" else not older and str(node.version) != str(node.latest_version)
    return str(node.version) == value
