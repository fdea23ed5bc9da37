"""The shape of the mesh itself: how projects depend on each other."""

from __future__ import annotations

from typing import Iterator

from meshkit.govern.findings import Violation
from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView, project_subject


@rule(category="structure", severity="warn", applies_to="mesh")
def project_dependency_cycle(mesh: MeshView) -> Iterator[Violation]:
    """Projects depend on each other in a cycle (allowed, but each must build in two passes)."""
    edges: dict[str, set[str]] = {name: set() for name in mesh.projects}
    for parent, child in mesh.graph.cross_project_edges():
        upstream, downstream = mesh.project_of(parent), mesh.project_of(child)
        if upstream in edges and downstream in edges:
            edges[downstream].add(upstream)
    for component in _cycles(edges):
        path = " → ".join([*component, component[0]])
        yield Violation(f"projects depend on each other in a cycle: {path}",
                        project_subject(component[0]), key=",".join(component))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one project (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found
