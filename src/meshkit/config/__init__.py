"""mesh.yml and the project files meshkit reads: schema, loading, errors with file:line."""

from meshkit.config.mesh import (
    Environment,
    LocalInstall,
    Mesh,
    Package,
    Project,
    find_mesh_file,
    load_mesh,
    local_installs,
)

__all__ = ["Environment", "LocalInstall", "Mesh", "Package", "Project", "find_mesh_file",
           "load_mesh", "local_installs"]
