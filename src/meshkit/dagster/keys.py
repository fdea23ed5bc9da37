"""Names in Dagster for the mesh's dbt nodes: asset keys, check names, group names.

A node's asset key is `[project, name]`, the project being the one that builds it (a
package's models belong to the project that installs it); a model version is its own asset,
`[project, name_vN]` as dagster-dbt spells versions. Dagster allows only letters, digits and
`_` in check and group names, so other characters become `_`.
"""

from __future__ import annotations

import re

from dagster import AssetKey

from meshkit.dbt.nodes import group_of
from meshkit.graph.mesh_graph import MeshGraph

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def safe_name(text: str) -> str:
    """`text` as a Dagster name (check, group, job): unsafe characters become `_`."""
    return _UNSAFE.sub("_", text) or "_"


def asset_key(graph: MeshGraph, unique_id: str) -> AssetKey:
    """`AssetKey([project, name])` of a model, seed or snapshot; `name_vN` for a version."""
    node = graph.nodes[unique_id]
    name = f"{node.name}_v{node.version}" if node.version is not None else node.name
    return AssetKey([graph.owner[unique_id], name])


def check_name(graph: MeshGraph, test_id: str) -> str:
    """A dbt test's name as an asset check name (dbt's test names are unique per project)."""
    return safe_name(graph.nodes[test_id].name)


def group_name(graph: MeshGraph, unique_id: str) -> str:
    """The node's dbt group, else its project: Dagster groups every asset somewhere."""
    node = graph.nodes[unique_id]
    return safe_name(group_of(node) or graph.owner[unique_id])
