"""Who owns any node of a mesh graph by id: models, seeds and snapshots by meshkit.dbt.nodes'
order (group owner, else `meta.owner`), exposures by their own `owner:`."""

from __future__ import annotations

from meshkit.dbt.nodes import Owner, exposure_owner
from meshkit.dbt.nodes import owner_of as owner_of_node


def owner_of(graph, unique_id: str) -> Owner | None:
    """The owner of a graph's node or exposure by unique id; None when no one is named or the
    id is unknown."""
    node = graph.nodes.get(unique_id)
    if node is not None:
        return owner_of_node(node, graph.groups)
    exposure = graph.exposures.get(unique_id)
    if exposure is not None:
        return exposure_owner(exposure.owner)
    return None
