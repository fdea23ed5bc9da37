"""The shape of the mesh itself: how projects depend on each other."""

from __future__ import annotations

from typing import Iterator

from meshkit.govern.findings import Violation
from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView, project_subject
from meshkit.graph.cycles import Cycle, cycles, dependency_order
from meshkit.graph.selection import EXECUTABLE
from meshkit.status import Severity


@rule(category="structure", severity=Severity.WARN, applies_to="mesh")
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



@rule(category="structure", severity=Severity.ERROR, applies_to="mesh")
def model_dependency_cycle(mesh: MeshView) -> Iterator[Violation]:
    """Models of several projects depend on each other in a cycle (`meshkit build` refuses it)."""
    nodes = mesh.graph.nodes
    upstream = {uid: [p for p in mesh.parents(uid) if p in nodes
                      and nodes[p].resource_type in EXECUTABLE]
                for uid, node in nodes.items() if node.resource_type in EXECUTABLE}
    for component in cycles(upstream):
        members = set(component)
        try:        # one path through the cycle, for the message
            dependency_order({uid: [p for p in upstream[uid] if p in members] for uid in component})
            path = [*component, component[0]]
        except Cycle as exc:
            path = exc.path
        subject = next((uid for uid in path if uid in mesh.models), component[0])
        yield Violation("models depend on each other across projects: "
                        + " → ".join(mesh.label(uid) for uid in path)
                        + " (a model reads itself through another project): move one of these refs",
                        subject, key=",".join(component))
