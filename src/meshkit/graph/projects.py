"""The project-level graph: which mesh project declares which upstream projects."""

from __future__ import annotations

from meshkit.config import Mesh
from meshkit.config.dependencies import declared_projects
from meshkit.errors import MeshError
from meshkit.graph.cycles import Cycle, dependency_order


def project_dependencies(mesh: Mesh) -> dict[str, list[str]]:
    """Each mesh project → the projects its dependencies.yml lists (mesh or hybrid)."""
    return {name: declared_projects(project.path) for name, project in mesh.projects.items()}


def build_order(mesh: Mesh) -> list[str]:
    """Mesh projects with every upstream before its consumers."""
    deps = project_dependencies(mesh)
    graph = {name: [d for d in upstream if d in mesh.projects] for name, upstream in deps.items()}
    try:
        return dependency_order(graph)
    except Cycle as exc:
        raise MeshError(f"projects depend on each other in a cycle: {exc}", file=mesh.file,
                        hint="build one side with --project first, or break the cycle") from None


def downstream_of(mesh: Mesh, project: str) -> set[str]:
    """Every mesh project that depends on `project`, directly or not."""
    deps = project_dependencies(mesh)
    found: set[str] = set()
    frontier = [project]
    while frontier:
        current = frontier.pop()
        for name, upstream in deps.items():
            if current in upstream and name not in found:
                found.add(name)
                frontier.append(name)
    return found
