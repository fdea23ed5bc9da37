"""Write a rendered mesh into a new folder: completely, or not at all.

The files are staged beside the destination and renamed into place (meshkit.files.staged). The
destination must not exist yet (or be empty) and must not lie inside the project being split.
"""

from __future__ import annotations

from pathlib import Path

from meshkit.errors import MeshError
from meshkit.files.staged import write_folder
from meshkit.split.render import Rendered


def check_destination(out: Path, source_root: Path) -> Path:
    """The resolved folder to write a split mesh to.

    Raises MeshError when it is inside the project, contains it, or exists and is not empty."""
    out = out.expanduser().resolve()
    source_root = source_root.resolve()
    if out == source_root or source_root in out.parents:
        raise MeshError("the split mesh cannot be written inside the project being split",
                        file=out, hint="choose a folder outside it, e.g. --out ../jaffle-mesh")
    if out in source_root.parents:
        raise MeshError("the split mesh cannot be written into a folder that contains the project",
                        file=out, hint="choose a new, empty folder")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MeshError("the destination already exists and is not empty", file=out,
                        hint="choose a new folder; meshkit never writes over existing files")
    return out


def write_mesh(rendered: Rendered, out: Path, source_root: Path) -> Path:
    """Write the rendered mesh to `out` as a whole or not at all; returns the resolved folder.

    Raises MeshError as check_destination does."""
    out = check_destination(out, source_root)
    write_folder(out, rendered.files)
    return out
