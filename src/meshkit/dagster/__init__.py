"""The mesh as Dagster assets (`pip install 'dbt-meshkit[dagster]'`).

    # definitions.py, loaded by `dagster dev -f definitions.py`
    import meshkit.dagster
    defs = meshkit.dagster.definitions("mesh.yml")

Declarations (specs.py, jobs.py) are apart from the process that acts on them
(materialize.py, which runs `meshkit build`, and outcomes.py, which reports what it did).
The store stays the one source of truth for what each project published.
"""

from __future__ import annotations

from pathlib import Path

try:
    import dagster
except ImportError as exc:   # pragma: no cover - the extra is not installed
    from meshkit.errors import MeshError

    raise MeshError(f"meshkit.dagster needs Dagster ({exc})",
                    hint="pip install 'dbt-meshkit[dagster]'") from None

__all__ = ["definitions"]


def definitions(mesh_file: str | Path | None = None, env: str | None = None,
                workers: int = 2) -> "dagster.Definitions":
    """Dagster definitions for a mesh: its assets and checks, and its mesh.yml jobs as
    Dagster jobs, schedules and sensors.

    `mesh_file`: mesh.yml (default: found from the current folder, as the CLI does); `env`:
    the environment to build (default: the mesh's); `workers`: dbt invocations at once.
    Every project is parsed (or read from meshkit's parse cache) when the definitions load.
    Raises MeshError for a mesh.yml, project or model cycle that `meshkit plan` refuses.
    """
    from meshkit.config import load_mesh
    from meshkit.dagster.jobs import job_definitions
    from meshkit.dagster.materialize import mesh_multi_asset
    from meshkit.dagster.specs import name_assets
    from meshkit.orchestrate.build import parse_mesh

    mesh = load_mesh(Path(mesh_file) if mesh_file is not None else None)
    environment = mesh.environment(env).name
    assets = name_assets(parse_mesh(mesh, environment, workers))
    built = mesh_multi_asset(mesh.file, environment, assets, workers)
    jobs, schedules, sensors = job_definitions(mesh, assets, environment)
    return dagster.Definitions(assets=[built], jobs=jobs, schedules=schedules, sensors=sensors)
