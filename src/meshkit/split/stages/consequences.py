"""Stages that follow from where everything went: which refs cross projects, which models
must become public (with a contract where catalog.json knows their types), model-level
cycles across projects, and each new project's description."""

from __future__ import annotations

import re
from collections import defaultdict

from meshkit.dbt.artifacts import Node
from meshkit.dbt.nodes import access_of, group_of
from meshkit.graph.cycles import Cycle, cycles, dependency_order
from meshkit.split.plan import (
    Blocker,
    CrossRef,
    NewProject,
    PublicModel,
    Shared,
    node_name,
)
from meshkit.split.refs import find_refs
from meshkit.split.stages.state import Split


def map_model_projects(split: Split) -> None:
    """`plan.model_project`: each placed model's name → its project (enabled ones first)."""
    plan = split.plan
    for uid, node in split.nodes.items():
        if node.resource_type == "model" and uid in split.dest:
            plan.model_project[node.name] = next(iter(split.dest[uid]))
    for node in split.disabled:
        if node.resource_type == "model" and node.unique_id in split.dest:
            plan.model_project.setdefault(node.name, next(iter(split.dest[node.unique_id])))


def find_cross_refs(split: Split) -> None:
    """`plan.cross_refs` and `plan.public`, and `split.upstream` (project → the projects it
    reads); blocks a read of another project's ephemeral model."""
    readers: dict[str, set[str]] = defaultdict(set)
    texts: dict[str, str] = {}
    for uid, kind, parents, file in _referring(split):
        for consumer in sorted(split.dest.get(uid, set())):
            for parent in parents:
                producer = _other_project(split, uid, kind, parent, consumer)
                if producer is None:
                    continue
                pnode = split.nodes[parent]
                line = _ref_line(split, texts, file, pnode.name)
                label = f"{consumer}.{node_name(split.source, uid)}"
                split.plan.cross_refs.append(CrossRef(label, kind, f"{producer}.{pnode.name}", file, line, uid))
                readers[parent].add(label)
                split.upstream[consumer].add(producer)
                if pnode.config.materialized == "ephemeral":
                    split.blockers.append(Blocker(
                        f"{label} reads the ephemeral model {producer}.{pnode.name}; an ephemeral "
                        f"model has no table another project could read", file=file, line=line,
                        hint=f"materialize {pnode.name} as a view or table, or put both in one group"))
    seen_names: set[str] = set()
    for parent in sorted(readers, key=lambda u: split.nodes[u].name):
        node = split.nodes[parent]
        if node.name not in seen_names:
            seen_names.add(node.name)
            split.plan.public.append(public_model(split, node, sorted(readers[parent])))


def _referring(split: Split) -> list[tuple[str, str, list[str], str]]:
    """(unique id, kind, parents, file) of every resource that can ref a model."""
    found = [(uid, n.resource_type, n.depends_on.nodes, n.original_file_path)
             for uid, n in split.nodes.items() if n.resource_type in ("model", "snapshot", "analysis", "test")]
    found += [(uid, "exposure", e.depends_on.nodes, e.original_file_path) for uid, e in split.exposures.items()]
    found += [(uid, "unit_test", t.depends_on.nodes, t.original_file_path) for uid, t in split.unit_tests.items()]
    return found


def _other_project(split: Split, uid: str, kind: str, parent: str, consumer: str) -> str | None:
    """The project of `parent` when it is a placed model of another project than `consumer`
    (a generic test's own model does not count: the test moves with it)."""
    pnode = split.nodes.get(parent)
    if pnode is None or pnode.resource_type != "model" or parent not in split.dest:
        return None
    producer = next(iter(split.dest[parent]))
    if producer == consumer or (kind == "test" and split.nodes[uid].attached_node == parent):
        return None
    return producer


def _ref_line(split: Split, texts: dict[str, str], file: str, name: str) -> int | None:
    if file not in texts:
        try:
            texts[file] = split.source.read(file)
        except OSError:
            texts[file] = ""
    return next((ln for ref, ln in find_refs(texts[file]) if ref is not None and ref.name == name), None)


def public_model(split: Split, node: Node, readers: list[str]) -> PublicModel:
    """What making `node` public takes: its contract as it is, from catalog.json, or why not."""
    yaml_file = node.patch_path.split("://", 1)[-1] if node.patch_path else None
    public = PublicModel(next(iter(split.dest[node.unique_id])), node.name, node.unique_id,
                         access_of(node), "unknown", "", readers=readers, yaml_file=yaml_file)
    if node.config.contract.enforced:
        public.contract, public.detail = "enforced", "has an enforced contract"
    elif node.version is not None:
        public.contract, public.detail = "unknown", "versioned: add the contract to each version by hand"
    elif (node.language or "sql") != "sql":
        public.contract, public.detail = "impossible", "Python models cannot have contracts"
    elif node.config.materialized not in ("table", "view", "incremental", None):
        public.contract, public.detail = "impossible", \
            f"materialized as {node.config.materialized}, which contracts do not support"
    else:
        _contract_from_catalog(split, node, public)
    return public


def _contract_from_catalog(split: Split, node: Node, public: PublicModel) -> None:
    catalog = split.source.catalog
    entry = catalog.nodes.get(node.unique_id) if catalog else None
    if entry is None or not entry.columns:
        public.detail = ("types unknown: catalog.json lacks it (run `dbt docs generate`)"
                         if catalog else "types unknown: no catalog.json "
                         "(run `dbt docs generate` in the project, or pass --catalog)")
        return
    columns = sorted(entry.columns.values(), key=lambda c: c.index)
    known = {c.name.lower() for c in columns}
    stale = [name for name in node.columns if name.lower() not in known]
    if stale:
        public.detail = (f"its YAML documents columns the table lacks ({', '.join(stale)}): "
                         f"fix them, then add the contract")
    else:
        public.contract = "catalog"
        public.columns = [(c.name, c.type.lower()) for c in columns]
        public.detail = f"contract from catalog.json ({len(columns)} columns)"


def check_cycles(split: Split) -> None:
    """A test of one project that reads a model built downstream of the model it tests
    makes that project's build wait for itself: a model-level cycle across projects."""
    edges, through = _waits(split)
    try:
        dependency_order({uid: sorted(parents) for uid, parents in sorted(edges.items())})
    except Cycle as exc:
        cycle = exc.path
        labels = [split.plan.label(u) for u in cycle]
        tests = [f"{through[(a, b)]}" for a, b in zip(cycle, cycle[1:], strict=False) if (a, b) in through]
        test_note = f" (the test {tests[0]} waits for it)" if tests else ""
        node = split.nodes.get(next((a for a, b in zip(cycle, cycle[1:], strict=False) if (a, b) in through), cycle[0]))
        split.blockers.append(Blocker(
            f"the split would create a model-level cycle across projects: {' → '.join(labels)}{test_note}",
            file=next((split.nodes[t].original_file_path for t in split.nodes
                       if split.nodes[t].name in tests[:1]), node.original_file_path if node else None),
            hint="a test may only read another project's models that do not depend on the model "
                 "it tests: move the test into the other project (as a singular test), or put "
                 "these models in one group"))


def _waits(split: Split) -> tuple[dict[str, set[str]], dict[tuple[str, str], str]]:
    """(model or snapshot → what it waits for, (waiting, awaited) → the test adding that wait)."""
    executable = {uid for uid, n in split.nodes.items() if n.resource_type in ("model", "snapshot")
                  and uid in split.dest}
    edges = {uid: {p for p in split.nodes[uid].depends_on.nodes if p in executable} for uid in executable}
    through: dict[tuple[str, str], str] = {}
    for uid, node in split.nodes.items():
        if node.resource_type != "test" or not split.dest.get(uid):
            continue
        project = next(iter(split.dest[uid]))
        parents = [p for p in node.depends_on.nodes if p in executable]
        for p in (p for p in parents if project in split.dest[p]):
            for q in (q for q in parents if project not in split.dest[q]):
                if q not in edges[p]:        # only the waits a test adds, not real refs
                    edges[p].add(q)
                    through[(p, q)] = node.name   # p waits for q
    return edges, through


def describe_projects(split: Split) -> None:
    """`plan.projects`: each new project's groups, owners, counts, upstream projects and use
    of the internal package; and `plan.project_cycles`."""
    plan = split.plan
    projects = sorted({p for uid, d in split.dest.items() if not uid.startswith("macro.") for p in d}
                      | set(split.names.values()))
    for project in projects:
        new = NewProject(project)
        new.groups = _groups(split, project)
        new.owners = [dict(split.source.groups[g]) for g in new.groups if g in split.source.groups]
        counts: dict[str, int] = defaultdict(int)
        for uid, d in split.dest.items():
            if project in d:
                counts[uid.split(".")[0]] += 1
        new.counts = dict(counts)
        new.upstream = sorted(split.upstream.get(project, set()) - {project})
        new.uses_package = any(project in split.macro_users.get(name, set()) for name in plan.package_macros)
        plan.projects[project] = new
    plan.project_cycles = cycles({p: set(n.upstream) for p, n in plan.projects.items()})


def _groups(split: Split, project: str) -> list[str]:
    if split.options.by == "group":
        return sorted(g for g, p in split.names.items() if p == project)
    return sorted({group for u in split.nodes
                   if project in split.dest.get(u, set()) and (group := group_of(split.nodes[u]))})


_SHARED_HOW = {"source": "defined in each", "seed": "copied into each",
               "macro": "copied into each (dbt only finds it in the project it runs)"}


def list_shared(split: Split) -> None:
    """`plan.shared`: sources, seeds and macros copied into several projects, and the macros
    moved into the internal package."""
    plan = split.plan
    for uid, dests in split.dest.items():
        kind = uid.split(".")[0]
        if len(dests) >= 2 and kind in _SHARED_HOW:
            plan.shared.append(Shared(kind, node_name(split.source, uid), sorted(dests), _SHARED_HOW[kind]))
    for name in sorted(plan.package_macros):
        plan.shared.append(Shared("macro", name, [plan.package], "moved to the internal package"))


def warn_staging_public(split: Split) -> None:
    """Warns of staging or intermediate models that become public."""
    for public in split.plan.public:
        if public.becomes_public and re.match(r"^(stg_|base_|int_)", public.name):
            split.warnings.append(f"{public.project}.{public.name} looks like a staging or intermediate "
                                  f"model; other projects read it, so it becomes public. Consider "
                                  f"giving them a mart to read instead")


def check_package_name(split: Split) -> None:
    """Blocks an internal package named like one of the projects."""
    package = split.plan.package
    if package in split.plan.projects:
        split.blockers.append(Blocker(f"the internal package's name '{package}' is also a project's",
                                      hint="choose another with --package NAME"))
