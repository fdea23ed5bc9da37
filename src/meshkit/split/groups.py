"""`meshkit groups`: one project seen as the mesh it could become.

The first step of the adoption path: every model in a group, each group a future project.
The report lists the models of each group, the refs from one group to another (those become
cross-project refs, and their targets public, when the project is split) and the models that
belong to no group yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshkit.dbt.nodes import access_of, group_of, label
from meshkit.split.source import SourceProject


@dataclass
class GroupInfo:
    name: str
    owner: dict[str, Any]
    models: list[dict[str, str]] = field(default_factory=list)     # name, access, file


@dataclass
class GroupRef:
    consumer: str           # group.model
    producer: str           # group.model
    access: str             # the producer's access today
    file: str

    @property
    def note(self) -> str:
        if self.access == "public":
            return "public: ready to cross projects"
        if self.access == "private":
            return "private: dbt refuses this ref"
        return "protected: becomes public when the groups are split"


@dataclass
class GroupsReport:
    project: str
    groups: list[GroupInfo]
    ungrouped: list[dict[str, str]]
    refs: list[GroupRef]

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "groups": [{"name": g.name, "owner": g.owner, "models": g.models} for g in self.groups],
            "ungrouped": self.ungrouped,
            "cross_group_refs": [{"from": r.consumer, "to": r.producer, "access": r.access,
                                  "file": r.file, "note": r.note} for r in self.refs],
        }


def groups_report(source: SourceProject) -> GroupsReport:
    """The project's groups with their owners and models (name, access, file), and the models
    in no group: what `meshkit groups` shows before a split by group."""
    own = source.name
    models = {uid: n for uid, n in source.manifest.nodes.items()
              if n.package_name == own and n.resource_type == "model"}
    by_group: dict[str, GroupInfo] = {name: GroupInfo(name, dict(owner))
                                      for name, owner in sorted(source.groups.items())}
    ungrouped = []
    for node in sorted(models.values(), key=lambda n: (n.name, str(n.version))):
        entry = {"name": label(node.name, node.version),
                 "access": access_of(node), "file": node.original_file_path}
        group = group_of(node)
        if group is None:
            ungrouped.append(entry)
        else:
            by_group.setdefault(group, GroupInfo(group, {})).models.append(entry)
    refs = []
    for node in models.values():
        group = group_of(node)
        for parent in node.depends_on.nodes:
            target = models.get(parent)
            if target is None or group is None:
                continue
            target_group = group_of(target)
            if target_group is None or target_group == group:
                continue
            refs.append(GroupRef(f"{group}.{node.name}", f"{target_group}.{target.name}",
                                 access_of(target), node.original_file_path))
    refs.sort(key=lambda r: (r.producer, r.consumer))
    return GroupsReport(own, list(by_group.values()), ungrouped, refs)
