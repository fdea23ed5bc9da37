"""The mesh's internal packages, for the catalog: where each lives and who installs it.

They come from mesh.yml and the projects' packages.yml or dependencies.yml, not from the
store: a package of macros builds nothing and publishes no run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from meshkit.catalog.views import PackageView
from meshkit.config import Mesh, local_installs
from meshkit.errors import MeshError

log = logging.getLogger("meshkit.catalog")


def package_views(mesh: Mesh) -> list[PackageView]:
    """The mesh's internal packages by name, each with its folder relative to the mesh and the
    projects that install it (`local:` in packages.yml or dependencies.yml)."""
    installs = {name: _installed(project.path) for name, project in mesh.projects.items()}
    return [PackageView(name, Path(os.path.relpath(package.path, mesh.root)).as_posix(),
                        sorted(p for p, folders in installs.items() if package.path in folders))
            for name, package in sorted(mesh.packages.items())]


def _installed(project_dir: Path) -> set[Path]:
    try:
        return {install.path for install in local_installs(project_dir)}
    except MeshError as exc:
        # A broken packages.yml is dbt's and `meshkit check`'s to report; the catalog still serves.
        log.warning("cannot read the packages of %s: %s", project_dir, exc.render())
        return set()
