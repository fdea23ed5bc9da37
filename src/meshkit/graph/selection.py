"""dbt's node selection syntax, extended to the mesh: the one grammar of every selector.

`meshkit build -s`, jobs' `select:`, `split --select`, `meshkit check -s` and a policy's
`scope: {select, exclude}` all read selectors with meshkit.config.selector_syntax (its
grammar, without a graph: mesh.yml's selectors are checked when it loads) and evaluate
them here:

    finance:agg_customer_payment_journey     a node of one project
    +finance:agg_customer_payment_journey    it and its upstream, in every project
    analytics:fct_orders+   2+x   x+1        downstream / bounded depth
    @analytics:stg_orders                    descendants and their ancestors
    project:finance  group:core  tag:nightly  access:public  resource_type:seed
    config.materialized:table  path:models/core  fqn:analytics.staging.*  source:raw
    version:latest  state:modified  exposure:weekly_kpis
    a b       union          a,b      intersection          names may use * wildcards

A bare term is dbt's default, the fqn method: a model's name (`fct_orders`, `fct_orders.v2`,
`fct_orders_v2`), a dotted prefix of its fqn with or without the project (`analytics`,
`core`, `analytics.core.fct_orders`), globs from the first wildcard part. meshkit adds the
mesh labels (`analytics.fct_orders`, `analytics.fct_orders.v2`; a source table
`raw.customers` or `analytics.raw.customers`) and unique ids. A bare value with a `/` is a
path, as in dbt.

`+` crosses project boundaries because the graph's edges do. Sources and exposures are
selectable; a build keeps only what it can run (models, seeds, snapshots).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable, Iterable

from meshkit.config.selector_syntax import METHODS, Expression, Term
from meshkit.dbt.nodes import (
    LATEST,
    access_of,
    group_of,
    is_latest,
    label,
    version_key,
    version_text,
)
from meshkit.errors import MeshError, close_matches
from meshkit.graph.mesh_graph import MeshGraph

__all__ = ["EXECUTABLE", "METHODS", "NEEDED", "Expression", "Selector", "Term", "name_matches",
           "node_names"]

# What `dbt build` builds as a node, tests aside (dbt/task/build.py's runners; saved queries
# and exposures only report there). Functions: dbt 1.11's user-defined functions.
EXECUTABLE = frozenset({"model", "seed", "snapshot", "function"})
# Built by dbt when it runs, but never selected for its own sake: a selected node needs the
# ones it calls to exist (a model calling `{{ function('f') }}`).
NEEDED = frozenset({"function"})


def node_names(node, project: str | None) -> tuple[str, ...]:
    """Every name a bare selector may use for a node, source or exposure (see the module)."""
    names = [node.unique_id, node.name]
    if getattr(node, "resource_type", None) == "source":
        names.append(f"{node.source_name}.{node.name}")
        if project:
            names.append(f"{project}.{node.source_name}.{node.name}")
        return tuple(names)
    if project:
        names.append(f"{project}.{node.name}")
    version = version_text(getattr(node, "version", None))
    if version is not None:
        names += [label(node.name, version), f"{node.name}_v{version}"]
        if project:
            names.append(f"{project}.{label(node.name, version)}")
    fqn = getattr(node, "fqn", None)
    if fqn:
        names.append(".".join(fqn))
    return tuple(names)


def name_matches(pattern: str, node, project: str | None) -> bool:
    """Whether the pattern (a glob) is one of the node's names (node_names)."""
    return any(fnmatch.fnmatchcase(name, pattern) for name in node_names(node, project))


def fqn_matches(pattern: str, node) -> bool:
    """dbt's fqn method: the node's fqn, or the fqn without its package (dbt matches both,
    QualifiedNameSelectorMethod). Sources are not selected this way, as in dbt."""
    fqn = getattr(node, "fqn", None)
    if not fqn or getattr(node, "resource_type", None) == "source":
        return False
    versioned = getattr(node, "version", None) is not None
    return fqn_selected(fqn, pattern, versioned) or (
        len(fqn) > 1 and fqn_selected(fqn[1:], pattern, versioned))


@dataclass(frozen=True)
class Selector:
    graph: MeshGraph
    modified: frozenset[str] = frozenset()   # state:modified, computed by the orchestrator
    # Mesh projects that may not be in the graph yet (a staged build adds them one by one):
    # their names are valid in selectors and simply match nothing until then.
    projects: frozenset[str] = frozenset()
    # Results by expression: a Selector is made for a graph that no longer changes (a staged
    # build makes a new one after each project joins the graph).
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    def select(self, select: Iterable[str] | Expression | None,
               exclude: Iterable[str] | Expression | None = None,
               resource_types: frozenset[str] | None = EXECUTABLE) -> set[str]:
        """Unique ids matching dbt-style --select / --exclude expressions, of the given
        resource types (None: every node, source and exposure). Raises MeshError for a
        selector that cannot be read or names neither a method nor a project."""
        select = select if isinstance(select, Expression) else Expression.parse(select)
        exclude = exclude if isinstance(exclude, Expression) else Expression.parse(exclude)
        chosen = self.evaluate(select) if select else set(self._ids())
        if exclude:
            chosen -= self.evaluate(exclude)
        if resource_types is None:
            return chosen
        return {uid for uid in chosen
                if uid in self.graph.nodes and self.graph.nodes[uid].resource_type in resource_types}

    def with_needed(self, chosen: set[str]) -> set[str]:
        """`chosen` and the NEEDED nodes (functions) they call, transitively: dbt builds
        what it selects only, so a selected model's function would otherwise never exist."""
        result, stack = set(chosen), list(chosen)
        while stack:
            for parent in self.graph.parents.get(stack.pop(), []):
                node = self.graph.nodes.get(parent)
                if node is not None and node.resource_type in NEEDED and parent not in result:
                    result.add(parent)
                    stack.append(parent)
        return result

    def evaluate(self, expression: Expression) -> set[str]:
        """Every node, source and exposure id the expression selects (memoized)."""
        found = self._memo.get(expression)
        if found is None:
            found = set()
            for terms in expression.alternatives:
                parts = [self._term(term) for term in terms]
                found |= set.intersection(*parts)
            self._memo[expression] = found
        return found

    def unmatched(self, select: Iterable[str] | None, exclude: Iterable[str] | None = None
                  ) -> list[str]:
        """Warnings, as dbt gives them, for each --select or --exclude term that matches no
        node ("does not match any enabled nodes", dbt's NoNodesForSelectionCriteria), with
        the names it may have meant; and for an --exclude that leaves nothing. `state:` terms
        are left out: matching nothing there means nothing changed."""
        warnings = []
        for flag, given in (("--select", select), ("--exclude", exclude)):
            for terms in Expression.parse(given).alternatives:
                if any(t.method == "state" for t in terms) or self.evaluate(Expression((terms,))):
                    continue
                known = [t.value for t in terms if t.method in ("project", "package")
                         and t.value in (set(self.graph.projects) | set(self.projects))]
                if known and len(terms) == 1:
                    warnings.append(f"{flag} '{terms[0].text}': project '{known[0]}' has no "
                                    "enabled nodes")
                    continue
                close = [name for term in terms for name in self._close(term)]
                warnings.append(f"{flag} '{','.join(t.text for t in terms)}' does not match any "
                                "enabled nodes" + (f" (did you mean "
                                                   f"{' or '.join(repr(c) for c in close)}?)"
                                                   if close else ""))
        if not warnings and exclude and self.select(select) and not self.select(select, exclude):
            warnings.append(f"--exclude '{' '.join(exclude)}' leaves nothing of the selection")
        return warnings

    def _close(self, term: Term) -> list[str]:
        """Names like an unmatched term's value (of the same method, or the same project)."""
        method = term.method
        if method in ("project", "package"):
            known: set[str] = set(self.graph.projects) | set(self.projects)
        elif method == "tag":
            known = {tag for _, node in self._candidates() for tag in _tags(node)}
        elif method == "group":
            known = {str(g) for _, node in self._candidates()
                     if (g := group_of(node))}
        elif method is not None and (method in METHODS or method.startswith("config.")):
            return []
        else:
            known = {node.name for uid, node in self.graph.nodes.items()
                     if method is None or self.graph.owner.get(uid) == method}
        found = close_matches(term.value, known - {term.value})
        return [f"{method}:{name}" if method else name for name in found]

    def _ids(self) -> Iterable[str]:
        yield from self.graph.nodes
        yield from self.graph.sources
        yield from self.graph.exposures

    def _term(self, term: Term) -> set[str]:
        seeds = self._atoms(term)
        result = set(seeds)
        if term.at:
            for uid in seeds:
                below = set(self.graph.downstream(uid))
                result |= below
                for child in below:
                    result |= set(self.graph.upstream(child))
            return result
        if term.up is not None:
            for uid in seeds:
                result |= set(self.graph.upstream(uid, None if term.up < 0 else term.up))
        if term.down is not None:
            for uid in seeds:
                result |= set(self.graph.downstream(uid, None if term.down < 0 else term.down))
        return result

    def _atoms(self, term: Term) -> set[str]:
        method, value = term.method, term.value
        if method is None:
            return self._by_name(None, value)
        if method in METHODS or method.startswith("config."):
            return self._by_method(method, value)
        if method in self.graph.projects or method in self.projects:
            return self._by_name(method, value)
        known = set(self.graph.projects) | self.projects
        close = close_matches(method, known | set(METHODS))
        raise MeshError(f"selector '{term.text}': '{method}' is neither a selector method nor a "
                        "project of the mesh", hint=(f"did you mean '{close[0]}'? " if close else "")
                        + f"projects: {', '.join(sorted(known))}; methods: {', '.join(METHODS)}")

    def _by_name(self, project: str | None, pattern: str) -> set[str]:
        owner = self.graph.owner
        found = set()
        for uid, node in self._candidates():
            if project and owner.get(uid) != project:
                continue
            if project and name_matches(pattern, node, None) or not project and (
                    name_matches(pattern, node, owner.get(uid)) or fqn_matches(pattern, node)):
                found.add(uid)
        return found

    def _by_method(self, method: str, value: str) -> set[str]:
        test = _method_predicate(self, method, value)
        return {uid for uid, node in self._candidates() if test(uid, node)}

    def _candidates(self):
        yield from self.graph.nodes.items()
        yield from self.graph.sources.items()
        yield from self.graph.exposures.items()


def _method_predicate(selector: Selector, method: str, value: str) -> Callable:
    graph = selector.graph
    match = lambda actual: actual is not None and fnmatch.fnmatchcase(str(actual), value)  # noqa: E731
    by_attribute = _attribute_predicate(method, match)
    if by_attribute is not None:
        return by_attribute
    if method in ("project", "package"):
        return lambda uid, node: match(graph.owner.get(uid))
    if method == "path":
        folder = value.rstrip("/")
        # A folder matches the files under it (not models/core_old for models/core), as in dbt.
        return lambda uid, node: node.original_file_path == folder \
            or node.original_file_path.startswith(folder + "/") \
            or fnmatch.fnmatchcase(node.original_file_path, value)
    if method == "fqn":
        return lambda uid, node: fqn_matches(value, node)
    if method == "version":
        return lambda uid, node: node.resource_type == "model" and _version_matches(node, value)
    if method == "state":
        return lambda uid, node: uid in selector.modified
    raise MeshError(f"unknown selector method '{method}'")


def _attribute_predicate(method: str, match: Callable[[object], bool]) -> Callable | None:
    """The methods that match one attribute of a node (group, tag, access, config.…) with
    `match`; None for any other method."""
    if method == "group":
        return lambda uid, node: match(group_of(node))
    if method == "tag":
        return lambda uid, node: any(match(tag) for tag in _tags(node))
    if method == "access":
        return lambda uid, node: node.resource_type == "model" and match(access_of(node))
    if method == "resource_type":
        return lambda uid, node: match(node.resource_type)
    if method == "exposure":
        return lambda uid, node: node.resource_type == "exposure" and match(node.name)
    if method == "materialized":         # governance's older spelling of config.materialized
        return lambda uid, node: match(_config(node, "materialized"))
    if method == "source":
        return lambda uid, node: node.resource_type == "source" and (
            match(node.source_name) or match(f"{node.source_name}.{node.name}"))
    if method.startswith("config."):
        key = method.removeprefix("config.")
        return lambda uid, node: match(_config(node, key))
    return None


def _config(node, key: str):
    config = getattr(node, "config", None)
    return getattr(config, key, None) if config is not None else None


def _tags(node) -> list[str]:
    tags = list(getattr(node, "tags", []) or [])
    configured = _config(node, "tags") or []
    return tags + ([configured] if isinstance(configured, str) else list(configured))


def _version_matches(node, value: str) -> bool:
    if value == LATEST:
        return is_latest(node)
    if value in ("old", "prerelease"):
        if node.version is None or node.latest_version is None:
            return False
        older = version_key(node.version) < version_key(node.latest_version)
        return older if value == "old" else not older and not is_latest(node)
    return version_text(node.version) == value


def fqn_selected(fqn: list[str], selector: str, versioned: bool) -> bool:
    """dbt's fqn method (dbt/graph/selector_methods.py, is_selected_node), as dbt 1.11 has it:
    the leaf name, a dotted prefix of the fqn, or a glob from the first wildcard part on."""
    if versioned:
        if len(fqn) >= 2 and (fqn[-2] == selector
                              or "_".join(fqn[-2:]) == "_".join(selector.split(".")[-2:])):
            return True
    elif fqn[-1] == selector:
        return True
    flat = [item for segment in fqn for item in segment.split(".")]
    parts = selector.split(".")
    if len(flat) < len(parts):
        return False
    for index, part in enumerate(parts):
        if any(w in part for w in "*?[]"):
            if fnmatch.fnmatchcase(".".join(flat[index:]), ".".join(parts[index:])):
                return True
            if "." not in selector:
                return fnmatch.fnmatchcase(fqn[-2] if versioned else fqn[-1], selector)
            return False
        if flat[index] != part:
            return False
    return True
