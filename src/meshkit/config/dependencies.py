"""A dbt project's dependencies.yml: the upstream projects it declares under `projects:`."""

from __future__ import annotations

from pathlib import Path

import yaml

from meshkit.errors import MeshError


def declared_projects(project_dir: Path) -> list[str]:
    """`projects:` of dependencies.yml (dbt-core itself ignores that key)."""
    path = project_dir / "dependencies.yml"
    if not path.is_file():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise MeshError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=path,
                        line=mark.line + 1 if mark else None) from None
    entries = doc.get("projects") or [] if isinstance(doc, dict) else []
    names = []
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise MeshError("each entry of 'projects:' needs a 'name:'", file=path,
                            hint="write it as `projects:\\n  - name: analytics`")
        names.append(name)
    return names
