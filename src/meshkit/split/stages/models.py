"""Stages that place models: each goes to its group's project, or with `--select` to the new
project or the one keeping the rest; then the checks on what that chose."""

from __future__ import annotations

import re
from collections import defaultdict

from meshkit.dbt.nodes import group_of
from meshkit.split.plan import Blocker, project_name
from meshkit.split.stages.state import Split

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


def refuse_unsupported(split: Split) -> None:
    """Blocks a project that defines functions: split does not move them."""
    own = split.source.name
    mine = sorted(uid.split(".")[-1] for uid in split.source.manifest.functions
                  if uid.split(".")[1:2] == [own])
    if mine:
        split.blockers.append(Blocker(
            f"the project defines functions ({', '.join(mine)}), which meshkit split does not move",
            hint="move them by hand after the split, or remove them before splitting"))


def assign_models(split: Split) -> None:
    """Each model's (enabled or disabled) project; by group also fills `split.names`."""
    if split.options.by == "group":
        _assign_by_group(split)
    else:
        _assign_by_select(split)


def _assign_by_group(split: Split) -> None:
    missing = []
    for node in split.models():
        group = group_of(node)
        if not group:
            if node.unique_id not in split.disabled_ids:
                missing.append(node)
            continue
        project = split.options.names.get(group) or project_name(group)
        split.names[group] = project
        split.dest[node.unique_id] = {project}
    for group in split.options.names:
        if group not in split.source.groups:
            split.blockers.append(Blocker(f"--name {group}=…: the project has no group '{group}'",
                                          hint="groups: " + ", ".join(sorted(split.source.groups))))
    if missing:
        shown = ", ".join(f"{n.name} ({n.original_file_path})" for n in
                          sorted(missing, key=lambda n: n.original_file_path)[:12])
        more = f" and {len(missing) - 12} more" if len(missing) > 12 else ""
        split.blockers.append(Blocker(
            f"{len(missing)} model(s) belong to no group, so no project can be chosen for "
            f"them: {shown}{more}",
            hint="give every model a group first (`+group:` on its folder in "
                 "dbt_project.yml, or `group:` in its YAML); `meshkit groups` lists them"))


def _assign_by_select(split: Split) -> None:
    chosen = _selected(split)
    new, rest = split.options.new_project, split.options.rest or split.source.name
    if new is None:
        split.blockers.append(Blocker("a split by selection needs the new project's name",
                                      hint="name it with --name PROJECT"))
        return
    if not any(split.nodes[u].resource_type == "model" for u in chosen if u in split.nodes):
        split.blockers.append(Blocker("the selection matches no model",
                                      hint="check the --select expression (dbt's syntax)"))
    for node in split.models():
        split.dest[node.unique_id] = {new if node.unique_id in chosen else rest}
    for uid in chosen:
        if split.kind(uid) in ("seed", "snapshot"):
            split.dest[uid] = {new}
    if new == rest:
        split.blockers.append(Blocker(f"the selected models and the rest would both be '{new}'",
                                      hint="name the new project with --name NAME, or the rest with --rest"))


def _selected(split: Split) -> set[str]:
    """The unique ids of the models, seeds and snapshots `--select`/`--exclude` choose."""
    from meshkit.graph.mesh_graph import MeshGraph, ProjectState
    from meshkit.graph.selection import Selector

    graph = MeshGraph()
    graph.add_project(ProjectState(split.source.name, split.source.manifest))
    return set(Selector(graph).select(split.options.select, split.options.exclude,
                                      frozenset({"model", "seed", "snapshot"})))


def check_project_names(split: Split) -> None:
    """Blocks a project name dbt would refuse."""
    for project in split.projects():
        if not _NAME_RE.match(project):
            split.blockers.append(Blocker(f"'{project}' is not a valid dbt project name",
                                          hint="use lower-case letters, digits and underscores"))


def check_versions(split: Split) -> None:
    """Blocks the versions of one model landing in different projects."""
    models = split.models()
    by_name: dict[str, set[str]] = defaultdict(set)
    for node in models:
        if node.unique_id in split.dest:
            by_name[node.name] |= split.dest[node.unique_id]
    for name, projects in sorted(by_name.items()):
        if len(projects) > 1:
            first = next(n for n in models if n.name == name)
            split.blockers.append(Blocker(
                f"the versions of model '{name}' would land in different projects "
                f"({', '.join(sorted(projects))})",
                file=first.patch_path and first.patch_path.split("://")[-1],
                hint="give every version of a model the same group"))


def check_name_collisions(split: Split) -> None:
    """Blocks several groups becoming one project's name."""
    by_project: dict[str, list[str]] = defaultdict(list)
    for group, project in split.names.items():
        by_project[project].append(group)
    for project, groups in by_project.items():
        if len(groups) > 1:
            split.blockers.append(Blocker(
                f"groups {', '.join(sorted(groups))} would all become project '{project}'",
                hint="name them apart with --name GROUP=PROJECT"))
