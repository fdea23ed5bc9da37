"""Templates for a new domain project and a new internal package of a mesh.

`meshkit new project NAME` writes a dbt project that builds at once: its models private to its
own group by default, the group with its owner, a dependencies.yml, a profile in the mesh's
style (derived from a project the mesh already has), a first model, and a CI workflow that runs
`meshkit check` and `meshkit diff` on pull requests; then it registers the project in mesh.yml.
`meshkit new package NAME` writes an internal package of macros, registers it under
`packages:` in mesh.yml and installs it in the projects named with `--add-to`.

Templates are package data under templates/: `[[key]]` placeholders (dbt's own `{{ }}` pass
through untouched), `__name__` in a path is the new name, `dot-x` is written as `.x`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from meshkit.errors import MeshError
from meshkit.files.staged import write_folder

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_PLACEHOLDER_RE = re.compile(r"\[\[(\w+)\]\]")


@dataclass
class Created:
    kind: str                      # project | package
    name: str
    path: Path
    mesh_file: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mesh_created: bool = False


def mesh_name(folder: Path) -> str:
    """A mesh name from its folder's name: lowercase letters, digits and dashes ("mesh" if none)."""
    return re.sub(r"[^a-z0-9-]+", "-", folder.name.lower()).strip("-") or "mesh"


def templates() -> Path:
    """The folder of the `meshkit new` templates inside the installed package."""
    return Path(str(resources.files("meshkit.scaffold") / "templates"))


def fill(text: str, values: dict[str, str]) -> str:
    """A template's text with each `[[key]]` replaced by its value; KeyError for a placeholder
    `values` lacks (a fault of the template, not of the user)."""
    def replace(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template placeholder [[{key}]] has no value")
        return values[key]
    return _PLACEHOLDER_RE.sub(replace, text)


def render_tree(kind: str, values: dict[str, str]) -> dict[str, str]:
    """Relative path → text of every file of one template folder."""
    root = templates() / kind
    files = {}
    for path in sorted(root.rglob("*.tmpl")):
        relative = path.relative_to(root).as_posix().removesuffix(".tmpl")
        relative = "/".join(("." + part[4:]) if part.startswith("dot-") else part
                            for part in relative.split("/"))
        relative = relative.replace("__name__", values["name"])
        files[relative] = fill(path.read_text(encoding="utf-8"), values)
    return files


def check_name(name: str, what: str) -> None:
    """Raises MeshError unless `name` is a name dbt accepts for a `what` (project, group,
    package): lower-case letters, digits and underscores, not starting with a digit."""
    if not _NAME_RE.match(name):
        raise MeshError(f"'{name}' is not a valid {what} name",
                        hint="dbt names are lower-case letters, digits and underscores, "
                             "starting with a letter or underscore")


def git_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds `.git`, or None."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def write_new_folder(folder: Path, files: dict[str, str]) -> list[Path]:
    """Write a new folder completely, or not at all (staged, then renamed into place)."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise MeshError("this folder already exists and is not empty", file=folder,
                        hint="choose another name or --path")
    write_folder(folder, {relative: text.encode("utf-8") for relative, text in files.items()})
    return [folder / relative for relative in files]
