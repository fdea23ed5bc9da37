"""The order of a manifest's nodes along their `depends_on` edges."""

from __future__ import annotations

from collections.abc import Mapping

from meshkit.dbt.artifacts import Node


def parents_first(nodes: Mapping[str, Node]) -> list[str]:
    """Unique ids of `nodes` with each after those of its parents that are in `nodes`.

    Iterative (deep DAGs must not hit the recursion limit); nodes on a cycle come last, in
    manifest order."""
    children: dict[str, list[str]] = {uid: [] for uid in nodes}
    pending = dict.fromkeys(nodes, 0)
    for uid, node in nodes.items():
        for parent in set(node.depends_on.nodes):
            if parent in nodes:
                children[parent].append(uid)
                pending[uid] += 1
    ready = [uid for uid, count in pending.items() if count == 0]
    order = []
    while ready:
        uid = ready.pop()
        order.append(uid)
        for child in children[uid]:
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    placed = set(order)
    return order + [uid for uid in nodes if uid not in placed]
