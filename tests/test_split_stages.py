"""Each stage of the split planner alone, on plain data: the input/output pairs of
tests/fixtures/split_stages/cases.yml (a small manifest in, the stage's decisions out)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from meshkit.dbt.artifacts import ProjectManifest
from meshkit.split import stages
from meshkit.split.plan import NewProject, PublicModel, SplitOptions
from meshkit.split.source import SourceProject
from meshkit.split.stages.state import Split

CASES = yaml.safe_load((Path(__file__).parent / "fixtures/split_stages/cases.yml").read_text())
PROJECT = "shop"
_FOLDERS = {"model": "models", "seed": "seeds", "test": "tests", "snapshot": "snapshots", "macro": "macros"}


def _node(uid: str, spec: dict) -> dict:
    kind = uid.split(".")[0]
    name = spec.get("name", uid.split(".")[2] if kind != "unit_test" else uid.split(".")[-1])
    node = {"unique_id": uid, "resource_type": kind, "package_name": PROJECT, "name": name,
            "fqn": [PROJECT, name],
            "original_file_path": spec.get("file", f"{_FOLDERS.get(kind, kind)}/{name}.sql"),
            "depends_on": {"nodes": spec.get("depends_on", []), "macros": spec.get("macros", [])},
            "config": {"group": spec.get("group"), "materialized": spec.get("materialized")}}
    for key in ("version", "patch_path", "attached_node", "database", "model"):
        if key in spec:
            node[key] = spec[key]
    if spec.get("generic"):
        node["test_metadata"] = {"name": "not_null"}
    return node


def _source(uid: str, spec: dict) -> dict:
    _, _, source_name, name = uid.split(".")
    return {"unique_id": uid, "package_name": PROJECT, "source_name": source_name, "name": name,
            "database": spec.get("database"), "schema": spec.get("schema"),
            "original_file_path": spec.get("file", "")}


def _macro(uid: str, spec: dict) -> dict:
    return {"unique_id": uid, "package_name": PROJECT, "name": uid.split(".")[-1],
            "macro_sql": spec.get("sql", ""), "depends_on": {"macros": spec.get("depends_on", [])}}


def _manifest(case: dict) -> ProjectManifest:
    data = {
        "metadata": {"adapter_type": "duckdb"},
        "nodes": {uid: _node(uid, s) for uid, s in (case.get("nodes") or {}).items()},
        "disabled": {uid: [_node(uid, s)] for uid, s in (case.get("disabled") or {}).items()},
        "sources": {uid: _source(uid, s) for uid, s in (case.get("sources") or {}).items()},
        "exposures": {uid: {"unique_id": uid, "package_name": PROJECT, "name": uid.split(".")[-1],
                            "depends_on": {"nodes": s.get("depends_on", [])}}
                      for uid, s in (case.get("exposures") or {}).items()},
        "unit_tests": {uid: _node(uid, s) for uid, s in (case.get("unit_tests") or {}).items()},
        "macros": {uid: _macro(uid, s) for uid, s in (case.get("macros") or {}).items()},
        "functions": {uid: _node(uid, {}) for uid in case.get("functions", [])},
    }
    for table in ("semantic_models", "metrics"):
        data[table] = {uid: _node(uid, s) for uid, s in (case.get(table) or {}).items()}
    return msgspec.json.decode(msgspec.json.encode(data), type=ProjectManifest)


def _split(case: dict, tmp_path: Path) -> Split:
    paths = {kind: [folder] for kind, folder in _FOLDERS.items()}
    source = SourceProject(root=tmp_path, name=PROJECT, manifest=_manifest(case), config={}, config_text="",
                           groups={g: {"name": f"{g} team"} for g in case.get("groups", [])}, paths=paths)
    options = dict(case.get("options") or {})
    for key in ("select", "exclude"):
        if key in options:
            options[key] = tuple(options[key])
    split = Split(source, SplitOptions(**options))
    split.dest.update({uid: set(projects) for uid, projects in (case.get("dest") or {}).items()})
    split.names.update(case.get("names") or {})
    split.upstream.update({p: set(u) for p, u in (case.get("upstream") or {}).items()})
    split.plan.projects.update({p: NewProject(p) for p in case.get("projects", [])})
    split.plan.public += [PublicModel("core", name, f"model.{PROJECT}.{name}", "protected", "unknown", "")
                          for name in case.get("public", [])]
    return split


def _check_messages(found: list, expected: list[str]) -> None:
    texts = [getattr(item, "message", item) for item in found]
    assert len(texts) == len(expected), texts
    for text, part in zip(texts, expected, strict=True):
        assert part in text


def _project_facts(plan) -> dict:
    return {name: {"upstream": p.upstream, "counts": p.counts} for name, p in plan.projects.items()}


_PLAN_FACTS = {
    "package_macros": lambda plan: sorted(plan.package_macros),
    "model_project": lambda plan: plan.model_project,
    "copied_models": lambda plan: {k: sorted(v) for k, v in plan.copied_models.items()},
    "cross_refs": lambda plan: [[r.consumer, r.producer] for r in plan.cross_refs],
    "public": lambda plan: [[p.name, p.contract] for p in plan.public],
    "shared": lambda plan: [[s.kind, s.name, s.how] for s in plan.shared],
    "projects": _project_facts,
}


def test_every_stage_has_a_fixture_case():
    assert {stage.__name__ for stage in stages.STAGES} == {case["stage"] for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['stage']}-{c.get('about', '')[:40]}")
def test_stage(case, tmp_path):
    split = _split(case, tmp_path)
    stage = next(s for s in stages.STAGES if s.__name__ == case["stage"])
    stage(split)
    expect = case["expect"]
    if "dest" in expect:
        assert {uid: sorted(p) for uid, p in split.dest.items()} == \
            {uid: sorted(p) for uid, p in expect["dest"].items()}
    if "names" in expect:
        assert split.names == expect["names"]
    if "upstream" in expect:
        assert {p: sorted(u) for p, u in split.upstream.items()} == expect["upstream"]
    for key, read in _PLAN_FACTS.items():
        if key in expect:
            assert read(split.plan) == expect[key]
    _check_messages(split.blockers, expect.get("blockers", []))
    _check_messages(split.warnings, expect.get("warnings", []))
