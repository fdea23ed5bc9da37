"""Stages that place what reads models and builds nothing others read: tests, analyses,
exposures, unit tests and disabled resources. Each follows what it reads."""

from __future__ import annotations

from collections import defaultdict

from meshkit.split.plan import Blocker, folder_home
from meshkit.split.stages.state import Split


def assign_tests_and_analyses(split: Split) -> None:
    """A generic test stays with the resource it tests (a source's travels in the source's
    YAML); a singular test or analysis goes to its group's project, else to the project of the
    most downstream model it reads."""
    for uid, node in split.nodes.items():
        if node.resource_type not in ("analysis", "test") or uid in split.dest:
            continue
        if node.resource_type == "test" and node.test_metadata is not None:
            target = node.attached_node
            if target is not None and split.dest.get(target):
                split.dest[uid] = set(split.dest[target])
            continue
        home = split.home_of(node) or place_by_parents(split, node.depends_on.nodes, node.original_file_path)
        if home is None:
            split.blockers.append(Blocker(f"no project can be chosen for {node.resource_type} "
                                          f"'{node.name}'", file=node.original_file_path,
                                          hint="give it a group"))
            continue
        split.dest[uid] = {home}


def assign_exposures(split: Split) -> None:
    """An exposure goes to the project of the most downstream model it reads."""
    for uid, exposure in split.exposures.items():
        home = place_by_parents(split, exposure.depends_on.nodes, exposure.original_file_path)
        if home:
            split.dest[uid] = {home}


def assign_unit_tests(split: Split) -> None:
    """A unit test goes with the model it tests."""
    for uid, test in split.unit_tests.items():
        model = next((p for p in test.depends_on.nodes if p.startswith("model.")
                      and split.nodes.get(p) is not None and split.nodes[p].name == test.model), None)
        if model and model in split.dest:
            split.dest[uid] = set(split.dest[model])


def seeds_follow_tests(split: Split) -> None:
    """A seed read by a test or analysis is copied into that project too."""
    for uid, node in split.nodes.items():
        if node.resource_type in ("analysis", "test") and uid in split.dest:
            for parent in node.depends_on.nodes:
                if split.kind(parent) == "seed" and parent in split.dest:
                    split.dest[parent] |= split.dest[uid]


def assign_disabled(split: Split) -> None:
    """A disabled resource (other than a seed) goes to its group's or its folder's project."""
    for node in split.disabled:
        if node.unique_id not in split.dest and node.resource_type != "seed":
            home = split.home_of(node) or folder_home(split.source, node.original_file_path,
                                                      split.model_homes_by_file())
            if home:
                split.dest[node.unique_id] = {home}


def place_by_parents(split: Split, parents: list[str], fallback_path: str) -> str | None:
    """The project of the most downstream of these parents (models or snapshots); with none
    placed, the project of the file's folder, or the only project."""
    placed = [p for p in parents if p in split.dest and split.kind(p) in ("model", "snapshot")]
    if not placed:
        placed = [p for p in parents if p in split.dest]
    if not placed:
        return folder_home(split.source, fallback_path, split.model_homes_by_file()) or split.sole_project()
    ancestors = {p: split.ancestors(p) for p in placed}
    sinks = [p for p in placed if not any(p in ancestors[o] for o in placed if o != p)]
    counts: dict[str, int] = defaultdict(int)
    for p in sinks:
        for project in split.dest[p]:
            counts[project] += 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
