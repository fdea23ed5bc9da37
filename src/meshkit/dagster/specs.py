"""The mesh declared to Dagster: an asset per model version, seed and snapshot of every
project, with the mesh graph's edges (cross-project refs included) as asset dependencies,
and an asset check per dbt test. Nothing here runs dbt (see materialize.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dagster import AssetCheckKey, AssetCheckSpec, AssetKey, AssetSpec

from meshkit.dagster.keys import asset_key, check_name, group_name
from meshkit.dbt.nodes import access_of, owner_of, version_text
from meshkit.graph.mesh_graph import MeshGraph
from meshkit.orchestrate.plan import check_cycles

# Dagster's rule for a tag key (dagster/_utils/tags.py, VALID_TAG_KEY_REGEX, without its
# reserved namespaces): an optional `prefix/` and a name, each 1-63 of these characters.
_TAG_KEY = re.compile(r"^([A-Za-z0-9_.-]{1,63}/)?[A-Za-z0-9_.-]{1,63}$")


@dataclass(frozen=True)
class MeshAssets:
    """The mesh graph with its Dagster names."""

    graph: MeshGraph
    keys: dict[str, AssetKey]           # node unique id → asset key, parents first
    checks: dict[str, AssetCheckKey]    # test unique id → check key


def name_assets(graph: MeshGraph) -> MeshAssets:
    """Asset keys and check keys for the graph's executable nodes and their tests.

    Raises MeshError when models form a cycle across projects (as `meshkit plan` does).
    """
    keys: dict[str, AssetKey] = {}
    taken: set[AssetKey] = set()
    for uid in check_cycles(graph):
        key = asset_key(graph, uid)
        if key in taken:   # a function may share a model's name
            key = AssetKey([*key.path[:-1], f"{key.path[-1]}_{graph.nodes[uid].resource_type}"])
        keys[uid] = key
        taken.add(key)
    checks: dict[str, AssetCheckKey] = {}
    taken_checks: set[AssetCheckKey] = set()
    for uid, node in graph.nodes.items():
        target = _tested_asset(graph, uid, keys) if node.resource_type == "test" else None
        if target is None:
            continue
        check = AssetCheckKey(keys[target], check_name(graph, uid))
        if check in taken_checks:   # the same test name in another project
            check = AssetCheckKey(keys[target], f"{graph.owner[uid]}_{check.name}")
        checks[uid] = check
        taken_checks.add(check)
    return MeshAssets(graph, keys, checks)


def _tested_asset(graph: MeshGraph, test_id: str, keys: dict[str, AssetKey]) -> str | None:
    """The node a test checks: the one dbt attaches it to, else its first parent."""
    attached = graph.nodes[test_id].attached_node
    if attached in keys:
        return attached
    return next((p for p in graph.parents.get(test_id, []) if p in keys), None)


def asset_specs(assets: MeshAssets) -> list[AssetSpec]:
    """One skippable AssetSpec per node (a state-aware build reuses what did not change)."""
    graph = assets.graph
    return [AssetSpec(key, deps=[assets.keys[p] for p in graph.parents.get(uid, [])
                                 if p in assets.keys],
                      description=graph.nodes[uid].description or None,
                      metadata=node_metadata(graph, uid), group_name=group_name(graph, uid),
                      owners=owners(graph, uid), tags=_tags(graph, uid), kinds={"dbt"},
                      skippable=True)
            for uid, key in assets.keys.items()]


def check_specs(assets: MeshAssets) -> list[AssetCheckSpec]:
    """One AssetCheckSpec per dbt test, on the node it tests; its other parents are deps."""
    graph = assets.graph
    specs = []
    for uid, key in assets.checks.items():
        others = [assets.keys[p] for p in graph.parents.get(uid, [])
                  if p in assets.keys and assets.keys[p] != key.asset_key]
        node = graph.nodes[uid]
        specs.append(AssetCheckSpec(key.name, asset=key.asset_key, additional_deps=others,
                                    description=node.description or f"dbt test {node.name}",
                                    metadata={"dbt/unique_id": uid}))
    return specs


def node_metadata(graph: MeshGraph, uid: str) -> dict[str, object]:
    """What Dagster shows of a node: its dbt id, project, access, contract and version."""
    node = graph.nodes[uid]
    metadata: dict[str, object] = {
        "dbt/unique_id": uid, "meshkit/project": graph.owner[uid],
        "dbt/resource_type": node.resource_type,
        "dbt/materialized": node.config.materialized or "",
        "dbt/relation": node.relation_name or "",
    }
    if node.resource_type == "model":
        metadata["dbt/access"] = access_of(node)
        metadata["dbt/contract_enforced"] = node.config.contract.enforced
    if node.version is not None:
        metadata["dbt/version"] = str(version_text(node.version))
        metadata["dbt/latest_version"] = str(version_text(node.latest_version))
    owner = owner_of(node, graph.groups)
    if owner is not None and owner.named:
        metadata["meshkit/owner"] = owner.label
    return metadata


def owners(graph: MeshGraph, uid: str) -> list[str]:
    """meshkit.dbt.nodes' owner in Dagster's terms: their emails, else `team:<name>`."""
    owner = owner_of(graph.nodes[uid], graph.groups)
    if owner is None or not owner.named:
        return []
    emails = [e for e in owner.emails if "@" in e]
    return emails or [f"team:{owner.name}"]


def _tags(graph: MeshGraph, uid: str) -> dict[str, str]:
    """dbt tags as Dagster tags (`{tag: ""}`, as dagster-dbt does); tags Dagster cannot
    hold as a key are left out."""
    node = graph.nodes[uid]
    config_tags = [node.config.tags] if isinstance(node.config.tags, str) else node.config.tags
    return {tag: "" for tag in dict.fromkeys([*node.tags, *config_tags]) if _TAG_KEY.match(tag)}
