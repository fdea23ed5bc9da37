"""Column lineage computed when a project publishes, and stored with the run.

The previous run's entries are reused where a model's compiled SQL and input columns are
unchanged; cross-project refs read the columns their producers' published interfaces list.
"""

from __future__ import annotations

from pathlib import Path

from meshkit.columns.lineage import ProjectLineage
from meshkit.columns.project import project_lineage
from meshkit.config import find_mesh_file, load_mesh
from meshkit.dbt.artifacts import Catalog, Manifest
from meshkit.errors import MeshError
from meshkit.store.resolve import producer_environment
from meshkit.store.store import Store


def lineage_for_publish(store: Store, manifest: Manifest, project: str, env: str,
                        catalog: Catalog | None, project_dir: Path | None) -> ProjectLineage:
    """The run's column lineage; an unreadable earlier run or producer only costs reuse or
    resolution, never the publish."""
    return project_lineage(manifest, project, catalog=catalog, previous=_previous(store, project, env),
                           upstream_columns=_upstream_columns(store, manifest, project, env,
                                                              project_dir))


def _previous(store: Store, project: str, env: str) -> ProjectLineage | None:
    try:
        record = store.latest(project, env)
        return store.column_lineage(record) if record else None
    except MeshError:
        return None


def _upstream_columns(store: Store, manifest: Manifest, project: str, env: str,
                      project_dir: Path | None) -> dict[str, list[str]]:
    """Columns of the upstream public models the manifest holds, by unique id."""
    producers = {n.package_name for n in manifest.nodes.values()
                 if n.resource_type == "model" and not n.original_file_path
                 and n.package_name != project}
    found: dict[str, list[str]] = {}
    for producer in sorted(producers):
        try:
            published = store.interface(producer, _producer_env(producer, env, project_dir, store))
        except MeshError:
            continue
        if published is not None:
            found.update({m.unique_id: m.columns for m in published[1].models if m.columns})
    return found


def _producer_env(producer: str, env: str, project_dir: Path | None, store: Store) -> str:
    """The environment the consumer's mesh reads `producer` from; `env` outside a mesh."""
    file = find_mesh_file(project_dir) if project_dir else None
    try:
        mesh = load_mesh(file) if file else None
        return producer_environment(mesh, mesh.environment(env), producer, store) if mesh else env
    except MeshError:
        return env
