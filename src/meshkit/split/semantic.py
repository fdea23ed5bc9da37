"""Semantic models, metrics and saved queries in a split: each goes with what it measures.

- A semantic model goes to the project of the model it is defined on (`model: ref('orders')`).
- A metric goes to the project of the semantic models whose measures it uses (a derived or
  ratio metric: of the metrics it is built from). MetricFlow answers a query from one
  project's semantic manifest and joins semantic models through their entities only inside
  it, so a metric whose inputs land in different projects cannot be split: refused, naming it.
- A saved query goes with its metrics, under the same rule.
- dbt refuses to parse a project with semantic models but no time spine at day granularity
  (dbt/contracts/graph/semantic_manifest.py, `metricflow_time_spine` or a model with
  `time_spine:`), so the time spine model is copied into every project that receives
  semantic models. It reads nothing, so each copy builds the same table.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import msgspec

from meshkit.dbt.artifacts import DependsOn

if TYPE_CHECKING:
    from meshkit.split.plan import _Planner

LEGACY_TIME_SPINE = "metricflow_time_spine"     # dbt's LEGACY_TIME_SPINE_MODEL_NAME


class SemanticNode(msgspec.Struct):
    unique_id: str
    name: str
    package_name: str
    original_file_path: str = ""
    depends_on: DependsOn = msgspec.field(default_factory=DependsOn)


def _decode(raw: msgspec.Raw) -> SemanticNode:
    return msgspec.json.decode(raw, type=SemanticNode)


def assign_semantic_layer(planner: "_Planner") -> None:
    """Destinations of the project's semantic models, metrics and saved queries (and copies
    of its time spine), or blockers naming each one that would measure several projects."""
    from meshkit.split.plan import Blocker

    m, own = planner.s.manifest, planner.s.name
    tables = {"semantic model": m.semantic_models, "metric": m.metrics, "saved query": m.saved_queries}
    items = {label: [n for n in map(_decode, table.values()) if n.package_name == own]
             for label, table in tables.items()}
    if not any(items.values()):
        return
    dest = planner.dest
    for label in ("semantic model", "metric", "saved query"):
        pending = list(items[label])
        # Derived metrics read other metrics: place them after their inputs.
        for _ in range(len(pending) + 1):
            waiting = []
            for node in pending:
                inputs = [p for p in node.depends_on.nodes if p.startswith(("model.", "semantic_model.", "metric."))]
                if any(p.startswith("metric.") and p not in dest and p.split(".")[1] == own
                       and any(n.unique_id == p for n in items["metric"]) for p in inputs):
                    waiting.append(node)
                    continue
                projects = {project for p in inputs for project in dest.get(p, set())}
                if len(projects) == 1:
                    dest[node.unique_id] = projects
                elif not projects:
                    home = planner._sole_project()
                    if home:
                        dest[node.unique_id] = {home}
                    else:
                        planner.blockers.append(Blocker(
                            f"{label} '{node.name}' measures nothing the split places",
                            file=node.original_file_path, hint="give the model it measures a group"))
                else:
                    by_project = defaultdict(list)
                    for p in inputs:
                        for project in dest.get(p, set()):
                            by_project[project].append(p.split(".")[-1])
                    parts = "; ".join(f"{p}: {', '.join(sorted(set(n)))}" for p, n in sorted(by_project.items()))
                    planner.blockers.append(Blocker(
                        f"{label} '{node.name}' measures semantic models that would land in different "
                        f"projects ({parts}); MetricFlow answers a {label} from one project's semantic "
                        f"layer", file=node.original_file_path,
                        hint="put the models it measures in one group, or split the "
                             f"{label} into one per project"))
            if not waiting or len(waiting) == len(pending):
                for node in waiting:
                    planner.blockers.append(Blocker(f"{label} '{node.name}' reads metrics that cannot "
                                                    "be placed", file=node.original_file_path))
                break
            pending = waiting
    _copy_time_spines(planner, [n for n in items["semantic model"] if n.unique_id in dest])


def _copy_time_spines(planner: "_Planner", placed: list[SemanticNode]) -> None:
    needing = {p for n in placed for p in planner.dest[n.unique_id]}
    spines = [uid for uid, node in planner.nodes.items() if node.resource_type == "model"
              and (node.name == LEGACY_TIME_SPINE or _has_time_spine(planner, uid))]
    for uid in spines:
        if uid in planner.dest:
            planner.dest[uid] = set(planner.dest[uid]) | needing
            planner.copied_models[planner.nodes[uid].name] = set(planner.dest[uid])


def _has_time_spine(planner: "_Planner", uid: str) -> bool:
    return bool(planner.nodes[uid].time_spine)
