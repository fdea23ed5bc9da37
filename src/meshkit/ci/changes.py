"""What a pull request changed, against what production last published, and what it reaches.

A node is modified when its fingerprint (code, config, columns, relation and the macros it
calls: orchestrate.fingerprint) differs from the one in its project's latest production
manifest in the store, or production has no such node. A changed test counts as a change to
the models it tests. Everything downstream of a modified node, in every project, is reached;
projects nothing reaches do not run.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from meshkit.graph.mesh_graph import MeshGraph
from meshkit.graph.selection import EXECUTABLE


class Why(enum.Enum):
    """Why a node is built in the PR."""

    NEW = "new"                  # production has no such node
    MODIFIED = "modified"        # its code, config or interface changed
    TEST_MODIFIED = "test_modified"   # a test of it changed
    DOWNSTREAM = "downstream"    # it reads a node built in the PR

    @property
    def text(self) -> str:
        return {"new": "new", "modified": "code or config changed",
                "test_modified": "a test of it changed",
                "downstream": "downstream of a change"}[self.value]


@dataclass
class Changes:
    """`reached`: executable node → why it is built, parents before children; `projects`:
    the projects with a node to build, in first-reached order."""

    reached: dict[str, Why] = field(default_factory=dict)
    projects: list[str] = field(default_factory=list)

    @property
    def modified(self) -> list[str]:
        return [uid for uid, why in self.reached.items() if why is not Why.DOWNSTREAM]

    @property
    def empty(self) -> bool:
        return not self.reached


def find_changes(graph: MeshGraph, order: list[str], current: dict[str, str],
                 production: dict[str, str]) -> Changes:
    """`order`: executable nodes, parents first (plan.check_cycles); `current` and
    `production`: unique_id → fingerprint of the working copies and of production."""
    why: dict[str, Why] = {}
    for uid, fingerprint in current.items():
        node = graph.nodes.get(uid)
        if node is None or fingerprint == production.get(uid):
            continue
        if node.resource_type in EXECUTABLE:
            why[uid] = Why.NEW if uid not in production else Why.MODIFIED
        elif node.resource_type == "test":
            for parent in graph.parents.get(uid, []):
                if graph.owner.get(parent) == graph.owner[uid] and parent in graph.nodes \
                        and graph.nodes[parent].resource_type in EXECUTABLE:
                    why.setdefault(parent, Why.TEST_MODIFIED)
    changes = Changes()
    for uid in order:
        if uid in why:
            changes.reached[uid] = why[uid]
        elif any(p in changes.reached for p in graph.parents.get(uid, [])):
            changes.reached[uid] = Why.DOWNSTREAM
    for uid in changes.reached:
        if graph.owner[uid] not in changes.projects:
            changes.projects.append(graph.owner[uid])
    return changes
