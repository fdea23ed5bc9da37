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

import msgspec

from meshkit.dbt.artifacts import DependsOn
from meshkit.split.plan import Blocker
from meshkit.split.stages.state import Split

LEGACY_TIME_SPINE = "metricflow_time_spine"     # dbt's LEGACY_TIME_SPINE_MODEL_NAME
_LABELS = ("semantic model", "metric", "saved query")


class SemanticNode(msgspec.Struct):
    unique_id: str
    name: str
    package_name: str
    original_file_path: str = ""
    depends_on: DependsOn = msgspec.field(default_factory=DependsOn)


def _decode(raw: msgspec.Raw) -> SemanticNode:
    return msgspec.json.decode(raw, type=SemanticNode)


def assign_semantic_layer(split: Split) -> None:
    """Destinations of the project's semantic models, metrics and saved queries (and copies
    of its time spine), or blockers naming each one that would measure several projects."""
    m, own = split.source.manifest, split.source.name
    tables = dict(zip(_LABELS, (m.semantic_models, m.metrics, m.saved_queries), strict=True))
    items = {label: [n for n in map(_decode, table.values()) if n.package_name == own]
             for label, table in tables.items()}
    if not any(items.values()):
        return
    metric_ids = {n.unique_id for n in items["metric"]}
    for label in _LABELS:
        pending = list(items[label])
        # Derived metrics read other metrics: place them after their inputs.
        for _ in range(len(pending) + 1):
            waiting = []
            for node in pending:
                if _waits_for_metric(split, node, metric_ids):
                    waiting.append(node)
                else:
                    _place(split, label, node)
            if not waiting or len(waiting) == len(pending):
                for node in waiting:
                    split.blockers.append(Blocker(f"{label} '{node.name}' reads metrics that cannot "
                                                  "be placed", file=node.original_file_path))
                break
            pending = waiting
    _copy_time_spines(split, [n for n in items["semantic model"] if n.unique_id in split.dest])


def _inputs(node: SemanticNode) -> list[str]:
    return [p for p in node.depends_on.nodes if p.startswith(("model.", "semantic_model.", "metric."))]


def _waits_for_metric(split: Split, node: SemanticNode, metric_ids: set[str]) -> bool:
    """Whether `node` reads one of the project's metrics not placed yet."""
    return any(p.startswith("metric.") and p not in split.dest and p.split(".")[1] == split.source.name
               and p in metric_ids for p in _inputs(node))


def _place(split: Split, label: str, node: SemanticNode) -> None:
    """`node` goes to the one project of what it measures; else a blocker names why not."""
    inputs = _inputs(node)
    projects = {project for p in inputs for project in split.dest.get(p, set())}
    if len(projects) == 1:
        split.dest[node.unique_id] = projects
    elif not projects:
        home = split.sole_project()
        if home:
            split.dest[node.unique_id] = {home}
        else:
            split.blockers.append(Blocker(
                f"{label} '{node.name}' measures nothing the split places",
                file=node.original_file_path, hint="give the model it measures a group"))
    else:
        by_project = defaultdict(list)
        for p in inputs:
            for project in split.dest.get(p, set()):
                by_project[project].append(p.split(".")[-1])
        parts = "; ".join(f"{p}: {', '.join(sorted(set(n)))}" for p, n in sorted(by_project.items()))
        split.blockers.append(Blocker(
            f"{label} '{node.name}' measures semantic models that would land in different "
            f"projects ({parts}); MetricFlow answers a {label} from one project's semantic "
            f"layer", file=node.original_file_path,
            hint="put the models it measures in one group, or split the "
                 f"{label} into one per project"))


def _copy_time_spines(split: Split, placed: list[SemanticNode]) -> None:
    needing = {p for n in placed for p in split.dest[n.unique_id]}
    spines = [uid for uid, node in split.nodes.items() if node.resource_type == "model"
              and (node.name == LEGACY_TIME_SPINE or node.time_spine)]
    for uid in spines:
        if uid in split.dest:
            split.dest[uid] = set(split.dest[uid]) | needing
            split.copied_models[split.nodes[uid].name] = set(split.dest[uid])
