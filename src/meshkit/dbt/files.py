"""The files of a dbt project's folder that dbt may read (not what it writes, nor VCS data)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

_SKIPPED_DIRS = {"target", "logs", ".git", "__pycache__", "node_modules"}


def project_files(project_dir: Path) -> Iterator[Path]:
    """Every file under the project folder but target/, logs/ and hidden ones (installed
    packages included: dbt reads them too)."""
    for folder, dirs, files in os.walk(project_dir, followlinks=True):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and name != "package-lock.yml":
                yield Path(folder) / name


def changed_since(project_dir: Path, moment: float) -> Path | None:
    """A project file modified after `moment` (seconds since the epoch), if there is one."""
    for path in project_files(project_dir):
        try:
            if path.stat().st_mtime > moment:
                return path
        except OSError:
            continue
    return None
