"""The "package hack": a mesh project installed as a dbt package inside another mesh project.

Before a mesh, teams share models by installing one project in another (`local: ../core` in
packages.yml). Inside a mesh that breaks silently: the installing project builds the other
project's models as its own package nodes, into its own schema or database, so the same node
ids run twice, both runs report "success", and the real project's tables are overwritten or
never read. `meshkit build` refuses such a mesh and `meshkit check` reports it; `meshkit
connect` turns it into cross-project refs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from meshkit.config.mesh import Mesh, dbt_project_name, local_installs
from meshkit.errors import MeshError


@dataclass(frozen=True)
class ProjectInstall:
    """`project` installs the mesh project `installed` as a package, at `file`:`line`."""

    project: str
    installed: str
    file: Path
    line: int | None
    how: str            # "local: ../core", or "package-lock.yml" for a git or hub install

    def message(self) -> str:
        return (f"project '{self.project}' installs the mesh project '{self.installed}' as a "
                f"package ({self.how}): its models would be built twice, once as "
                f"'{self.project}' package nodes, and '{self.project}' would read those copies "
                f"instead of '{self.installed}'s tables")

    @property
    def hint(self) -> str:
        return ("`meshkit connect plan` shows how to turn it into cross-project refs "
                f"(ref('{self.installed}', 'model')); `meshkit connect apply` does it")


def projects_installed_as_packages(mesh: Mesh) -> list[ProjectInstall]:
    """Every package install of one mesh project inside another, in mesh.yml's order.

    Local installs are matched by folder; git and hub installs by the package name dbt
    recorded in the project's package-lock.yml (dbt ≥ 1.7 writes `name:` per package).
    """
    by_path = {p.path.resolve(): name for name, p in mesh.projects.items()}
    found: list[ProjectInstall] = []
    for name, project in mesh.projects.items():
        seen: set[str] = set()
        for install in local_installs(project.path):
            target = by_path.get(install.path)
            if target is not None and target != name:
                relative = _relative(install.path, project.path)
                found.append(ProjectInstall(name, target, install.file, install.line, f"local: {relative}"))
                seen.add(target)
        for package in _locked_names(project.path):
            if package in mesh.projects and package != name and package not in seen:
                found.append(ProjectInstall(name, package, project.path / "package-lock.yml", None,
                                            "package-lock.yml"))
    return found


def installed_package_names(project_dir: Path) -> set[str]:
    """Names of the dbt projects a project installs (local folders and locked git/hub names)."""
    names = {dbt_project_name(i.path) for i in local_installs(project_dir)
             if (i.path / "dbt_project.yml").is_file()}
    return {n for n in names if n} | set(_locked_names(project_dir))


def refuse_package_hack(mesh: Mesh) -> None:
    """Raise MeshError for the first package hack of the mesh (all of them in the message)."""
    installs = projects_installed_as_packages(mesh)
    if not installs:
        return
    first = installs[0]
    more = "".join(f"\n  also: {i.file}:{i.line or 1}: {i.message()}" for i in installs[1:])
    raise MeshError(first.message() + more, file=first.file, line=first.line, hint=first.hint)


def _locked_names(project_dir: Path) -> list[str]:
    path = project_dir / "package-lock.yml"
    if not path.is_file():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return []          # dbt deps rewrites it; a damaged lock file is dbt's to report
    entries = doc.get("packages") if isinstance(doc, dict) else None
    return [str(e["name"]) for e in entries or [] if isinstance(e, dict) and "name" in e
            and "local" not in e]


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()
