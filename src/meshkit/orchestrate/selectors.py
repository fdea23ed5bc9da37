"""The `--select` arguments of one dbt invocation: few, because each one costs time.

dbt matches every selector against every node of the project, so a unit of 300 models
named one by one spends seconds selecting before it runs anything. A folder (an fqn prefix)
whose every buildable node is in the unit is named once instead: a cold build of a whole
project needs a handful of selectors.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from meshkit.graph.mesh_graph import MeshGraph
from meshkit.graph.selection import EXECUTABLE

# A one-part prefix (`fqn:finance`) would also match any node whose name is `finance`.
_SHORTEST_PREFIX = 2


def node_selector(node) -> str:
    """A dbt selector naming exactly this node: `fqn:` and its fqn, else its name."""
    return "fqn:" + ".".join(node.fqn) if node.fqn else node.name


def unit_selectors(graph: MeshGraph, project: str, uids: Iterable[str]) -> list[str]:
    """Selectors matching exactly these executable nodes of `project` (tests aside)."""
    chosen = list(uids)
    wanted = set(chosen)
    total: Counter[tuple[str, ...]] = Counter()
    picked: Counter[tuple[str, ...]] = Counter()
    for uid, node in graph.nodes.items():
        if graph.owner.get(uid) != project or node.resource_type not in EXECUTABLE:
            continue
        for prefix in _prefixes(node.fqn):
            total[prefix] += 1
            picked[prefix] += uid in wanted
    selectors: list[str] = []
    for uid in chosen:
        node = graph.nodes[uid]
        if node.resource_type not in EXECUTABLE:
            selectors.append(node_selector(node))
            continue
        whole = next((p for p in _prefixes(node.fqn) if picked[p] == total[p]
                      and (total[p] > 1 or len(p) == len(node.fqn))), None)
        selectors.append("fqn:" + ".".join(whole) if whole else node_selector(node))
    return list(dict.fromkeys(selectors))


def _prefixes(fqn: list[str]) -> list[tuple[str, ...]]:
    """The folders of an fqn, outermost first, then the node itself."""
    return [tuple(fqn[:i]) for i in range(_SHORTEST_PREFIX, len(fqn) + 1)]
