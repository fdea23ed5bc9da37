"""Mesh-wide rules about sources: each table is sourced once, and never a sibling's model."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from meshkit.govern.findings import Violation
from meshkit.govern.registry import rule
from meshkit.govern.view import MeshView, SourceTable
from meshkit.status import Severity


@rule(category="governance", severity=Severity.WARN, applies_to="mesh")
def source_in_several_projects(mesh: MeshView) -> Iterator[Violation]:
    """Two projects declare a source on the same table (one domain should own each input)."""
    projects: dict[str, dict[str, SourceTable]] = defaultdict(dict)
    for table in mesh.sources.values():
        if table.relation:
            projects[table.relation].setdefault(table.project, table)
    for relation, by_project in projects.items():
        if len(by_project) < 2:
            continue
        for project, table in by_project.items():
            others = ", ".join(sorted(p for p in by_project if p != project))
            yield Violation(f"reads {relation}, which project(s) {others} source too: let one "
                            "project own it and publish a model the others ref", table.unique_id,
                            key=relation)


@rule(category="governance", severity=Severity.ERROR, applies_to="source")
def source_is_another_projects_model(source: SourceTable, mesh: MeshView):
    """A source reads a table that another project's model builds (use a cross-project ref)."""
    model = mesh.relation_owner(source.relation)
    if model is not None and model.project != source.project:
        fix = f"{{{{ ref('{model.project}', '{model.name}') }}}}"
        if not model.is_public:
            fix += f" once {model.project} makes it public"
        return (f"reads {model.label}, a model of project {model.project}, as a source: "
                f"use {fix}")
