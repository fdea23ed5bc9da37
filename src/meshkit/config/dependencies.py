"""A dbt project's dependencies.yml: the upstream projects it declares under `projects:`."""

from __future__ import annotations

from pathlib import Path

import msgspec

from meshkit.config.yamlfile import convert, line_of, read_yaml
from meshkit.errors import MeshError


class _ProjectRef(msgspec.Struct, forbid_unknown_fields=True):
    name: str


def declared_projects(project_dir: Path) -> list[str]:
    """`projects:` of dependencies.yml (dbt-core itself ignores that key).

    Raises MeshError with file:line for invalid YAML or a `projects:` that is not a list of
    `- name: PROJECT` entries (dbt Cloud's shape).
    """
    path = project_dir / "dependencies.yml"
    if not path.is_file():
        return []
    doc = read_yaml(path)
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise MeshError("expected a mapping with `projects:` and/or `packages:`", file=path, line=1)
    entries = doc.get("projects")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise MeshError("`projects:` must be a list of `- name: PROJECT` entries", file=path,
                        line=line_of(doc, "$.projects"),
                        hint="write it as `projects:\\n  - name: analytics`")
    names = []
    for index, entry in enumerate(entries):
        at = f"$.projects[{index}]"
        if not isinstance(entry, dict) or "name" not in entry:
            raise MeshError("each entry of `projects:` needs a `name:`", file=path,
                            line=line_of(doc, at), hint="write it as `projects:\\n  - name: analytics`")
        names.append(convert(entry, _ProjectRef, file=path, doc=doc, at=at).name)
    return names
