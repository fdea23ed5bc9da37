"""Source data signals: when did each tracked source last load, per `dbt source freshness`.

Only sources with a `loaded_at_field` and a freshness rule can say when their data changed;
the others are not tracked (a model reading them is rebuilt for its other reasons only).
"""

from __future__ import annotations

import time
from pathlib import Path

from meshkit.config import Mesh
from meshkit.config.dbt_vars import NO_VARS, DbtVars
from meshkit.dbt.artifacts import decode_source_freshness
from meshkit.dbt.runner import run_dbt
from meshkit.errors import MeshError
from meshkit.graph.mesh_graph import MeshGraph


def tracked_sources(graph: MeshGraph, nodes: list[str]) -> dict[str, list[str]]:
    """project → its tracked sources that the given nodes read."""
    found: dict[str, list[str]] = {}
    for uid in nodes:
        for parent in graph.parents.get(uid, []):
            source = graph.sources.get(parent)
            if source and source.loaded_at_field and source.freshness and (
                    source.freshness.warn_after or source.freshness.error_after):
                project = graph.owner[parent]
                if parent not in found.setdefault(project, []):
                    found[project].append(parent)
    return found


def source_loaded_at(mesh: Mesh, graph: MeshGraph, nodes: list[str], target: str,
                     dbt_env: dict[str, str], on_line=None,
                     dbt_vars: DbtVars = NO_VARS) -> dict[str, str]:
    """source id → max_loaded_at, by running `dbt source freshness` where sources are tracked
    (with the build's --vars: a source's freshness rule may read one)."""
    loaded: dict[str, str] = {}
    for project, sources in tracked_sources(graph, nodes).items():
        folder = mesh.project(project).path
        output = Path("target") / "meshkit_sources.json"
        selectors = [f"source:{graph.sources[s].source_name}.{graph.sources[s].name}" for s in sources]
        echo = (lambda line, p=project: on_line(p, line)) if on_line else None
        started = time.time()
        run_dbt(["source", "freshness", "--target", target, "--output", str(output),
                 "--select", *selectors, *dbt_vars.args], folder, dbt_env, echo)
        path = folder / output
        if not path.is_file() or path.stat().st_mtime < started - 1:
            raise MeshError(f"`dbt source freshness` did not report on project '{project}'",
                            file=folder / "dbt_project.yml",
                            hint="run it by hand to see why, or remove loaded_at_field")
        for result in decode_source_freshness(path.read_bytes(), source=str(path)).results:
            if result.max_loaded_at:
                loaded[result.unique_id] = result.max_loaded_at
    return loaded
