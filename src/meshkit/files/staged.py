"""A new folder written completely, or not at all.

Every file goes into a hidden staging folder beside the destination, renamed into place once
the last byte is written; any error on the way removes the staging folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Write a new (absent or empty) folder's files into a staging folder beside it, then
    rename that into place; on any error the staging folder goes and nothing else changed."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.meshkit-new-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for relative, data in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if folder.exists():
            folder.rmdir()
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

