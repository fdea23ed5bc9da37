"""The shape of the mesh itself: how projects depend on each other."""

from __future__ import annotations

from typing import Iterator

from meshkit.govern.findings import Violation
from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView, project_subject
from meshkit.graph.cycles import cycles


@rule(category="structure", severity="warn", applies_to="mesh")
def project_dependency_cycle(mesh: MeshView) -> Iterator[Violation]:
    """Projects depend on each other in a cycle (allowed, but each must build in two passes)."""
    edges: dict[str, set[str]] = {name: set() for name in mesh.projects}
    for parent, child in mesh.graph.cross_project_edges():
        upstream, downstream = mesh.project_of(parent), mesh.project_of(child)
        if upstream in edges and downstream in edges:
            edges[downstream].add(upstream)
    for component in cycles(edges):
        path = " → ".join([*component, component[0]])
        yield Violation(f"projects depend on each other in a cycle: {path}",
                        project_subject(component[0]), key=",".join(component))

