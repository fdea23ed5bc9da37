"""Internal packages: what the mesh's projects share is registered in mesh.yml, like they are."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from meshkit.config import local_installs
from meshkit.config.mesh import dbt_project_name
from meshkit.config.package_hack import projects_installed_as_packages
from meshkit.govern.findings import Violation
from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView, project_subject
from meshkit.status import Severity


@rule(category="structure", severity=Severity.WARN, applies_to="mesh")
def unregistered_internal_package(mesh: MeshView) -> Iterator[Violation]:
    """A project installs a package from inside the mesh that mesh.yml does not register."""
    config = mesh.config
    if config is None:
        return
    known = {p.path for p in config.packages.values()} | {p.path for p in config.projects.values()}
    for name in sorted(set(mesh.projects) & set(config.projects)):
        project_dir = config.projects[name].path
        for install in local_installs(project_dir):
            folder = install.path
            if folder in known or not folder.is_relative_to(config.root) \
                    or not (folder / "dbt_project.yml").is_file():
                continue
            relative = folder.relative_to(config.root).as_posix()
            yield Violation(f"installs the internal package {relative}, which mesh.yml does not "
                            f"register: add `{dbt_project_name(folder)}: {relative}` under "
                            f"packages: in mesh.yml", project_subject(name), key=relative,
                            file=_relative(install.file, config.root), line=install.line)


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


@rule(category="structure", severity=Severity.ERROR, applies_to="mesh")
def project_installed_as_package(mesh: MeshView) -> Iterator[Violation]:
    """A mesh project installs another mesh project as a dbt package (the "package hack")."""
    if mesh.config is None:
        return
    for install in projects_installed_as_packages(mesh.config):
        if install.project not in mesh.projects:
            continue
        yield Violation(f"{install.message()}; `meshkit connect apply` turns it into "
                        f"cross-project refs", project_subject(install.project), key=install.installed,
                        file=_relative(install.file, mesh.config.root), line=install.line)
