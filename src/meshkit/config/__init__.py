"""mesh.yml and the project files meshkit reads: schema, loading, errors with file:line."""

from meshkit.config.mesh import Environment, Mesh, Project, find_mesh_file, load_mesh

__all__ = ["Environment", "Mesh", "Project", "find_mesh_file", "load_mesh"]
